"""Rate limits: the client-side bucket, and 429 / header handling against the simulator — in-process on a fake
clock (a 60 s window costs nothing), one of them over real HTTP too."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from genesys_kit import BOTH_TRANSPORTS, FakeTime

from gcevents.adapters.genesys import GenesysClient, GenesysEnricher, RateLimiter
from gcevents.errors import RateLimitedError
from gcevents.testing.genesys import GenesysSimulator


def test_bucket_allows_a_burst_then_paces() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, burst=3, clock=fake.monotonic, sleep=fake.sleep)  # one per second after the burst
    for _ in range(3):
        assert limiter.acquire(max_wait=10) == 0
    assert limiter.acquire(max_wait=10) == pytest.approx(1.0)
    assert fake.slept == [pytest.approx(1.0)]


def test_bucket_refuses_a_wait_longer_than_allowed_without_taking_a_permit() -> None:
    fake = FakeTime()
    limiter = RateLimiter(60, burst=1, clock=fake.monotonic, sleep=fake.sleep)
    limiter.acquire(max_wait=0)
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(max_wait=0.5)
    assert caught.value.retry_after == pytest.approx(1.0)
    assert limiter.acquire(max_wait=5) == pytest.approx(1.0)  # the refused call did not book a permit


def test_429_holds_every_caller_back_then_resumes_at_the_rate() -> None:
    fake = FakeTime()
    limiter = RateLimiter(600, burst=10, clock=fake.monotonic, sleep=fake.sleep)  # 10/s
    limiter.penalize(retry_after=2.0)
    waits = [limiter.acquire(max_wait=60) for _ in range(3)]
    assert waits[0] == pytest.approx(2.1)
    assert waits[1] == pytest.approx(0.1)
    assert waits[2] == pytest.approx(0.1)


def test_headers_correct_the_bucket() -> None:
    fake = FakeTime()
    limiter = RateLimiter(600, clock=fake.monotonic, sleep=fake.sleep)
    limiter.observe(allowed=300, count=298, reset_seconds=40)
    assert limiter.acquire(max_wait=0) == 0
    assert limiter.acquire(max_wait=0) == 0
    with pytest.raises(RateLimitedError):
        limiter.acquire(max_wait=0)
    limiter.observe(allowed=300, count=300, reset_seconds=40)  # window used up: wait for its reset
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(max_wait=10)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 40


# ----------------------------------------------------------------------------------- against the simulator
@BOTH_TRANSPORTS
def test_429_is_waited_out_when_retry_after_fits_the_deadline(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient], now: Callable[[], float]
) -> None:
    simulator = make_simulator(rate_limit_per_minute=2, rate_window_seconds=1.0, rate_limit_headers=False)
    client = make_client(simulator)
    for index in range(3):
        assert client.conversation(f"c-{index}", deadline=now() + 10) is not None
    assert simulator.stats()["rate_limited"] >= 1
    assert client.stats.rate_limited == simulator.stats()["rate_limited"]
    assert client.stats.snapshot()["rate_limit_wait_seconds"] > 0


def test_429_is_handed_back_when_retry_after_does_not_fit(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    now: Callable[[], float],
    fake_time: FakeTime,
) -> None:
    # Retry-After (8 s) is within max_wait (20 s) but not within the 5 s deadline.
    simulator = make_simulator(rate_limit_per_minute=1, rate_window_seconds=8.0, rate_limit_headers=False)
    client = make_client(simulator)
    enricher = GenesysEnricher(client, chunk_size=2)
    assert len(enricher.enrich(["a", "b"], now() + 5).details) == 2
    result = enricher.enrich(["c", "d", "e"], now() + 5)
    assert set(result.failed) == {"c", "d", "e"}
    errors = [e for e in result.failed.values() if isinstance(e, RateLimitedError)]
    assert len(errors) == 3
    assert all(e.retry_after is not None and e.retry_after > 5 for e in errors)  # for the SQS visibility
    assert simulator.stats()["rate_limited"] >= 1
    assert fake_time.elapsed < 5  # handed back at once, not slept on


def test_headers_pace_the_client_before_the_server_says_429(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient], now: Callable[[], float]
) -> None:
    simulator = make_simulator(rate_limit_per_minute=2, rate_window_seconds=1.0)
    client = make_client(simulator)
    for index in range(4):
        assert client.conversation(f"c-{index}", deadline=now() + 10) is not None
    assert simulator.stats()["rate_limited"] == 0  # inin-ratelimit-count said the window was used up
    assert client.stats.snapshot()["rate_limit_wait_seconds"] > 0


def test_client_side_budget_is_handed_back_without_calling(
    simulator: GenesysSimulator, make_client: Callable[..., GenesysClient], now: Callable[[], float]
) -> None:
    client = make_client(simulator, rate_per_minute=6)  # burst of 1, then one every ten seconds
    enricher = GenesysEnricher(client, chunk_size=1, max_concurrency=1)
    result = enricher.enrich(["a", "b"], now() + 3)
    assert "a" in result.details
    assert isinstance(result.failed["b"], RateLimitedError)
    assert result.failed["b"].retry_after == pytest.approx(10, abs=1)
    assert simulator.stats()["calls"]["GET /api/v2/analytics/conversations/details"] == 1
