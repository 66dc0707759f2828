"""Several OAuth clients ("lanes") stay apart: exact, socket-free exchanges over httpx.MockTransport and
FakeTime, so each test says precisely which token a request carried and what the client made of the answer."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from genesys_kit import FakeTime

from gcevents.adapters.genesys import GenesysAuthError, GenesysClient, GenesysSettings
from gcevents.adapters.genesys.client import GenesysRequestError
from gcevents.errors import RateLimitedError

SECRETS = {"client-a": "secret-of-a-0123456789", "client-b": "secret-of-b-9876543210"}
Handler = Callable[[str, str, httpx.Request], httpx.Response]  # (client id of the token, token, request)


class Server:
    """Tokens `token-<client>-<n>-...`, one per token request; `api` answers every API call."""

    def __init__(self, api: Handler) -> None:
        self.api = api
        self.issued: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()  # client id -> API calls
        self.limit = 0  # client.credentials.token.rate.per.minute (0: the limits API answers 404)
        self.limit_reads = 0
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            client_id, _, secret = base64.b64decode(request.headers["Authorization"].split()[1]).decode().partition(":")
            if SECRETS.get(client_id) != secret:
                return httpx.Response(401, json={"error": "invalid_client"})
            with self._lock:
                self.issued[client_id] += 1
                token = f"token-{client_id}-{self.issued[client_id]:04d}-abcdefghijklmnop"
            return httpx.Response(200, json={"access_token": token, "expires_in": 86400})
        if request.url.path.startswith("/api/v2/organizations/limits"):
            self.limit_reads += 1
            if not self.limit or not request.url.path.endswith("platform.api"):
                return httpx.Response(404, json={})
            key = "client.credentials.token.rate.per.minute"
            return httpx.Response(
                200, json={"entities": [{"key": key, "namespace": "platform.api", "value": self.limit}]}
            )
        token = request.headers["Authorization"].split()[1]
        client_id = token.split("-", 1)[1].rsplit("-", 2)[0]
        with self._lock:
            self.calls[client_id] += 1
        return self.api(client_id, token, request)


def make(api: Handler, fake_time: FakeTime, **options: Any) -> tuple[GenesysClient, Server]:
    server = Server(api)
    settings = GenesysSettings.for_base_url(
        "https://genesys.test",
        client_id="client-a",
        client_secret=json.dumps(SECRETS),
        client_ids=("client-a", "client-b"),
        **{"rate_per_minute": 6000, "max_retries": 0, **options},
    )
    client = GenesysClient(
        settings,
        transport=httpx.MockTransport(server),
        clock=fake_time.time,
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
    )
    return client, server


def test_a_token_of_one_client_stays_redacted_however_often_another_client_renews(fake_time: FakeTime) -> None:
    """Client a's tokens are refused (401: a renewal per call); client b's one token must stay known as a secret,
    so a server echoing it in an error body never puts it in an exception."""
    tokens_b: list[str] = []

    def api(client_id: str, token: str, request: httpx.Request) -> httpx.Response:
        if client_id == "client-a":
            return httpx.Response(401, json={"code": "bad.credentials"})
        tokens_b.append(token)
        if request.url.path.endswith("/echo"):
            return httpx.Response(400, json={"code": "bad.request", "message": f"token {token} is not allowed here"})
        return httpx.Response(200, json={})

    client, server = make(api, fake_time)
    for _ in range(20):  # alternating lanes: ten renewals of a's token, b's fetched once
        with contextlib.suppress(GenesysAuthError):
            client.conversation("c-1")
    assert server.issued["client-b"] == 1
    assert server.issued["client-a"] > 6
    messages = []
    for _ in range(4):
        try:
            client.conversation("echo")
        except (GenesysRequestError, GenesysAuthError) as exc:
            messages.append(str(exc))
    assert any("400" in m for m in messages)
    assert not [m for m in messages if tokens_b[0] in m], messages


def test_every_lane_rate_limited_hands_back_the_soonest_wait(fake_time: FakeTime) -> None:
    """Both tokens answered 429 with Retry-After 30 (beyond max_wait 20): one retry on the other lane, then the
    work is handed back with a retry_after of about 30 s (not 0: no lane is free)."""

    def api(client_id: str, token: str, request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "30"}, json={})

    client, server = make(api, fake_time, max_retries=3, max_wait=20.0)
    with pytest.raises(RateLimitedError) as caught:
        client.conversation("c-1")
    assert server.calls == {"client-a": 1, "client-b": 1}
    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 30


def test_a_429_on_one_lane_retries_at_once_on_the_free_one(fake_time: FakeTime) -> None:
    def api(client_id: str, token: str, request: httpx.Request) -> httpx.Response:
        if client_id == "client-a":
            return httpx.Response(429, headers={"Retry-After": "60"}, json={})
        return httpx.Response(200, json={"id": "c-1"})

    client, server = make(api, fake_time, max_retries=1, max_wait=20.0)
    started = fake_time.monotonic()
    assert client.conversation("c-1") == {"id": "c-1"}
    assert fake_time.monotonic() - started < 1.0
    # While a is held for 60 s, every call goes to b without waiting for a.
    for _ in range(5):
        assert client.conversation("c-1") == {"id": "c-1"}
    assert server.calls["client-a"] == 1
    assert fake_time.monotonic() - started < 5.0


def test_the_limits_read_every_15_minutes_apply_to_every_lane(fake_time: FakeTime) -> None:
    client, server = make(lambda cid, token, request: httpx.Response(200, json={}), fake_time, rate_per_minute=None)
    server.limit = 600
    for _ in range(4):
        client.conversation("c-1")
    assert server.calls == {"client-a": 2, "client-b": 2}
    reads = server.limit_reads
    assert reads >= 1
    assert [lane.limiter.limit_per_minute for lane in client.lanes] == [600, 600]  # type: ignore[attr-defined]
    server.limit = 1200
    fake_time.sleep(10 * 60)
    client.conversation("c-1")
    assert server.limit_reads == reads  # not due yet
    fake_time.sleep(6 * 60)
    for _ in range(2):
        client.conversation("c-1")
    assert server.limit_reads == 2 * reads  # read once for both lanes
    assert [lane.limiter.limit_per_minute for lane in client.lanes] == [1200, 1200]  # type: ignore[attr-defined]
    assert client.budget()["limit_per_minute"] == 1200
