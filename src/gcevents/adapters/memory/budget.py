"""`PermitBucket` in memory."""

from __future__ import annotations

import threading
import time
from typing import Any

from gcevents.errors import RateLimitedError
from gcevents.ports import schedule_permits


class MemoryPermitBucket:
    """`PermitBucket` in memory: the fleet's bucket shared by the limiters of one process (tests, the demo)."""

    def __init__(self, rate_per_minute: float = 300.0, burst: float = 5.0, *, clock: Any = None) -> None:
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._next_free: float | None = None
        self._interval = 60.0 / rate_per_minute
        self._burst = burst
        self.takes = 0  # requests to the bucket (one per batch of permits)

    @property
    def interval(self) -> float:
        return self._interval

    def configure(self, rate_per_minute: float, burst: float) -> None:
        with self._lock:
            self._interval, self._burst = 60.0 / rate_per_minute, burst

    def take(self, permits: int, max_wait: float) -> float:
        with self._lock:
            self.takes += 1
            now = self._clock()
            start, next_free = schedule_permits(self._next_free, now, permits, self._interval, self._burst)
            if start - now > max_wait:
                raise RateLimitedError(f"shared Genesys budget booked for {start - now:.1f}s", retry_after=start - now)
            self._next_free = next_free
            return start

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._next_free = max(self._next_free or 0.0, self._clock() + seconds)
