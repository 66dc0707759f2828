"""In-memory fakes of the ports: the reference behaviour the contract suites hold the real adapters to.

The stores production can select (`memory` specs) live in `gcevents.adapters.memory` and are re-exported here;
the enricher and the clock are for tests only. The queue with SQS semantics is
`gcevents.testing.queue.SimulatedQueue`."""

from __future__ import annotations

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
    current: float = 1_700_000_000.0

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds
