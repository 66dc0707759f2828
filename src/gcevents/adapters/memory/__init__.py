"""The `memory` stores: every port's reference behaviour in one process, thread-safe like the adapters they stand
in for. Production selects them with `memory` store specs; the contract suites hold the real adapters to them, and
`gcevents.testing.fakes` re-exports them for tests."""

from gcevents.adapters.memory.budget import MemoryPermitBucket
from gcevents.adapters.memory.dead_letters import MemoryDeadLetterSink
from gcevents.adapters.memory.idempotency import MemoryIdempotencyStore
from gcevents.adapters.memory.scheduler import CollectingScheduler
from gcevents.adapters.memory.state import MemoryStateStore

__all__ = [
    "CollectingScheduler",
    "MemoryDeadLetterSink",
    "MemoryIdempotencyStore",
    "MemoryPermitBucket",
    "MemoryStateStore",
]
