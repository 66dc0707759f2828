"""What the Genesys tests share besides fixtures: a fake clock and the two transport modes.

"mock" (the default): the simulator answers in-process through `httpx.MockTransport`, the client and the
simulator share a FakeTime, so rate windows, Retry-After and backoff take no wall-clock time. "http": a real
simulator on 127.0.0.1 and real time; those tests are marked slow."""

from __future__ import annotations

import threading

import pytest


class FakeTime:
    """A wall clock and a monotonic clock that move only when someone sleeps; every sleep is recorded."""

    def __init__(self, wall: float = 1_700_000_000.0, monotonic: float = 10_000.0) -> None:
        self._lock = threading.Lock()
        self._offset = 0.0
        self._wall = wall
        self._monotonic = monotonic
        self.slept: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._wall + self._offset

    def monotonic(self) -> float:
        with self._lock:
            return self._monotonic + self._offset

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._offset += max(0.0, seconds)

    @property
    def elapsed(self) -> float:
        with self._lock:
            return self._offset


# Parametrise the `mode` fixture: both transports, or only real HTTP (slow).
BOTH_TRANSPORTS = pytest.mark.parametrize("mode", ["mock", pytest.param("http", marks=pytest.mark.slow)], indirect=True)
REAL_HTTP = pytest.mark.parametrize("mode", [pytest.param("http", marks=pytest.mark.slow)], indirect=True)
