"""Several OAuth clients in one deployment (GENESYS_CLIENT_ID=a,b,...): the configuration, calls spread over one
token per client, each token paced on its own, a 401 renewing one token only, and nothing secret shown.

Socket-free: the simulator in-process and one FakeTime, so minutes of pacing take a fraction of a second (one test
runs the enricher's threads on real sockets, in the slow tier)."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from genesys_kit import REAL_HTTP, FakeTime

from gcevents.adapters.genesys import (
    GenesysAuthError,
    GenesysClient,
    GenesysEnricher,
    GenesysSettings,
    Secret,
    clear_secret_cache,
)
from gcevents.adapters.genesys import auth as auth_module
from gcevents.adapters.genesys.auth import resolve_client_secret
from gcevents.adapters.genesys.limiter import AdaptiveLimiter, SharedLimiter
from gcevents.adapters.genesys.settings import secret_for
from gcevents.config import genesys_settings_from_env
from gcevents.errors import ConfigError
from gcevents.testing.fakes import MemoryPermitBucket
from gcevents.testing.genesys import GenesysSimulator

BASE = {"GENESYS_CLIENT_ID": "client-1", "GENESYS_CLIENT_SECRET": "s3cr3t-value", "GENESYS_REGION": "mypurecloud.ie"}
SECRETS = {"client-a": "secret-of-a-0123456789", "client-b": "secret-of-b-9876543210"}
DETAILS = "GET /api/v2/analytics/conversations/{id}/details"


def _settings(env: dict[str, str]) -> GenesysSettings:
    settings = genesys_settings_from_env({**BASE, **env})
    assert settings is not None
    return settings


# ------------------------------------------------------------------------------------------------ configuration
def test_one_client_id_is_configured_as_before() -> None:
    settings = _settings({"GENESYS_CLIENT_SECRET": '{"client-1": "not parsed"}'})
    assert (settings.client_id, settings.client_ids, settings.several_clients) == ("client-1", ("client-1",), False)
    # One client's GENESYS_CLIENT_SECRET is taken as given, even when it looks like JSON.
    assert resolve_client_secret(settings) == Secret('{"client-1": "not parsed"}')
    assert "client_ids" not in repr(GenesysClient(settings))


@pytest.mark.parametrize("document", [SECRETS, {"clients": SECRETS}], ids=["flat", "nested"])
def test_several_client_ids_take_their_secrets_from_a_json_map(document: dict[str, Any]) -> None:
    settings = _settings({"GENESYS_CLIENT_ID": " client-a , client-b ", "GENESYS_CLIENT_SECRET": json.dumps(document)})
    assert (settings.client_id, settings.client_ids, settings.several_clients) == (
        "client-a",
        ("client-a", "client-b"),
        True,
    )
    for client_id, secret in SECRETS.items():
        assert resolve_client_secret(settings, client_id) == Secret(secret)
    assert resolve_client_secret(settings) == Secret(SECRETS["client-a"])  # the first client by default


@pytest.mark.parametrize(
    ("secret", "message"),
    [
        (json.dumps(SECRETS), "no secret for client id 'client-c'"),
        (json.dumps({"clients": {"client-a": SECRETS["client-a"]}}), "no secret for client id 'client-b'"),
        (json.dumps({**SECRETS, "client-c": ""}), "no secret for client id 'client-c'"),
        ("secret-of-a-0123456789", "must be a JSON object of client id -> secret"),
        ('{"client-a": "secret-of-a-0123456789", broken', "must be a JSON object"),
    ],
)
def test_a_client_without_a_secret_is_a_config_error_naming_it_not_the_secret(secret: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        _settings({"GENESYS_CLIENT_ID": "client-a,client-b,client-c", "GENESYS_CLIENT_SECRET": secret})
    for value in SECRETS.values():
        assert value not in str(caught.value)
        assert value not in repr(caught.value)


@pytest.mark.parametrize(
    ("client_ids", "message"), [("client-a,,client-b", "empty entry"), ("client-a,client-a", "twice")]
)
def test_malformed_client_id_lists_are_refused(client_ids: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _settings({"GENESYS_CLIENT_ID": client_ids, "GENESYS_CLIENT_SECRET": json.dumps(SECRETS)})


def test_secret_text_forms() -> None:
    one = {"several": False, "source": "secret arn:x"}
    assert secret_for(" plain ", "a", **one) == Secret("plain")  # type: ignore[arg-type]
    assert secret_for('{"client_secret": "s1"}', "a", **one) == Secret("s1")  # type: ignore[arg-type]
    assert secret_for('{"clientSecret": "s2"}', "a", **one) == Secret("s2")  # type: ignore[arg-type]
    assert secret_for('{"clients": {"a": "s3"}}', "a", **one) == Secret("s3")  # type: ignore[arg-type]
    assert secret_for("{not json", "a", **one) == Secret("{not json")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="JSON without a client_secret key"):
        secret_for('{"other": "s4"}', "a", **one)  # type: ignore[arg-type]
    several = {"several": True, "source": "secret arn:x"}
    assert secret_for('{"a": "s5", "b": "s6"}', "b", **several) == Secret("s6")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="secret arn:x has no secret for client id 'c'") as caught:
        secret_for('{"a": "s5", "b": "s6"}', "c", **several)  # type: ignore[arg-type]
    assert "s5" not in str(caught.value)


def test_secrets_manager_holds_every_client_and_is_read_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[str] = []

    def read(arn: str) -> Secret:
        reads.append(arn)
        return Secret(json.dumps({"clients": SECRETS}))

    monkeypatch.setattr(auth_module, "_read_secrets_manager", read)
    clear_secret_cache()
    try:
        arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:genesys"
        settings = _settings(
            {"GENESYS_CLIENT_ID": "client-a,client-b", "GENESYS_CLIENT_SECRET": "", "GENESYS_CLIENT_SECRET_ARN": arn}
        )
        assert [resolve_client_secret(settings, cid) for cid in SECRETS] == [Secret(s) for s in SECRETS.values()]
        assert reads == [arn]
        missing = _settings(
            {"GENESYS_CLIENT_ID": "client-a,client-z", "GENESYS_CLIENT_SECRET": "", "GENESYS_CLIENT_SECRET_ARN": arn}
        )
        with pytest.raises(ConfigError, match=f"secret {arn} has no secret for client id 'client-z'"):
            resolve_client_secret(missing, "client-z")
    finally:
        clear_secret_cache()


# ------------------------------------------------------------------------------------------------ spreading calls
def _with_clients(make_simulator: Callable[..., GenesysSimulator], count: int, **options: Any) -> GenesysSimulator:
    """A simulator whose org has `count` OAuth clients (`gcevents-sim` and client-1 ...)."""
    extra = tuple((f"client-{n}", f"secret-of-client-{n}-0123456789") for n in range(1, count))
    return make_simulator(extra_clients=extra, **options)


def test_calls_are_spread_over_one_token_per_client(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient]
) -> None:
    simulator = _with_clients(make_simulator, 3)
    client = make_client(simulator)  # static pacing, fast: every lane has a permit, so they take turns
    for index in range(30):
        assert client.conversation_details(f"c-{index}") is not None
    stats = simulator.stats()
    assert stats["tokens_per_client"] == {"gcevents-sim": 1, "client-1": 1, "client-2": 1}
    assert stats["calls_per_token"] == {"gcevents-sim#1": 10, "client-1#1": 10, "client-2#1": 10}
    by_client = client.stats.by_client()
    assert {cid: counts["tokens_fetched"] for cid, counts in by_client.items()} == dict.fromkeys(by_client, 1)
    assert {cid: counts["api_calls"] for cid, counts in by_client.items()} == dict.fromkeys(by_client, 11)  # + token
    snapshot = client.stats.snapshot()
    assert (snapshot["api_calls"], snapshot["tokens_fetched"], snapshot["client.client-2.api_calls"]) == (33, 3, 11)
    budget = client.budget()
    assert budget["clients"] == 3
    assert budget["pace_per_minute"] == pytest.approx(3 * 60_000)
    assert [lane.client_id for lane in client.lanes] == ["gcevents-sim", "client-1", "client-2"]


def _sustained_per_minute(client: GenesysClient, fake_time: FakeTime, minutes: float) -> float:
    """Calls one caller gets answered per minute, after a minute of warm-up (AIMD reaching its ceiling)."""
    deadline = 120.0  # seconds, of fake time: no call waits that long

    def run_for(seconds: float) -> int:
        answered, end = 0, fake_time.elapsed + seconds
        while fake_time.elapsed < end:
            assert client.conversation("c-1", deadline=fake_time.time() + deadline) is not None
            answered += 1
        return answered

    run_for(60.0)
    return run_for(minutes * 60.0) / minutes


@pytest.mark.parametrize("scope", ["token", "client"])
def test_two_clients_sustain_twice_the_rate_of_one_without_429s(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    fake_time: FakeTime,
    scope: str,
) -> None:
    rates = []
    for count in (1, 2):
        simulator = _with_clients(make_simulator, count, rate_limit_per_minute=120, rate_limit_scope=scope)
        client = make_client(simulator, rate_per_minute=None)  # adaptive: the limits API, then AIMD per token
        rates.append(_sustained_per_minute(client, fake_time, minutes=3))
        assert simulator.stats()["rate_limited"] == 0
        assert len(simulator.stats()["tokens_per_client"]) == count
        assert all(isinstance(lane.limiter, AdaptiveLimiter) for lane in client.lanes)
    one, two = rates
    assert 110 <= one <= 120  # the ceiling: 120 less a burst of 2
    assert two == pytest.approx(2 * one, rel=0.05)


def test_a_429_on_one_token_sends_the_retry_to_another(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    http_to: Callable[[GenesysSimulator], httpx.Client],
    fake_time: FakeTime,
) -> None:
    # Each token may make 3 calls a minute, and someone else spends the first client's: its 429 holds that lane for
    # Retry-After (a minute), and the retry goes out at once on the other token instead of waiting.
    simulator = _with_clients(make_simulator, 2, rate_limit_per_minute=3)
    client = make_client(simulator, max_wait=5.0)
    for index in range(2):  # one call on each token, in turn
        assert client.conversation(f"warm-{index}") is not None
    first_token = simulator.issued_tokens()[0]
    for _ in range(2):
        http_to(simulator).get("/api/v2/conversations/x", headers={"Authorization": f"Bearer {first_token}"})
    for index in range(2):
        assert client.conversation(f"c-{index}", deadline=fake_time.time() + 5) is not None
    assert simulator.stats()["rate_limited"] == 1
    assert fake_time.elapsed < 1.0
    assert simulator.stats()["calls_per_token"] == {"gcevents-sim#1": 4, "client-1#1": 3}
    assert client.stats.by_client()["gcevents-sim"]["rate_limited"] == 1


def test_a_401_renews_only_that_clients_token(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient]
) -> None:
    simulator = _with_clients(make_simulator, 2)
    client = make_client(simulator)
    for index in range(4):
        assert client.conversation(f"warm-{index}") is not None
    simulator.revoke_tokens("client-1")
    for index in range(6):
        assert client.conversation(f"c-{index}") is not None
    assert simulator.stats()["tokens_per_client"] == {"gcevents-sim": 1, "client-1": 2}
    assert {cid: c["tokens_fetched"] for cid, c in client.stats.by_client().items()} == {
        "gcevents-sim": 1,
        "client-1": 2,
    }
    assert simulator.stats()["unauthorized"] == 1  # the one call that met the revoked token, resent once


def test_the_limits_are_read_once_for_every_client(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient], fake_time: FakeTime
) -> None:
    simulator = _with_clients(make_simulator, 3, rate_limit_per_minute=120)
    client = make_client(simulator, rate_per_minute=None, api_limit=300)
    for index in range(6):
        assert client.conversation(f"c-{index}", deadline=fake_time.time() + 30) is not None
    assert simulator.stats()["calls"]["GET /api/v2/organizations/limits/namespaces/{name}"] == 2
    for lane in client.lanes:
        assert isinstance(lane.limiter, AdaptiveLimiter)
        assert lane.limiter.ceiling_per_minute == 118
    assert client.budget()["limit_per_minute"] == 120  # per token


def test_shared_scope_gives_each_client_its_own_bucket(
    make_simulator: Callable[..., GenesysSimulator], fake_time: FakeTime
) -> None:
    simulator = _with_clients(make_simulator, 2, rate_limit_per_minute=120)
    settings = simulator.settings(budget_scope="shared", backoff_base=0.005, backoff_cap=0.02)
    with pytest.raises(ConfigError, match="one bucket per client id"):
        GenesysClient(settings, bucket=MemoryPermitBucket(clock=fake_time.time))
    buckets = {cid: MemoryPermitBucket(clock=fake_time.time) for cid in settings.client_ids}
    client = GenesysClient(
        settings,
        transport=simulator.transport(),
        clock=fake_time.time,
        monotonic=fake_time.monotonic,
        sleep=fake_time.sleep,
        rng=random.Random(0),
        buckets=buckets.__getitem__,
    )
    try:
        for index in range(20):
            assert client.conversation(f"c-{index}", deadline=fake_time.time() + 30) is not None
        for lane in client.lanes:
            assert isinstance(lane.limiter, SharedLimiter)
            assert lane.limiter.bucket is buckets[lane.client_id]
        assert all(bucket.takes > 0 for bucket in buckets.values())
        assert set(simulator.stats()["tokens_per_client"]) == set(settings.client_ids)
    finally:
        client.close()


# ------------------------------------------------------------------------------------------------ secrets
def test_no_client_secret_or_token_in_logs_reprs_or_errors(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator = _with_clients(make_simulator, 2)
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    client = make_client(simulator)
    for index in range(4):
        client.conversation(f"c-{index}")
    simulator.update(extra_clients=(("client-1", "rotated-away-0123456789"),))  # client-1's secret no longer works
    simulator.revoke_tokens("client-1")
    for index in range(4):  # client-1's lane meets the rejected secret and fails over (issue 21.1)
        client.conversation(f"d-{index}")
    rejected = [r for r in caplog.records if r.levelno == logging.ERROR and r.__dict__.get("clientId") == "client-1"]
    assert rejected, "client-1's lane should have met the rejected secret"
    with pytest.raises(GenesysAuthError) as caught:  # the error a single-client deployment still sees
        make_client(simulator, client_ids=("client-1",), client_id="client-1").conversation("e-1")
    errors = [caught.value]

    settings = client.settings
    secret_text = settings.client_secret.reveal() if settings.client_secret else ""
    forbidden = [secret_text, "secret-of-client-1-0123456789", "gcevents-sim-secret", *simulator.issued_tokens()]
    texts = [repr(client), repr(settings), str(settings), repr(client.stats), repr(client.lanes), str(client.budget())]
    texts += [repr(lane.auth) for lane in client.lanes]
    texts += [repr(e) + str(e) for e in errors]
    texts += [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    for text in texts:
        for value in forbidden:
            assert value not in text


def test_bulk_calls_in_flight_are_counted_per_client(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient]
) -> None:
    one = make_client(make_simulator(), max_concurrency=3)
    two = make_client(_with_clients(make_simulator, 2), max_concurrency=3)
    assert (GenesysEnricher(one).max_concurrency, GenesysEnricher(two).max_concurrency) == (3, 6)


@REAL_HTTP
def test_concurrent_bulk_lookups_over_two_clients_over_http(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient]
) -> None:
    """Threads of the enricher on real sockets: one token per client however many threads ask at once, every id
    answered, the calls spread over both tokens, each within its budget (no 429), nothing sent twice."""
    simulator = _with_clients(make_simulator, 2, rate_limit_per_minute=600, latency_ms=20)
    client = make_client(simulator, max_concurrency=3)
    enricher = GenesysEnricher(client, chunk_size=5)
    ids = [f"conv-{n}" for n in range(120)]
    result = enricher.enrich(ids, time.time() + 30)
    assert set(result.details) == set(ids)
    assert not result.failed
    stats = simulator.stats()
    assert stats["tokens_per_client"] == {"gcevents-sim": 1, "client-1": 1}
    calls = stats["calls_per_token"]
    assert sum(calls.values()) == 24  # 120 ids / 5 per call, each sent once
    assert min(calls.values()) >= 6  # both tokens served a fair share
    assert stats["rate_limited"] == 0
