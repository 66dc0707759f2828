"""The small Protocols the core depends on. Adapters (DynamoDB, SQLite, SQS, HTTP) live in `gcevents.adapters`;
every port has a memory adapter in `gcevents.adapters.memory` and one contract test suite over all adapters."""

from __future__ import annotations

import enum
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, runtime_checkable

from gcevents.core.types import RawRecord as RawRecord
from gcevents.core.types import SeenKeys as SeenKeys
from gcevents.core.types import StoredState as StoredState

if TYPE_CHECKING:
    from gcevents.core.events import GenesysEvent
    from gcevents.core.state import Observation


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall clock: leases and expiries are shared across machines)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()


# ---------------------------------------------------------------------------------------------- tracing
AttributeValue: TypeAlias = str | bool | int | float


class Span(Protocol):
    """What a step may say about itself while it runs (OpenTelemetry's `Span` has this method)."""

    def set_attribute(self, key: str, value: AttributeValue) -> None: ...


class Tracer(Protocol):
    """Spans around the pipeline's steps (batch, claim, enrich, handle, outputs, complete). `NOOP_TRACER` when
    tracing is off; OpenTelemetry (`adapters/otel.py`) by default, X-Ray's daemon protocol with `xray`."""

    def span(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> AbstractContextManager[Span]:
        """A span, current until the block ends (a span started inside it is its child)."""
        ...


class NoopSpan:
    def set_attribute(self, key: str, value: AttributeValue) -> None:
        return None


class NoopTracer:
    """Tracing off: one shared null context, so an untraced step costs a method call and nothing is imported."""

    _null: AbstractContextManager[Span] = nullcontext(NoopSpan())

    def span(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> AbstractContextManager[Span]:
        return self._null


NOOP_TRACER = NoopTracer()


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


@dataclass(frozen=True, slots=True)
class Failure:
    """Why an attempt gave its claim back, kept by content key: SQS cannot change a message, so a record that
    ends in the DLQ through maxReceiveCount is explained by the last failure recorded for its key."""

    error: str  # the last error, e.g. "enrichment_failed: TransientError: Genesys ...: HTTP 503"
    attempts: int  # deliveries so far, this one included (the record's receive count)
    failed_at_ms: int
    keep_until_ms: int  # then TTL (DynamoDB) or the purge (SQLite) may drop it


class IdempotencyStore(Protocol):
    """Five hooks; `gcevents.core.idempotency.Idempotency` owns the algorithm.

    Records: key -> (status IN_PROGRESS|COMPLETED|FAILED, token, lease_until_ms, expires_at_ms; a FAILED record
    also holds its `Failure`). A missing record, an IN_PROGRESS record whose lease has ended, a COMPLETED record
    past its expiry and any FAILED record are all claimable: validity is decided from timestamps, TTL deletion is
    only garbage collection."""

    def completed(self, keys: Sequence[str], now_ms: int) -> set[str]:
        """The subset of `keys` completed and not expired. Batched reads (DynamoDB: 100 keys per call)."""
        ...

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
        """ONE conditional write. Must be atomic across threads and processes."""
        ...

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        """Mark claims COMPLETED until `expires_at_ms`. May batch writes."""
        ...

    def release(self, claim: Claim, failure: Failure | None = None) -> None:
        """If (and only if) the record is still IN_PROGRESS under `claim.token` (a late release after `complete`,
        same token, must not undo the completion, nor one whose lease someone re-took): with a `failure`, replace
        it by a FAILED record holding it; without, delete it. One write either way."""
        ...

    def renew(self, claim: Claim, lease_until_ms: int) -> bool:
        """Move the lease of a claim we still hold to `lease_until_ms`: ONE conditional write, only if the record
        is IN_PROGRESS under `claim.token` (a heartbeat keeps a running handler's key from being taken over).
        False when it is not ours any more (completed, released, failed, or re-taken after our lease lapsed)."""
        ...


@runtime_checkable
class FailureRecords(Protocol):
    """Optional capability of an IdempotencyStore: read back the failures `release` recorded."""

    def failures(self, keys: Sequence[str]) -> dict[str, Failure]:
        """key -> its Failure, for the keys whose record is FAILED now (batched reads)."""
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


class DeadLetterStore(DeadLetterSink, Protocol):
    """A sink that can be read back, for `gcevents dlq inspect|redrive`."""

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        """Up to `limit` letters, oldest first. A queue-backed store hides what it yields until `release`."""
        ...

    def remove(self, handles: Sequence[str]) -> None:
        """Delete letters (after a successful redrive)."""
        ...

    def release(self, handles: Sequence[str]) -> None:
        """Give back letters that were read but not removed (visible again at once); a no-op for tables."""
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


# ---------------------------------------------------------------------------------------------- state
Updates: TypeAlias = "Mapping[str, Sequence[GenesysEvent | Observation]]"  # conversationId -> its events


@dataclass(slots=True)
class ApplyResult:
    written: dict[str, StoredState] = field(default_factory=dict)
    unchanged: set[str] = field(default_factory=set)  # every event was already reflected: no write needed
    # The stored item of each unchanged conversation, as read: the derived records are evaluated from the
    # current state of every touched conversation, written or not (a retried delivery finds it unchanged).
    current: dict[str, StoredState] = field(default_factory=dict)
    failed: dict[str, Exception] = field(default_factory=dict)  # conversationId -> gcevents error
    # conversationId -> its keys as the state saw them when written (or found unchanged); keys neither seen nor new
    # are ones the state cannot tell about (past its bound, or built before it recorded keys).
    keys: dict[str, SeenKeys] = field(default_factory=dict)


class StateStore(Protocol):
    """One order-independent item per conversation (`gcevents.core.state` is the merge). The shared algorithm,
    read -> merge -> conditional write -> retry, is `gcevents.core.state_store.OptimisticStateStore`."""

    def apply(self, updates: Updates) -> ApplyResult:
        """Merge each conversation's events into its item. Never raises for a conversation's failure: it is
        reported in `ApplyResult.failed` so the rest of the batch still lands."""
        ...

    def get(self, conversation_id: str) -> StoredState | None: ...

    def get_many(self, conversation_ids: Sequence[str]) -> dict[str, StoredState]:
        """The stored items among these ids (absent ones are missing), in batched reads: `gcevents reconcile`
        compares thousands of conversations at a time."""
        ...

    def list(self, *, since: datetime | None = None, limit: int = 50) -> list[StoredState]:
        """Items updated at or after `since`, most recently updated first."""
        ...

    def delete(self, conversation_id: str) -> bool:
        """Erase one conversation's item (`gcevents state delete`); True when there was one."""
        ...


# ---------------------------------------------------------------------------------------------- requeue
class Requeuer(Protocol):
    def delay(self, records: Sequence[tuple[RawRecord, float]]) -> None:
        """Push redelivery of these delivered records out by the given seconds (a Retry-After hint). Best effort:
        failures are logged, the record is retried anyway. Each redelivery still counts a receive."""
        ...

    def requeue(self, records: Sequence[tuple[RawRecord, float]]) -> set[str]:
        """Put these records back as NEW messages, delivered after the given seconds, so rate limiting never
        spends their receive count toward the DLQ. Returns the message ids now safely back in the queue: the
        caller acknowledges those originals; the others it retries as usual."""
        ...

    def receive_limit(self, record: RawRecord) -> int | None:
        """The maxReceiveCount of the redrive policy of the queue this record came from (None: no policy, or it
        cannot be read), read once per queue."""
        ...


# ---------------------------------------------------------------------------------------------- shared budget
class PermitBucket(Protocol):
    """A rate budget shared by every container of a deployment (a token bucket held in a store): permits are
    handed out as time slots, `interval` seconds apart for the fleet, a few per request."""

    @property
    def interval(self) -> float:
        """Seconds between two permits of the whole fleet."""
        ...

    def configure(self, rate_per_minute: float, burst: float) -> None:
        """The fleet's rate and burst (every container derives the same values from the same limits)."""
        ...

    def take(self, permits: int, max_wait: float) -> float:
        """Book `permits` consecutive slots; returns the wall-clock time (epoch s) the first is due (the others
        follow `interval` apart). Raises RateLimitedError (retry_after = the wait, as far as this container last saw
        the bucket: a lower bound) without booking anything when the first would be due more than `max_wait`
        seconds from now; TransientError when the store fails."""
        ...

    def hold(self, seconds: float) -> None:
        """No slot before `seconds` from now (the server said 429 with this Retry-After). Best effort."""
        ...


def schedule_permits(
    next_free: float | None, now: float, permits: int, interval: float, burst: float
) -> tuple[float, float]:
    """The rule every PermitBucket follows (virtual scheduling, GCRA): the first of `permits` slots is the next
    free one, but never earlier than `burst` - 1 intervals before now (an idle bucket lends a burst, no more).
    Returns (first slot, the next free slot after these)."""
    earliest = now - max(0.0, burst - 1.0) * interval
    start = earliest if next_free is None else max(next_free, earliest)
    return start, start + permits * interval


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

    def requeue(self, records: Sequence[tuple[RawRecord, float]]) -> set[str]:
        """Put these received records back as fresh deliveries (receive count restarted) after the given seconds,
        and drop the received copies: for records that were only rate limited. Returns the message ids done;
        the caller changes the visibility of the others as for any retry."""
        ...

    def receive_limit(self) -> int | None:
        """The receives after which the queue dead-letters a message (its redrive policy); None: never."""
        ...


# ---------------------------------------------------------------------------------------------- outputs
@dataclass(frozen=True, slots=True)
class OutboundRecord:
    """One document for a sink: a derived `conversation.*` record or a raw event, serialised once."""

    key: str  # the receiver's idempotency key: `<conversationId>:<version>`, or a raw event's content key
    type: str  # "conversation.completed", "conversation.updated" or "genesys.event"
    body: bytes  # UTF-8 JSON, exactly what is sent (and signed)
    topic: str | None = None  # raw events: the Genesys topic (EventBridge detail-type)
    conversation_id: str | None = None


class Sink(Protocol):
    """A destination (webhook, EventBridge bus, Firehose stream). The claim/complete discipline around it is
    `gcevents.core.outputs`: a sink only delivers, and says which records it could not."""

    @property
    def name(self) -> str:
        """Stable and free of secrets (`webhook:host`, `eventbridge:bus`): logs and reasons use it."""
        ...

    def deliver(self, records: Sequence[OutboundRecord], deadline: float) -> Mapping[str, Exception]:
        """Deliver by `deadline` (epoch s). Returns key -> error for the records NOT delivered: TransientError
        (retry later; `retry_after` when the receiver said when) or PermanentError (dead-letter the inputs).
        Never raises for a record's failure."""
        ...


class CompletionTimerScheduler(Protocol):
    """A queue that takes delayed messages: the completion grace timer re-enters the pipeline through it."""

    def schedule(self, messages: Sequence[tuple[str, float]]) -> None:
        """Enqueue (body, delay seconds <= 900) pairs. Raises TransientError when it could not."""
        ...


CheckScheduler = CompletionTimerScheduler  # deprecated: the old name ("check" now means validation only)


# ---------------------------------------------------------------------------------------------- reconciliation
@dataclass(slots=True)
class AnalyticsWindow:
    """The conversations Genesys analytics says ended in a window, and what reading them took."""

    conversations: list[dict[str, Any]] = field(default_factory=list)  # analytics documents, each once
    mode: str = "query"  # "query" (the synchronous details query) or "job" (the asynchronous jobs API)
    total_hits: int = 0  # conversations with activity in the window, as the query counted them
    pages: int = 0
    polls: int = 0  # job status reads


class ConversationHistory(Protocol):
    """The source of truth `gcevents reconcile` compares the tracked state with (Genesys analytics)."""

    def ended_between(self, start: datetime, end: datetime, deadline: float) -> AnalyticsWindow:
        """Conversations whose end is in [start, end), finishing (or raising a TransientError) by `deadline`."""
        ...
