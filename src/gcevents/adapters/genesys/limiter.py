"""Client-side pacing of Genesys API calls: a token bucket whose rate follows what the server grants.

Genesys documents its limits per client-credentials token (`client.credentials.token.rate.per.minute`, 300 by
default; analytics conversation endpoints have their own keys), publishes the org's effective values through the
limits API, and answers every 429 with `Retry-After` and the code `too.many.requests.retry.after`. The
`inin-ratelimit-*` headers this module once read were removed in 2021. So:

- `AdaptiveLimiter` (the default) paces one token: it starts at half the known limit with a burst of about a
  second, grows by a fixed step per answered call while callers wait on it, cuts its rate in half on a 429 and
  holds everyone back for Retry-After (AIMD). The ceiling is the limit less the burst, so no 60-second window
  sees more than the limit; a 429 that proves the limit lower brings the ceiling down to what the window held.
- `RateLimiter` is the static override (`GENESYS_RATE_PER_MINUTE`): a fixed rate that only honours Retry-After.
- `SharedLimiter` adds a fleet-wide bucket (`gcevents.ports.PermitBucket`, DynamoDB in production) for budgets
  shared by every container: permits come from it a few at a time, and a 429 holds the whole fleet back.

All three: `acquire(max_wait)` takes a permit (sleeping until it is due) or raises RateLimitedError with the wait
as `retry_after`; `delay()` says how long that would take now; `on_success()` after an answer;
`on_throttle(retry_after)` after a 429."""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

from gcevents.errors import RateLimitedError
from gcevents.ports import PermitBucket

WINDOW_SECONDS = 60.0  # Genesys limits are per minute
START_FRACTION = 0.5  # of the ceiling: below the limit until the server has proved it grants more
# Additive growth, in shares of the ceiling per second of demand: fast below THRESHOLD of the ceiling (the limit is
# known, so get back near it within seconds), slow above it (probe the last tenth gently).
FAST_GROWTH, SLOW_GROWTH, THRESHOLD = 0.05, 0.005, 0.9
MAX_GROWTH_INTERVAL = 5.0  # seconds of growth one answer may credit (after a pause, demand is news, not history)
CEILING_GROWTH_PER_MINUTE = 0.02  # of the published ceiling, once a 429 brought the ceiling down
DECREASE_FACTOR = 0.5
MIN_FRACTION = 0.05  # the rate never falls below this share of the ceiling (nor below one call a minute)
MAX_BURST = 5.0
RESERVATIONS = 3  # times one caller queues again when 429s keep arriving while it waits


class Pacer(Protocol):
    """What `GenesysClient` needs from a limiter."""

    @property
    def rate_per_minute(self) -> float: ...

    def acquire(self, max_wait: float) -> float: ...

    def delay(self) -> float: ...

    def on_success(self) -> None: ...

    def on_throttle(self, retry_after: float) -> None: ...


class RateLimiter:
    """Token bucket with reservations: a caller takes a permit now and sleeps until it is due, so concurrent
    callers queue in arrival order and never stampede when the budget comes back."""

    def __init__(
        self,
        rate_per_minute: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_minute <= 0:
            raise ValueError("rate_per_minute must be positive")
        self._rate = rate_per_minute / 60.0  # permits per second
        self._capacity = burst if burst is not None else max(1.0, rate_per_minute / 6.0)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()
        self._throttles = 0  # 429s seen: a caller that slept through one queues again behind its hold

    @property
    def rate_per_minute(self) -> float:
        with self._lock:
            return self._rate * 60.0

    def acquire(self, max_wait: float) -> float:
        """Take one permit, sleeping until it is due. Returns the seconds slept.

        Raises RateLimitedError(retry_after=...) without taking a permit when the wait would exceed `max_wait`.
        A caller whose permit was reserved before a 429 arrived does not send on it: it queues again behind the
        Retry-After hold (the hold replaced every reservation made before it)."""
        slept = 0.0
        for _ in range(RESERVATIONS):
            with self._lock:
                self._refill()
                wait = (1.0 - self._tokens) / self._rate if self._tokens < 1.0 else 0.0
                if wait > max_wait - slept:
                    raise RateLimitedError(
                        f"Genesys API budget exhausted for {slept + wait:.1f}s (client-side rate limit)",
                        retry_after=slept + wait,
                    )
                self._tokens -= 1.0
                throttles = self._throttles
            if wait > 0:
                self._sleep(wait)
                slept += wait
            with self._lock:
                if self._throttles == throttles:
                    break
        return slept

    def delay(self) -> float:
        """Seconds until a permit taken now would be due (0: one is free), without taking it: how a client with
        several tokens picks the one to send on (`lanes.Lanes.pick`)."""
        with self._lock:
            self._refill()
            return (1.0 - self._tokens) / self._rate if self._tokens < 1.0 else 0.0

    def on_success(self) -> None:
        """A fixed rate learns nothing from an answer."""

    def on_throttle(self, retry_after: float) -> None:
        """The server said 429: nothing may be sent for `retry_after` seconds. Expressed as debt in the bucket,
        so waiting callers resume one by one at our rate instead of all at once."""
        with self._lock:
            self._throttles += 1
            self._refill()
            self._tokens = min(self._tokens, -retry_after * self._rate)

    def _set_rate(self, rate_per_minute: float) -> None:
        """Under the lock: change the rate, keeping what the bucket holds (debt included)."""
        self._refill()
        self._rate = rate_per_minute / 60.0

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        return now


class AdaptiveLimiter(RateLimiter):
    """AIMD on top of the bucket, for one token whose limit is `limit_per_minute` x `share`.

    - start at half the ceiling (ceiling = the limit less the burst);
    - while callers wait on the limiter (or are turned away) and the server answers, grow linearly: 5 % of the
      ceiling per second below 90 % of it (the limit is known, so get there within seconds), 0.5 % above;
    - on a 429: halve the rate (once per Retry-After: the in-flight calls' 429s are the same event) and hold
      every caller for Retry-After. The server's window (it resets when Retry-After ends) held as many calls as
      we got answered since it began: if that is less than we thought, it is the token's real limit, and the
      ceiling comes down to it; it creeps back up by 2 % of the published limit per minute, in case the
      refusal came from someone else's share of a budget."""

    def __init__(
        self,
        limit_per_minute: float,
        *,
        share: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        burst, ceiling = _burst_and_ceiling(limit_per_minute * share)
        super().__init__(ceiling * START_FRACTION, burst=burst, clock=clock, sleep=sleep)
        self.share = share
        self.limit_per_minute = limit_per_minute
        self._published = ceiling  # from the limits API (or the configuration): the ceiling never exceeds it
        self._ceiling = ceiling  # lowered by 429s that prove the published one wrong for us
        self._answered: deque[float] = deque()  # when the server answered us, over the last window
        self._waiting = False  # callers have waited on (or been refused by) the bucket since the last answer
        self._grown_at = clock()
        self._last_cut = -1e18
        self._ceiling_grown_at = clock()

    @property
    def ceiling_per_minute(self) -> float:
        with self._lock:
            return self._ceiling

    def set_limit(self, limit_per_minute: float) -> None:
        """The org's limit as the limits API reports it: a new ceiling (the rate keeps its share of it)."""
        with self._lock:
            self.limit_per_minute = limit_per_minute
            burst, ceiling = _burst_and_ceiling(limit_per_minute * self.share)
            fraction = self._rate * 60.0 / self._ceiling
            self._capacity, self._published, self._ceiling = burst, ceiling, ceiling
            self._set_rate(max(self._floor(), min(ceiling, ceiling * fraction)))
            self._tokens = min(self._tokens, self._capacity)

    def acquire(self, max_wait: float) -> float:
        try:
            waited = super().acquire(max_wait)
        except RateLimitedError:
            with self._lock:
                self._waiting = True  # turned away: demand beyond the pace
            raise
        if waited > 0:  # we are the bottleneck: growth is worth trying
            with self._lock:
                self._waiting = True
        return waited

    def on_success(self) -> None:
        """One answered call: remembered for the window, and a step of growth if callers are waiting on us."""
        with self._lock:
            now = self._clock()
            self._answered.append(now)
            while self._answered and self._answered[0] < now - WINDOW_SECONDS:
                self._answered.popleft()
            elapsed = min(MAX_GROWTH_INTERVAL, now - self._grown_at)
            self._grown_at = now
            if not self._waiting:
                return  # an idle client learns nothing about the server
            self._waiting = False
            self._grow_ceiling(now)
            rate = self._rate * 60.0
            growth = FAST_GROWTH if rate < THRESHOLD * self._ceiling else SLOW_GROWTH
            self._set_rate(min(self._ceiling, rate + growth * self._ceiling * elapsed))

    def on_throttle(self, retry_after: float) -> None:
        with self._lock:
            now = self._clock()
            if now - self._last_cut >= max(retry_after, 1.0):
                self._last_cut = now
                window_began = now + retry_after - WINDOW_SECONDS
                held = sum(1 for t in self._answered if t >= window_began)
                cut = max(self._floor(), self._rate * 60.0 * DECREASE_FACTOR)
                # Never below the cut rate: the window estimate assumes Genesys' one-minute windows, and a server
                # that counts otherwise must not talk us down to a trickle.
                if held and held - self._capacity < self._ceiling:
                    self._ceiling = max(cut, held - self._capacity)
                self._ceiling_grown_at = now
                self._set_rate(min(self._ceiling, cut))
            self._waiting = False
            self._throttles += 1
            self._grown_at = now + retry_after  # no growth credited for the hold
            self._refill()
            self._tokens = min(self._tokens, -retry_after * self._rate)

    def _grow_ceiling(self, now: float) -> None:
        if self._ceiling < self._published and self._rate * 60.0 >= self._ceiling:
            grown = self._ceiling + CEILING_GROWTH_PER_MINUTE * self._published * (now - self._ceiling_grown_at) / 60
            self._ceiling = min(self._published, grown)
        self._ceiling_grown_at = now

    def _floor(self) -> float:
        return max(1.0, self._published * MIN_FRACTION)


def _burst_and_ceiling(limit_per_minute: float) -> tuple[float, float]:
    """About a second of calls as burst (at most 5), and a ceiling that leaves room for it: in any 60-second window
    at most burst + ceiling <= the limit."""
    burst = max(1.0, min(MAX_BURST, limit_per_minute / WINDOW_SECONDS))
    return burst, max(1.0, limit_per_minute - burst)


class SharedLimiter:
    """One budget for the whole fleet: each container paces itself (AIMD, as for its own token) and also draws
    its permits from `bucket`, `batch` at a time (one conditional update per batch). Permits are scheduled in
    time by the bucket; one unused for longer than the batch lasts is dropped rather than spent late in a burst.
    A 429 holds the bucket back for Retry-After, so the whole fleet waits, not only the container that saw it."""

    def __init__(
        self,
        local: AdaptiveLimiter,
        bucket: PermitBucket,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.local = local
        self.bucket = bucket
        self.batch = 1
        self._clock = clock  # wall time: the bucket's slots are shared across machines
        self._sleep = sleep
        self._slots: deque[float] = deque()
        self._lock = threading.Lock()
        self.set_limit(local.limit_per_minute)

    def set_limit(self, limit_per_minute: float, *, spent: int = 0) -> None:
        """The fleet's bucket gets the same ceiling and burst a single token would; a batch is about a second of
        it (the burst), so a container books what it can spend before the slots go stale. `spent`: calls already
        made outside the bucket (reading the limits), booked now so the fleet's window counts them."""
        self.local.set_limit(limit_per_minute)
        burst, ceiling = _burst_and_ceiling(limit_per_minute * self.local.share)
        self.bucket.configure(ceiling, burst)
        self.batch = max(1, round(burst))
        with self._lock:
            self._slots.clear()  # booked at the old rate: spending them now would overrun the new one
        if spent:
            self.bucket.take(spent, max_wait=math.inf)

    @property
    def rate_per_minute(self) -> float:
        return self.local.rate_per_minute

    def acquire(self, max_wait: float) -> float:
        started = self._clock()
        waited = self.local.acquire(max_wait)
        with self._lock:  # one container asks the bucket once per batch, whatever its number of threads
            slot = self._next_slot(max(0.0, max_wait - (self._clock() - started)))
        wait = slot - self._clock()
        if wait > 0:
            self._sleep(wait)
            waited += wait
        return waited

    def delay(self) -> float:
        """This container's own pace, and the next slot it already booked in the fleet's bucket (if any): what the
        bucket would answer for a new batch is not known without asking it."""
        with self._lock:
            booked = self._slots[0] - self._clock() if self._slots else 0.0
        return max(self.local.delay(), booked)

    def _next_slot(self, max_wait: float) -> float:
        now = self._clock()
        horizon = (self.batch + MAX_BURST) * self.bucket.interval
        while self._slots and self._slots[0] < now - horizon:
            self._slots.popleft()  # not spent in time: dropped, never bunched up later
        if not self._slots:
            first = self.bucket.take(self.batch, max_wait)
            self._slots.extend(first + n * self.bucket.interval for n in range(self.batch))
        return self._slots.popleft()

    def on_success(self) -> None:
        self.local.on_success()

    def on_throttle(self, retry_after: float) -> None:
        self.local.on_throttle(retry_after)
        with self._lock:
            self._slots.clear()
        self.bucket.hold(retry_after)
