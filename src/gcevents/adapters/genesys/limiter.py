"""Client-side rate limiting: a thread-safe token bucket, corrected by what the server tells us.

Genesys allows about 300 requests/minute per client-credentials token and says how much is left in the
`inin-ratelimit-*` headers; a 429 carries `Retry-After`. We pace ourselves so 429s stay rare, and when the budget
is gone we either wait (if that fits the caller's deadline) or give the work back with a `retry_after` hint."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from gcevents.errors import RateLimitedError


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
        # Ten seconds of budget as burst: enough for a batch's few bulk calls, small enough that a fixed
        # one-minute server window is rarely overrun before the headers correct us.
        self._capacity = burst if burst is not None else max(1.0, rate_per_minute / 6.0)
        self._tokens = self._capacity
        self._clock = clock
        self._sleep = sleep
        self._updated = clock()
        self._lock = threading.Lock()

    @property
    def rate_per_minute(self) -> float:
        with self._lock:
            return self._rate * 60.0

    def acquire(self, max_wait: float) -> float:
        """Take one permit, sleeping until it is due. Returns the seconds slept.

        Raises RateLimitedError(retry_after=...) without taking a permit when the wait would exceed `max_wait`."""
        with self._lock:
            self._refill()
            wait = (1.0 - self._tokens) / self._rate if self._tokens < 1.0 else 0.0
            if wait > max_wait:
                raise RateLimitedError(
                    f"Genesys API budget exhausted for {wait:.1f}s (client-side rate limit)", retry_after=wait
                )
            self._tokens -= 1.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(self, retry_after: float) -> None:
        """The server said 429: nothing may be sent for `retry_after` seconds. Expressed as debt in the bucket,
        so waiting callers resume one by one at our rate instead of all at once."""
        with self._lock:
            self._refill()
            self._tokens = min(self._tokens, -retry_after * self._rate)

    def observe(self, *, allowed: int | None, count: int | None, reset_seconds: float | None) -> None:
        """Correct the bucket from `inin-ratelimit-allowed` / `-count` / `-reset`.

        Only the remaining budget is used, never `allowed` as a new rate: the window length is not in the
        headers, and the server's count also includes other containers sharing the token's org limits."""
        if allowed is None or count is None:
            return
        remaining = allowed - count
        with self._lock:
            self._refill()
            if remaining <= 0 and reset_seconds is not None and reset_seconds > 0:
                # The window is used up: hold everyone back until it resets instead of collecting 429s.
                self._tokens = min(self._tokens, -reset_seconds * self._rate)
            else:
                self._tokens = min(self._tokens, float(max(remaining, 0)))

    def _refill(self) -> float:
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        return now
