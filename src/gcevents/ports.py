"""The small Protocols the core depends on. Adapters (DynamoDB, SQLite, SQS, HTTP) live in `gcevents.adapters`;
every port has a memory fake in `gcevents.adapters.memory` and one contract test suite over all adapters."""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .events import RawRecord


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall clock: leases and expiries are shared across machines)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


# ---------------------------------------------------------------------------------------------- idempotency
class ClaimStatus(enum.Enum):
    CLAIMED = "CLAIMED"  # we own the key until the lease ends
    COMPLETED = "COMPLETED"  # the work was done before (a duplicate)
    IN_PROGRESS = "IN_PROGRESS"  # someone else holds a live lease: retry later


@dataclass(frozen=True, slots=True)
class ClaimResult:
    status: ClaimStatus
    lease_until_ms: int | None = None  # for IN_PROGRESS: when the other holder's lease ends


@dataclass(frozen=True, slots=True)
class Claim:
    key: str
    token: str  # unique per attempt, so we never release or complete a lease someone else re-took


class IdempotencyStore(Protocol):
    """Four hooks; `gcevents.idempotency.Idempotency` owns the algorithm.

    Records: key -> (status IN_PROGRESS|COMPLETED, token, lease_until_ms, expires_at_ms). A missing record,
    an IN_PROGRESS record whose lease has ended, and a COMPLETED record past its expiry are all claimable:
    validity is decided from timestamps, TTL deletion is only garbage collection."""

    def completed(self, keys: Sequence[str], now_ms: int) -> set[str]:
        """The subset of `keys` completed and not expired. Batched reads (DynamoDB: 100 keys per call)."""
        ...

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
        """ONE conditional write. Must be atomic across threads and processes."""
        ...

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        """Mark claims COMPLETED until `expires_at_ms`. May batch writes."""
        ...

    def release(self, claim: Claim) -> None:
        """Delete the record if (and only if) it is still IN_PROGRESS under `claim.token`: a late release after
        `complete` (same token) must not undo the completion, nor one whose lease someone re-took."""
        ...


@runtime_checkable
class BatchClaimStore(Protocol):
    """Optional capability of an IdempotencyStore: many claims per request (DynamoDB: TransactWriteItems)."""

    def claim_many(
        self, items: Sequence[tuple[str, str]], lease_until_ms: int, now_ms: int
    ) -> dict[str, ClaimResult | Exception]:
        """(key, token) pairs -> per key the same answer `claim` gives, or the exception that prevented it."""
        ...


# ---------------------------------------------------------------------------------------------- dead letters
@dataclass(frozen=True, slots=True)
class DeadLetter:
    reason: str
    message: str
    body: str  # the original text, byte for byte where we had text
    topic: str | None = None
    conversation_id: str | None = None
    message_id: str | None = None
    failed_at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class StoredDeadLetter:
    """A dead letter as read back by inspect/redrive tooling."""

    letter: DeadLetter
    handle: str  # adapter-specific: SQS receipt handle, SQLite row id


class DeadLetterSink(Protocol):
    def send(self, letters: Sequence[DeadLetter]) -> None:
        """Persist all letters or raise a TransientError (then the records are retried, not acknowledged)."""
        ...


# ---------------------------------------------------------------------------------------------- enrichment
@dataclass(slots=True)
class EnrichmentResult:
    details: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # conversationId -> analytics details
    missing: set[str] = field(default_factory=set)  # not (yet) known to the API: analytics lag
    failed: dict[str, Exception] = field(default_factory=dict)  # conversationId -> TransientError etc.


class Enricher(Protocol):
    def enrich(self, conversation_ids: Sequence[str], deadline: float) -> EnrichmentResult:
        """Look up many conversations at once, finishing (or giving up with TransientErrors) by `deadline`
        (epoch seconds). Never raises for per-conversation problems: they go into `failed`."""
        ...


# ---------------------------------------------------------------------------------------------- requeue
class Requeuer(Protocol):
    def delay(self, receipts: Mapping[str, float]) -> None:
        """Push redelivery of these messages (receipt handle -> seconds) out, so a retry after a 429 does
        not burn receive counts. Best effort: failures are logged, the record is retried anyway."""
        ...


# ---------------------------------------------------------------------------------------------- event sources
class EventSource(Protocol):
    """A queue with SQS semantics (visibility timeouts, receive counts, redrive) for long-running workers."""

    def receive(self, max_messages: int, wait_seconds: float, visibility_timeout: float) -> list[RawRecord]:
        """Up to `max_messages` records (with message_id, receipt_handle, receive_count), hidden for
        `visibility_timeout` seconds. Waits up to `wait_seconds` for the first one (long polling)."""
        ...

    def ack(self, receipts: Sequence[str]) -> None:
        """Delete handled messages."""
        ...

    def change_visibility(self, receipts: Mapping[str, float]) -> None:
        """receipt -> seconds until the message is visible again (0: now; used to release and to extend)."""
        ...
