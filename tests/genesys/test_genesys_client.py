"""GenesysClient._request, step by step (pace -> send -> classify -> back off), without sockets or waiting:
scripted answers through httpx.MockTransport and a FakeTime that records every sleep."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from genesys_kit import FakeTime

from factories import Highest
from gcevents.adapters.genesys import GenesysClient, GenesysSettings
from gcevents.errors import RateLimitedError, TransientError

TOKEN = {"access_token": "t-1", "token_type": "bearer", "expires_in": 86399}
OK = (200, {"id": "c-1"}, {})


class Script:
    """Answers the token endpoint, then API calls from a list of (status, body, headers) or exceptions."""

    def __init__(self, *answers: tuple[int, dict[str, Any], dict[str, str]] | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            return httpx.Response(200, json=TOKEN)
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        status, body, headers = answer
        return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


@pytest.fixture
def scripted(fake_time: FakeTime) -> Iterator[Callable[..., tuple[GenesysClient, Script]]]:
    clients: list[GenesysClient] = []

    def make(*answers: Any, rng: random.Random | None = None, **settings: Any) -> tuple[GenesysClient, Script]:
        script = Script(*answers)
        options = {"backoff_base": 1.0, "backoff_cap": 4.0, "rate_per_minute": 60_000, **settings}
        client = GenesysClient(
            GenesysSettings.for_base_url("https://api.test", client_id="id", client_secret="secret", **options),
            transport=httpx.MockTransport(script),
            clock=fake_time.time,
            monotonic=fake_time.monotonic,
            sleep=fake_time.sleep,
            rng=rng or Highest(),
        )
        clients.append(client)
        return client, script

    yield make
    for client in clients:
        client.close()


def test_5xx_is_retried_with_full_jitter_backoff_then_given_up(
    scripted: Callable[..., tuple[GenesysClient, Script]], fake_time: FakeTime
) -> None:
    client, script = scripted((503, {}, {"Retry-After": "7"}), max_retries=3)
    with pytest.raises(TransientError, match="HTTP 503") as caught:
        client.conversation("c-1", deadline=fake_time.time() + 60)
    assert len(script.requests) == 4  # one try and three retries
    assert fake_time.slept == [1.0, 2.0, 4.0]  # ceilings min(cap, base * 2**attempt), capped at 4
    assert caught.value.retry_after == 7.0  # the server's hint travels on, for the SQS visibility
    assert client.stats.snapshot()["retries"] == 3
    assert client.stats.snapshot()["server_errors"] == 4


def test_backoff_draws_are_jittered_below_their_ceilings(
    scripted: Callable[..., tuple[GenesysClient, Script]], fake_time: FakeTime
) -> None:
    for seed in range(20):
        client, _ = scripted((502, {}, {}), (502, {}, {}), OK, rng=random.Random(seed), max_retries=5)
        assert client.conversation("c-1", deadline=fake_time.time() + 60) == {"id": "c-1"}
    firsts, seconds = fake_time.slept[0::2], fake_time.slept[1::2]
    assert len(firsts) == len(seconds) == 20
    assert all(0 <= s <= 1.0 for s in firsts)
    assert all(0 <= s <= 2.0 for s in seconds)
    assert len(set(fake_time.slept)) == 40  # drawn, not a fixed schedule


def test_a_backoff_that_would_end_past_the_deadline_is_not_slept(
    scripted: Callable[..., tuple[GenesysClient, Script]], fake_time: FakeTime
) -> None:
    client, script = scripted((503, {}, {}), max_retries=5)
    with pytest.raises(TransientError, match="503"):
        client.conversation("c-1", deadline=fake_time.time() + 2.5)
    assert fake_time.slept == [1.0]  # the next one (2 s) would end after the deadline
    assert len(script.requests) == 2


def test_timeouts_and_connection_errors_are_retried(
    scripted: Callable[..., tuple[GenesysClient, Script]], fake_time: FakeTime
) -> None:
    client, script = scripted(httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), OK, max_retries=3)
    assert client.conversation("c-1", deadline=fake_time.time() + 60) == {"id": "c-1"}
    assert len(script.requests) == 3
    assert client.stats.snapshot()["transport_errors"] == 2
    assert client.stats.snapshot()["retries"] == 2


def test_timeouts_are_cut_to_what_is_left_of_the_deadline(
    scripted: Callable[..., tuple[GenesysClient, Script]], fake_time: FakeTime
) -> None:
    client, script = scripted(OK, read_timeout=10.0, connect_timeout=3.0)
    client.conversation("c-1", deadline=fake_time.time() + 0.5)
    client.conversation("c-2", deadline=fake_time.time() + 60)
    first, second = (request.extensions["timeout"] for request in script.requests)
    assert first["read"] == pytest.approx(0.5)
    assert first["connect"] == pytest.approx(0.5)
    assert (second["read"], second["connect"]) == (10.0, 3.0)


def test_429_waits_out_retry_after_in_the_limiter_when_it_fits(
    scripted: Callable[..., tuple[GenesysClient, Script]], fake_time: FakeTime
) -> None:
    client, script = scripted((429, {"code": "too.many.requests"}, {"Retry-After": "30"}), OK, max_wait=40)
    assert client.conversation("c-1", deadline=fake_time.time() + 60) == {"id": "c-1"}
    assert len(script.requests) == 2
    assert fake_time.elapsed == pytest.approx(30, abs=0.1)  # the limiter held the next call back
    assert client.stats.rate_limited == 1
    assert client.stats.snapshot()["rate_limit_wait_seconds"] == pytest.approx(30, abs=0.1)


@pytest.mark.parametrize(
    ("deadline", "max_wait", "max_retries"),
    [(20, 40, 3), (60, 20, 3), (60, 40, 0)],
    ids=["past-the-deadline", "longer-than-max-wait", "no-retry-left"],
)
def test_429_is_handed_back_with_its_hint_when_waiting_does_not_fit(
    scripted: Callable[..., tuple[GenesysClient, Script]],
    fake_time: FakeTime,
    deadline: float,
    max_wait: float,
    max_retries: int,
) -> None:
    client, script = scripted((429, {}, {"Retry-After": "30"}), max_wait=max_wait, max_retries=max_retries)
    with pytest.raises(RateLimitedError) as caught:
        client.conversation("c-1", deadline=fake_time.time() + deadline)
    assert caught.value.retry_after == 30.0
    assert len(script.requests) == 1
    assert fake_time.elapsed == 0  # nothing slept: the record goes back to the queue instead
    assert client.stats.snapshot()["gave_up_rate_limited"] == 1


def test_429s_and_5xx_share_one_retry_budget(
    scripted: Callable[..., tuple[GenesysClient, Script]], fake_time: FakeTime
) -> None:
    limited = (429, {}, {"Retry-After": "1"})
    client, script = scripted(limited, (503, {}, {}), limited, OK, max_retries=2)
    with pytest.raises(RateLimitedError):
        client.conversation("c-1", deadline=fake_time.time() + 60)
    assert len(script.requests) == 3  # 429 (retry 1), 503 (retry 2), 429: the budget is spent
    assert fake_time.slept[1] == 2.0  # the 503's backoff counts the 429 before it: base * 2**1


def test_other_statuses_come_back_to_the_caller_without_retry(
    scripted: Callable[..., tuple[GenesysClient, Script]], fake_time: FakeTime
) -> None:
    client, script = scripted((404, {}, {}))
    assert client.conversation("c-1", deadline=fake_time.time() + 60) is None
    assert len(script.requests) == 1
    assert fake_time.slept == []
