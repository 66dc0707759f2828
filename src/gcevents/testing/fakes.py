"""In-memory fakes of the ports: the reference behaviour the contract suites hold the real adapters to.

The stores production can select (`memory` specs) live in `gcevents.adapters.memory` and are re-exported here;
the enricher and the clock are for tests only. The queue with SQS semantics is
`gcevents.testing.queue.SimulatedQueue`."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gcevents.adapters.memory import (
    MemoryDeadLetterSink,
    MemoryIdempotencyStore,
    MemoryPermitBucket,
    MemoryStateStore,
)
from gcevents.ports import EnrichmentResult

__all__ = [
    "FakeClock",
    "MemoryDeadLetterSink",
    "MemoryEnricher",
    "MemoryIdempotencyStore",
    "MemoryPermitBucket",
    "MemoryStateStore",
]


@dataclass(slots=True)
class MemoryEnricher:
    """Serves fixed conversation details; ids not in `details` are reported missing (analytics lag)."""

    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    failures: Mapping[str, Exception] = field(default_factory=dict)
    calls: int = 0
    requested: list[str] = field(default_factory=list)

    def enrich(self, conversation_ids: Sequence[str], deadline: float) -> EnrichmentResult:
        self.calls += 1
        self.requested.extend(conversation_ids)
        result = EnrichmentResult()
        for cid in conversation_ids:
            if cid in self.failures:
                result.failed[cid] = self.failures[cid]
            elif cid in self.details:
                result.details[cid] = self.details[cid]
            else:
                result.missing.add(cid)
        return result


@dataclass(slots=True)
class FakeClock:
    """A clock a test moves by hand: it stands at `current` until `advance`d. With `follows_wall` it runs with the
    wall clock instead, ahead of it by what was advanced and never back: for runs that mix real waits (servers,
    threads) with skipped ones (a simulated queue's hidden messages). Thread-safe."""

    current: float = 1_700_000_000.0
    follows_wall: bool = False
    advanced: float = 0.0  # seconds `advance` moved the clock on
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def now(self) -> float:
        return time.time() + self.advanced if self.follows_wall else self.current

    def advance(self, seconds: float) -> None:
        with self._lock:
            if self.follows_wall:
                seconds = max(0.0, seconds)
            self.current += seconds
            self.advanced += seconds
