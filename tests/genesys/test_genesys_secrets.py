"""Nothing a server says during the auth exchange (or any API answer) carries our secrets
into errors, logs or dead letters.

A token endpoint or proxy that echoes the request's `Authorization` header, in every field it sends back, is the
worst case: unredacted, `base64(client_id:secret)` reached the GenesysAuthError message, the logs, the retry reasons
and the dead letters. Socket-free: an `httpx.MockTransport` plays the hostile server."""

from __future__ import annotations

import base64
import json
import logging
import random
import time
import urllib.parse
from collections.abc import Callable

import httpx
import pytest
from genesys_kit import FakeTime

from factories import make_event
from gcevents.adapters.genesys import GenesysClient, GenesysEnricher, GenesysSettings, Secret
from gcevents.core.events import RawRecord
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import Pipeline, PipelineSettings
from gcevents.core.router import Router
from gcevents.testing.fakes import MemoryDeadLetterSink, MemoryIdempotencyStore

CLIENT_ID = "gc-client"
SECRET = "s3cr3t/+value~with?odd=chars"  # base64 and its URL-safe form differ for these bytes
TOKEN = "bearer-token-0123456789abcdef"


def forbidden() -> list[str]:
    basic = f"{CLIENT_ID}:{SECRET}".encode()
    forms = [base64.b64encode(basic), base64.urlsafe_b64encode(basic)]
    return [
        SECRET,
        TOKEN,
        urllib.parse.quote(SECRET, safe=""),
        *(f.decode() for f in forms),
        *(f.decode().rstrip("=") for f in forms),
    ]


def echoing(token_status: int, api_status: int) -> Callable[[httpx.Request], httpx.Response]:
    """Every field of every answer repeats the request's Authorization header (and its form body)."""

    def answer(request: httpx.Request) -> httpx.Response:
        header = request.headers.get("authorization", "")
        echo = f"{header} {request.content.decode()} {header.split(' ')[-1]}"
        fields = {
            "error": echo,
            "error_description": echo,
            "message": echo,
            "code": echo,
            "status": echo,
            "contextId": echo,
            "details": [{"errorCode": echo}],
        }
        headers = {"WWW-Authenticate": f'Basic realm="{echo}"', "X-Echo": header, "Retry-After": "0"}
        if request.url.path.endswith("/oauth/token"):
            if token_status == 200:
                return httpx.Response(200, json={"access_token": TOKEN, "token_type": "bearer", "expires_in": 86399})
            if token_status == 299:  # "200" whose body is not JSON: the echo as plain text
                return httpx.Response(200, text=echo, headers=headers)
            return httpx.Response(token_status, json=fields, headers=headers)
        return httpx.Response(api_status, json=fields, headers=headers)

    return answer


def client_for(handler: Callable[[httpx.Request], httpx.Response], fake: FakeTime) -> GenesysClient:
    settings = GenesysSettings(
        api_base_url="https://api.example.test",
        login_base_url="https://login.example.test",
        client_id=CLIENT_ID,
        client_secret=Secret(SECRET),
        max_retries=1,
        backoff_base=0.001,
        backoff_cap=0.002,
        max_wait=1.0,
    )
    return GenesysClient(
        settings,
        transport=httpx.MockTransport(handler),
        clock=fake.time,
        monotonic=fake.monotonic,
        sleep=fake.sleep,
        rng=random.Random(0),
    )


def texts_of(error: BaseException) -> list[str]:
    found: list[str] = []
    seen: BaseException | None = error
    while seen is not None:
        found += [str(seen), repr(seen), *map(str, seen.args)]
        seen = seen.__cause__ or seen.__context__
    return found


SCENARIOS = [(t, 200) for t in (400, 401, 403, 429, 500, 503, 299)] + [(200, a) for a in (400, 401, 403, 413, 500)]


@pytest.mark.parametrize(("token_status", "api_status"), SCENARIOS)
def test_an_echoing_server_cannot_make_us_repeat_a_secret(
    token_status: int, api_status: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(echoing(token_status, api_status), FakeTime(wall=time.time()))
    texts: list[str] = []
    for call in (lambda: client.conversation("c-1"), lambda: client.conversation_details_bulk(["c-1", "c-2"])):
        try:
            call()
        except Exception as exc:
            texts += texts_of(exc)
    # The pipeline's own record of it: retry reasons (logged by every runner) and dead letters.
    router = Router()
    router.add("*", lambda event, ctx: ctx.services["genesys"].conversation(event.conversation_id))
    sink = MemoryDeadLetterSink()
    pipeline = Pipeline(
        idempotency=Idempotency(MemoryIdempotencyStore(), concurrency=1),
        dead_letters=sink,
        router=router,
        enricher=GenesysEnricher(client),
        services={"genesys": client},
        settings=PipelineSettings(deadline_margin=0.0, handler_concurrency=1),
    )
    records = [RawRecord(json.dumps(make_event(kind, "c-1"))) for kind in ("customer.end", "customer.start")]
    report = pipeline.run(records, time.time() + 30)
    texts += [r.reason or "" for r in report.results]
    texts += [f"{x.reason} {x.message}" for x in sink.letters]
    texts += [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    assert any(texts), "expected some failure text to check"

    leaks = [(value, text) for text in texts for value in forbidden() if value in text]
    assert leaks == []


def test_a_plain_oauth_error_code_is_still_reported() -> None:
    """The whitelist keeps what an operator needs: the OAuth `error` code, when it has the shape of one."""

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": "invalid_client", "error_description": "bad creds " + SECRET})

    with pytest.raises(Exception, match="invalid_client") as caught:
        client_for(answer, FakeTime(wall=time.time())).conversation("c-1")
    assert SECRET not in str(caught.value)


def test_api_errors_keep_a_safe_code_and_a_redacted_message() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": TOKEN, "expires_in": 86399})
        return httpx.Response(400, json={"code": "bad.request", "message": f"id c-1 unknown; you sent Bearer {TOKEN}"})

    with pytest.raises(Exception, match=r"bad\.request") as caught:
        client_for(answer, FakeTime(wall=time.time())).conversation("c-1")
    assert "id c-1 unknown" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_prose_about_basic_auth_is_not_redacted() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": TOKEN, "expires_in": 86399})
        return httpx.Response(400, json={"code": "bad.request", "message": "basic validation failed for c-1"})

    with pytest.raises(Exception, match="basic validation failed for c-1"):
        client_for(answer, FakeTime(wall=time.time())).conversation("c-1")
