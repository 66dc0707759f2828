"""Rate limits: the static bucket, the adaptive (AIMD) limiter and the fleet-wide shared one, on a fake clock; the
client reading the org's limits and honouring 429 + Retry-After against the simulator (in-process, one over HTTP).

The fleet runs are a small discrete-event simulation: several containers, each with its limiter and a few worker
threads, against a server that keeps a fixed 60-second window per token or per client, as Genesys does. They
take no wall-clock time and check behaviour (what share of the grant is used, how many calls are refused);
bench/budget.py measures the same with real processes over HTTP."""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from genesys_kit import BOTH_TRANSPORTS, FakeTime

from gcevents.adapters.genesys import GenesysClient, GenesysEnricher, RateLimiter
from gcevents.adapters.genesys.client import LIMITS_REFRESH_SECONDS
from gcevents.adapters.genesys.limiter import AdaptiveLimiter, Pacer, SharedLimiter
from gcevents.errors import RateLimitedError
from gcevents.testing.fakes import MemoryPermitBucket
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
    limiter.on_throttle(retry_after=2.0)
    waits = [limiter.acquire(max_wait=60) for _ in range(3)]
    assert waits[0] == pytest.approx(2.1)
    assert waits[1] == pytest.approx(0.1)
    assert waits[2] == pytest.approx(0.1)


def test_adaptive_starts_below_the_limit_and_slow_starts_to_its_ceiling() -> None:
    fake = FakeTime()
    limiter = AdaptiveLimiter(300, clock=fake.monotonic, sleep=fake.sleep)
    assert limiter.ceiling_per_minute == 295  # the limit less a burst of 5: no 60 s window sees more than 300
    assert limiter.rate_per_minute == pytest.approx(147.5)
    for _ in range(200):  # a caller that always wants more
        limiter.acquire(max_wait=60)
        limiter.on_success()
    assert limiter.rate_per_minute == pytest.approx(295)
    assert fake.elapsed < 60  # doubling every 5 s: the ceiling within seconds, not minutes


def test_adaptive_does_not_grow_while_nobody_waits_for_it() -> None:
    fake = FakeTime()
    limiter = AdaptiveLimiter(300, clock=fake.monotonic, sleep=fake.sleep)
    for _ in range(50):
        fake.sleep(1.0)  # one call a second: far below the pace
        limiter.acquire(max_wait=60)
        limiter.on_success()
    assert limiter.rate_per_minute == pytest.approx(147.5)


def test_adaptive_halves_on_429_holds_for_retry_after_then_grows_linearly() -> None:
    fake = FakeTime()
    limiter = AdaptiveLimiter(300, clock=fake.monotonic, sleep=fake.sleep)
    limiter.on_throttle(retry_after=3.0)
    limiter.on_throttle(retry_after=3.0)  # the 429 of another in-flight call: the same event, one cut
    assert limiter.rate_per_minute == pytest.approx(147.5 / 2)
    assert limiter.acquire(max_wait=60) >= 3.0  # held back for Retry-After (no growth credited for the hold)
    hold_ended = 10_000.0 + 3.0  # FakeTime's monotonic start + Retry-After
    limiter.on_success()
    while fake.elapsed < 5.0:  # callers keep waiting on the limiter
        limiter.acquire(max_wait=60)
        limiter.on_success()
    # additive: 5 % of the ceiling per second of demand below 90 % of it, counted from the end of the hold
    demand_seconds = fake.monotonic() - hold_ended
    assert limiter.rate_per_minute == pytest.approx(147.5 / 2 + 0.05 * 295 * demand_seconds, rel=0.1)


def test_429s_that_prove_the_limit_lower_bring_the_ceiling_down() -> None:
    """Told 300, granted 120 per one-minute window: each window that ends in a 429 held 120 answered calls. The
    ceiling comes down to that less the burst (then creeps back up by 2 % of the published limit a minute, in case
    the refusal was someone else's share)."""
    fake = FakeTime()
    limiter = AdaptiveLimiter(300, clock=fake.monotonic, sleep=fake.sleep)
    for _ in range(4):
        window_began = fake.elapsed
        for _ in range(120):
            limiter.acquire(max_wait=60)
            limiter.on_success()
        if fake.elapsed - window_began >= 60:
            break  # our pace fits the window now: no 429
        limiter.on_throttle(retry_after=60 - (fake.elapsed - window_began))
        limiter.acquire(max_wait=120)  # the hold
    assert 115 <= limiter.ceiling_per_minute < 120  # 120 held, less the burst of 5, plus a little creep
    assert limiter.rate_per_minute <= limiter.ceiling_per_minute


def test_adaptive_takes_the_limit_the_server_publishes() -> None:
    fake = FakeTime()
    limiter = AdaptiveLimiter(300, clock=fake.monotonic, sleep=fake.sleep)
    limiter.set_limit(120)
    assert limiter.ceiling_per_minute == 118
    assert limiter.rate_per_minute == pytest.approx(59)  # keeps its share of the ceiling


def test_shared_limiter_books_a_batch_per_request_and_a_429_holds_the_fleet() -> None:
    fake = FakeTime()
    bucket = MemoryPermitBucket(clock=fake.time)
    fleet = [
        SharedLimiter(
            AdaptiveLimiter(300, clock=fake.monotonic, sleep=fake.sleep), bucket, clock=fake.time, sleep=fake.sleep
        )
        for _ in range(2)
    ]
    assert fleet[0].batch == 5
    assert bucket.interval == pytest.approx(60 / 295)
    for _ in range(5):
        fleet[0].acquire(max_wait=60)
    assert bucket.takes == 1  # one request to the store for five permits
    fleet[0].on_throttle(retry_after=10)
    before = fake.elapsed
    fleet[1].acquire(max_wait=60)  # the other container waits out the 429 too
    assert fake.elapsed - before >= 10


# ----------------------------------------------------------------------------------- fleets on a fake clock
@dataclass
class _Clock:
    """The simulation's time, plus what the actor now running has slept since its event began."""

    base: float = 0.0
    offset: float = 0.0

    def now(self) -> float:
        return self.base + self.offset

    def sleep(self, seconds: float) -> None:
        self.offset += max(0.0, seconds)


@dataclass
class _Server:
    """Genesys' fixed windows: 60 s from the first call, per token or one for the client."""

    limit: int
    scope: str
    windows: dict[str, tuple[float, int]] = field(default_factory=dict)
    ok: int = 0
    throttled: int = 0

    def call(self, token: str, now: float) -> float | None:
        key = token if self.scope == "token" else "client"
        started, count = self.windows.get(key, (now, 0))
        if now - started >= 60:
            started, count = now, 0
        if count < self.limit:
            self.windows[key] = (started, count + 1)
            self.ok += 1
            return None
        self.throttled += 1
        return float(max(1, math.ceil(started + 60 - now)))


def run_fleet(
    make: Callable[[_Clock], Pacer], *, scope: str, containers: int = 4, workers: int = 4, seconds: float = 600
) -> _Server:
    """Every worker of every container always has work: acquire, call (0.2 s), on_success / on_throttle."""
    clock, server = _Clock(), _Server(limit=120, scope=scope)
    limiters = [make(clock) for _ in range(containers)]
    events: list[tuple[float, int, str, int]] = [(0.0, n, "acquire", n) for n in range(containers * workers)]
    heapq.heapify(events)
    seq = len(events)
    while events:
        at, _, kind, worker = heapq.heappop(events)
        if at >= seconds:
            break
        clock.base, clock.offset = at, 0.0
        limiter = limiters[worker // workers]
        if kind == "acquire":
            try:
                limiter.acquire(max_wait=20)
            except RateLimitedError as exc:  # handed back: the record returns to the queue, the worker goes on
                clock.offset = exc.retry_after or 1.0
                kind = "idle"
            else:
                retry_after = server.call(f"token-{worker // workers}", clock.now())
                kind = "ok" if retry_after is None else f"429:{retry_after}"
            heapq.heappush(events, (clock.now() + (0.2 if kind != "idle" else 0.0), seq, kind, worker))
        else:
            if kind.startswith("429:"):
                limiter.on_throttle(float(kind[4:]))
            elif kind == "ok":
                limiter.on_success()
            heapq.heappush(events, (clock.now(), seq, "acquire", worker))
        seq += 1
    return server


def _adaptive(clock: _Clock) -> Pacer:
    return AdaptiveLimiter(300, clock=clock.now, sleep=clock.sleep)  # told 300; the server grants 120


def test_a_fleet_of_tokens_uses_its_grants_with_almost_no_429s() -> None:
    """Four containers, each with its own token and a per-token budget of 120/min (they were told 300, as when the
    limits API is refused: AIMD finds the real one)."""
    server = run_fleet(_adaptive, scope="token")
    granted = 4 * 120 * 600 / 60
    assert server.ok >= 0.9 * granted
    assert server.throttled <= 0.01 * (server.ok + server.throttled)


def test_a_fleet_sharing_one_budget_uses_it_through_the_shared_bucket() -> None:
    bucket_clock: list[_Clock] = []

    def shared(clock: _Clock) -> Pacer:
        if not bucket_clock:
            bucket_clock.append(clock)
            shared.bucket = MemoryPermitBucket(clock=clock.now)  # type: ignore[attr-defined]
        local = AdaptiveLimiter(120, clock=clock.now, sleep=clock.sleep)
        return SharedLimiter(local, shared.bucket, clock=clock.now, sleep=clock.sleep)  # type: ignore[attr-defined]

    server = run_fleet(shared, scope="client")
    granted = 120 * 600 / 60
    assert server.ok >= 0.9 * granted
    assert server.throttled <= 0.01 * (server.ok + server.throttled)


def test_the_static_split_leaves_most_of_a_token_budget_unused() -> None:
    """Today's planner: 300 x 0.8 / 5 instances = 48/min each, whatever each token is granted."""
    server = run_fleet(lambda clock: RateLimiter(48, clock=clock.now, sleep=clock.sleep), scope="token")
    assert server.ok < 0.45 * (4 * 120 * 600 / 60)


# ----------------------------------------------------------------------------------- against the simulator
@BOTH_TRANSPORTS
def test_429_is_waited_out_when_retry_after_fits_the_deadline(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient], now: Callable[[], float]
) -> None:
    simulator = make_simulator(rate_limit_per_minute=2, rate_window_seconds=1.0)
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
    simulator = make_simulator(rate_limit_per_minute=1, rate_window_seconds=8.0)
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


@BOTH_TRANSPORTS
def test_adaptive_client_reads_the_org_limit_once_and_paces_to_it(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient], now: Callable[[], float]
) -> None:
    simulator = make_simulator(rate_limit_per_minute=120)
    client = make_client(simulator, rate_per_minute=None, api_limit=300)  # adaptive (the default)
    for index in range(3):
        assert client.conversation(f"c-{index}", deadline=now() + 30) is not None
    assert client.token_limit is not None
    assert (client.token_limit.per_minute, client.token_limit.source) == (120, "limits_api")
    assert client.token_limit.keys == ("client.credentials.token.rate.per.minute",)
    assert client.budget()["limit_per_minute"] == 120
    assert client.limiter.rate_per_minute <= 118  # the ceiling: 120 less a burst of 2
    calls = simulator.stats()["calls"]
    assert calls["GET /api/v2/organizations/limits/namespaces/{name}"] == 2  # platform.api and analytics, once
    assert client.stats.calls("limits") == 2


def test_adaptive_client_falls_back_to_its_configuration_when_the_limits_api_refuses(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient], now: Callable[[], float]
) -> None:
    simulator = make_simulator(limits_status=403)
    client = make_client(simulator, rate_per_minute=None, api_limit=240)
    assert client.conversation("c-1", deadline=now() + 30) is not None
    assert client.token_limit is not None
    assert (client.token_limit.per_minute, client.token_limit.source) == (240, "configuration")
    assert isinstance(client.limiter, AdaptiveLimiter)
    assert client.limiter.ceiling_per_minute == 236


def test_the_limits_are_read_again_every_15_minutes(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    now: Callable[[], float],
    fake_time: FakeTime,
) -> None:
    simulator = make_simulator(limits_status=503, rate_limit_per_minute=None, published_limit_per_minute=120)
    client = make_client(simulator, rate_per_minute=None, api_limit=240)
    reads = "GET /api/v2/organizations/limits/namespaces/{name}"

    def call() -> None:
        assert client.conversation("c-1", deadline=now() + 30) is not None

    call()
    assert client.token_limit is not None
    assert client.token_limit.source == "configuration"
    refused = simulator.stats()["calls"][reads]
    simulator.update(limits_status=200)
    fake_time.sleep(LIMITS_REFRESH_SECONDS - 1)
    call()
    assert simulator.stats()["calls"][reads] == refused  # not yet due
    fake_time.sleep(2)
    call()
    assert (client.token_limit.per_minute, client.token_limit.source) == (120, "limits_api")
    assert isinstance(client.limiter, AdaptiveLimiter)
    assert client.limiter.ceiling_per_minute == 118
    # Unchanged a quarter of an hour later: read, and the limiter keeps what it learned meanwhile.
    client.limiter.on_throttle(1.0)
    learned = client.limiter.rate_per_minute
    fake_time.sleep(LIMITS_REFRESH_SECONDS + 1)
    call()
    assert simulator.stats()["calls"][reads] == refused + 4
    assert client.limiter.rate_per_minute >= learned
    assert client.limiter.rate_per_minute < 118
    # Raised by an admin: the next read after 15 minutes raises the ceiling.
    simulator.update(published_limit_per_minute=600)
    fake_time.sleep(LIMITS_REFRESH_SECONDS + 1)
    call()
    assert client.token_limit.per_minute == 600
    assert client.limiter.ceiling_per_minute == 595


def test_static_override_never_asks_the_limits_api(
    simulator: GenesysSimulator, make_client: Callable[..., GenesysClient], now: Callable[[], float]
) -> None:
    client = make_client(simulator, rate_per_minute=600)
    assert client.conversation("c-1", deadline=now() + 30) is not None
    assert client.token_limit is None
    assert client.budget()["mode"] == "static"
    assert "GET /api/v2/organizations/limits/namespaces/{name}" not in simulator.stats()["calls"]
