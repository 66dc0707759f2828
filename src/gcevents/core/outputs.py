"""Outputs without code: derived `conversation.*` records and raw events, delivered once per sink.

Emission is driven by "this record version is complete and not yet delivered to this sink", never by "this
batch changed the state": a delivery that failed is retried with the events that triggered it, and on that
retry the state is unchanged, so only a look at the *current* state can find the undelivered version.

Per sink and record, under the same idempotency store as the events (keys are prefixed, so they never collide):

- `out:<sink>:<recordKey>` is claimed before the delivery, COMPLETED after it succeeded and released when it
  failed. A COMPLETED key is skipped: a version is delivered to a sink once, and retried only when it failed.
- `out:<sink>:first:<conversationId>` marks that this sink received its `conversation.completed`. Whoever claims
  it delivers `completed`; once it is COMPLETED every later version goes out as `conversation.updated`. A failed
  `completed` releases the marker, so the next try says `completed` again (with the newest version).

A conversation that ended with an agent's wrap-up still missing schedules a completion timer: a small message,
delayed on the queue the events come from (SQS DelaySeconds <= 900; a timer that arrives before it is due
re-schedules itself), which re-enters the pipeline like an event. When it is due the record goes out as it is.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gcevents.core.attributes import DEFAULT_POLICY, AttributePolicy
from gcevents.core.documents import (
    COMPLETED,
    RAW_EVENT,
    SPEC_VERSION,
    UPDATED,
    derive,
    document,
    document_key,
    encode,
    is_ended,
    is_wrapped_up,
    version_of,
)
from gcevents.core.events import TIMER_KIND, TIMER_TOPIC_PREFIX, GenesysEvent
from gcevents.core.idempotency import Idempotency
from gcevents.core.router import BatchOutcome, WorkItem, topic_matches
from gcevents.core.state import iso
from gcevents.errors import PermanentError, SinkFailedError, TransientError
from gcevents.ports import (
    NOOP_TRACER,
    Claim,
    ClaimResult,
    ClaimStatus,
    Clock,
    CompletionTimerScheduler,
    OutboundRecord,
    Sink,
    StoredState,
    SystemClock,
    Tracer,
)
from gcevents.retry import RetryBudget

log = logging.getLogger(__name__)

DERIVED = frozenset({COMPLETED, UPDATED})
MAX_TIMER_DELAY = 900.0  # SQS DelaySeconds maximum
CONTENTION_ROUNDS = 4  # short waits for a `completed` another batch is delivering, before handing events back
TIMER_SOURCE = "gcevents"


@dataclass(frozen=True, slots=True)
class Route:
    """A sink and what goes to it: derived kinds and/or raw events whose topic matches a pattern."""

    sink: Sink
    sink_id: str  # stable, short, secret-free (a hash of the sink spec): part of the idempotency keys
    derived: frozenset[str] = DERIVED
    patterns: tuple[str, ...] = ()

    def wants_topic(self, topic: str) -> bool:
        return any(topic_matches(pattern, topic) for pattern in self.patterns)


@dataclass(frozen=True, slots=True)
class OutputSettings:
    grace_seconds: float = 900.0  # after the end, how long to wait for a missing wrap-up
    # Seconds before looking again when another batch is delivering this conversation's `completed` (another
    # version): it usually finishes within a request's time, and ours must follow it as `updated`.
    in_progress_retry_cap: float = 5.0


@dataclass(frozen=True, slots=True)
class _Pending:
    route: Route
    key: str  # the receiver's idempotency key
    owner: str  # what a failure is reported against: a conversationId or an event's content key
    build: Callable[[str], OutboundRecord]  # record type -> the record
    first_key: str | None = None  # derived records: the route's `completed` marker

    @property
    def delivery_key(self) -> str:
        return f"out:{self.route.sink_id}:{self.key}"


@dataclass(slots=True)
class _Round:
    """One delivery round's bookkeeping: what to complete, release, send, and who failed."""

    done: list[Claim] = field(default_factory=list)
    release: list[Claim] = field(default_factory=list)
    ready: dict[str, list[tuple[_Pending, OutboundRecord, list[Claim]]]] = field(default_factory=dict)
    failures: dict[str, Exception] = field(default_factory=dict)
    contended: list[tuple[_Pending, Exception]] = field(default_factory=list)  # another batch has `first`
    delivered_before: list[str] = field(default_factory=list)  # owners of deliveries found COMPLETED

    def fail(self, owner: str, error: Exception) -> None:
        # A permanent failure wins: its inputs are dead-lettered, and a redrive re-evaluates every sink.
        if not isinstance(self.failures.get(owner), PermanentError):
            self.failures[owner] = error


class Deliveries:
    """The claim/complete discipline around sinks, shared by derived records and raw events."""

    def __init__(
        self,
        idempotency: Idempotency,
        *,
        clock: Clock | None = None,
        settings: OutputSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        tracer: Tracer | None = None,
    ) -> None:
        self.idempotency = idempotency
        self.tracer = tracer or NOOP_TRACER
        self._sleep = sleep
        self.clock = clock or SystemClock()
        self.settings = settings or OutputSettings()
        self._lock = threading.Lock()
        self.counts: dict[str, int] = {}  # "<type>" -> records delivered by this container, for metrics/demo
        # "sink.<kind>.<counter>" -> this container's total: delivered, failed, calls, latency_ms (summed)
        self.sink_counts: defaultdict[str, float] = defaultdict(float)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    def sink_counters(self) -> dict[str, float]:
        with self._lock:
            return dict(self.sink_counts)

    def run(self, pending: Sequence[_Pending], deadline: float) -> tuple[dict[str, Exception], frozenset[str]]:
        """Deliver what is not delivered yet: owner -> error for what failed, and the owners whose every delivery
        was found delivered before (a re-send: nothing to do). A conversation whose `completed` another batch is
        delivering right now (concurrent batches often share conversations) is looked at again after a short wait,
        a few times, before its events are handed back."""
        if not pending:
            return {}, frozenset()
        with self.tracer.span("outputs", {"gcevents.records": len(pending)}) as span:
            failures, before = self._rounds(pending, deadline)
            span.set_attribute("gcevents.failed", len(failures))
        wanted = Counter(p.owner for p in pending)
        return failures, frozenset(o for o, n in wanted.items() if before[o] == n and o not in failures)

    def _rounds(self, pending: Sequence[_Pending], deadline: float) -> tuple[dict[str, Exception], Counter[str]]:
        failures: dict[str, Exception] = {}
        before: Counter[str] = Counter()  # owner -> deliveries found COMPLETED (a delivery is decided once)
        budget = RetryBudget(CONTENTION_ROUNDS, base=0.05, cap=0.5, sleep=self._sleep)
        todo = list(pending)
        while todo:
            work = self._round(todo, deadline)
            before.update(work.delivered_before)
            for owner, error in work.failures.items():
                failures.setdefault(owner, error)
            todo = [item for item, _ in work.contended]
            if todo and (self.clock.now() + 1.0 >= deadline or not budget.retry()):
                for item, error in work.contended:
                    failures.setdefault(item.owner, error)
                break
        return failures, before

    def _round(self, pending: Sequence[_Pending], deadline: float) -> _Round:
        keys = [k for p in pending for k in (p.delivery_key, p.first_key) if k is not None]
        claimed = self.idempotency.claim_all(list(dict.fromkeys(keys)), lease_until=deadline)
        now_ms = int(self.clock.now() * 1000)
        work = _Round()
        for item in pending:
            self._decide(item, claimed, now_ms, work)
        for group in work.ready.values():
            self._send(group, deadline, work)
        try:
            self.idempotency.complete(work.done)
        except Exception:  # delivered: a key left IN_PROGRESS lapses at the deadline, then re-delivers once
            log.exception("could not mark deliveries completed", extra={"count": len(work.done)})
        if work.release:
            self.idempotency.release(work.release)
        return work

    def _count(self, sink: str, delivered: int, failed: int, seconds: float) -> None:
        kind = sink.partition(":")[0]  # a metric per kind of sink: names stay few and free of hosts
        counts = {"delivered": delivered, "failed": failed, "calls": 1, "latency_ms": round(seconds * 1000, 3)}
        with self._lock:
            for name, value in counts.items():
                self.sink_counts[f"sink.{kind}.{name}"] += value

    def _decide(
        self, item: _Pending, claimed: Mapping[str, tuple[Claim, ClaimResult] | Exception], now_ms: int, work: _Round
    ) -> None:
        mine = [c for k in (item.delivery_key, item.first_key) if k and (c := _claimed(claimed.get(k)))]
        delivery = claimed.get(item.delivery_key)
        blocked = self._blocked(delivery, now_ms)
        kind = RAW_EVENT
        contended = False
        if blocked is None and item.first_key is not None:
            first = claimed.get(item.first_key)
            blocked = self._blocked(first, now_ms)
            contended = isinstance(first, tuple) and first[1].status is ClaimStatus.IN_PROGRESS
            kind = COMPLETED if _claimed(first) else UPDATED
        if isinstance(delivery, tuple) and delivery[1].status is not ClaimStatus.CLAIMED:
            # COMPLETED: delivered before. IN_PROGRESS: another batch is delivering this very record; if it
            # fails, its own inputs are retried and re-evaluate the current state, which includes ours.
            work.release.extend(mine)
            if delivery[1].status is ClaimStatus.COMPLETED:
                work.delivered_before.append(item.owner)
        elif blocked is not None:
            work.release.extend(mine)
            if contended:
                work.contended.append((item, blocked))
            else:
                work.fail(item.owner, blocked)
        elif kind != RAW_EVENT and kind not in item.route.derived:
            work.done.extend(mine)  # e.g. a route for `updated` only: its first version is not sent
        else:
            work.ready.setdefault(item.route.sink_id, []).append((item, item.build(kind), mine))

    def _blocked(self, outcome: tuple[Claim, ClaimResult] | Exception | None, now_ms: int) -> Exception | None:
        """Why this claim stops the delivery for now (None: it does not; COMPLETED is the caller's business)."""
        if outcome is None:
            return TransientError("delivery claim gave no answer")
        if isinstance(outcome, Exception):
            return outcome if isinstance(outcome, TransientError) else TransientError(f"delivery claim: {outcome!r}")
        result = outcome[1]
        if result.status is ClaimStatus.IN_PROGRESS:
            lease_left = ((result.lease_until_ms or now_ms) - now_ms) / 1000
            wait = max(1.0, min(lease_left, self.settings.in_progress_retry_cap))
            return TransientError("delivery in progress elsewhere", retry_after=wait)
        return None

    def _send(self, group: list[tuple[_Pending, OutboundRecord, list[Claim]]], deadline: float, work: _Round) -> None:
        sink = group[0][0].route.sink
        records = [record for _, record, _ in group]
        started = time.perf_counter()
        try:
            errors = {key: _labelled(sink.name, e) for key, e in sink.deliver(records, deadline).items()}
        except Exception as exc:  # a sink bug must not lose the batch: everything it was given is retried
            log.exception("sink failed", extra={"sink": sink.name})
            errors = dict.fromkeys((r.key for r in records), SinkFailedError(sink.name, type(exc).__name__))
        self._count(sink.name, len(records) - len(errors), len(errors), time.perf_counter() - started)
        delivered: dict[str, int] = {}
        for item, record, claims in group:
            error = errors.get(record.key)
            if error is None:
                work.done.extend(claims)
                delivered[record.type] = delivered.get(record.type, 0) + 1
            else:
                work.release.extend(claims)
                work.fail(item.owner, error)
        if len(errors):
            log.warning(
                "sink delivery failed", extra={"sink": sink.name, "failed": len(errors), "error": _first(errors)}
            )
        with self._lock:
            for kind, count in delivered.items():
                self.counts[kind] = self.counts.get(kind, 0) + count


def _labelled(sink: str, error: Exception) -> Exception:
    """A sink's transient error as a SinkFailedError, labelled `sink_failed:<sink>` in retry reasons and in the dead
    letter a redrive writes; a permanent one keeps its own reason (`sink_rejected`)."""
    if isinstance(error, SinkFailedError | PermanentError):
        return error
    labelled = SinkFailedError(sink, str(error), retry_after=getattr(error, "retry_after", None))
    labelled.__cause__ = error
    return labelled


def _claimed(outcome: tuple[Claim, ClaimResult] | Exception | None) -> Claim | None:
    if isinstance(outcome, tuple) and outcome[1].status is ClaimStatus.CLAIMED:
        return outcome[0]
    return None


def _first(errors: Mapping[str, Exception]) -> str:
    error = next(iter(errors.values()))
    return f"{type(error).__name__}: {str(error)[:300]}"


# ---------------------------------------------------------------------------------------------- derived
class ConversationOutputs:
    """Evaluates touched conversations after the state projection applied a batch (`StateProjection`)."""

    def __init__(
        self,
        routes: Sequence[Route],
        deliveries: Deliveries,
        *,
        scheduler: CompletionTimerScheduler | None = None,
        settings: OutputSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.routes = [r for r in routes if r.derived]
        self.deliveries = deliveries
        self.scheduler = scheduler
        self.settings = settings or OutputSettings()
        self.clock = clock or SystemClock()

    def evaluate(
        self, states: Mapping[str, StoredState], timers: Mapping[str, int], deadline: float
    ) -> dict[str, Exception]:
        """`states`: the current item of every touched conversation; `timers`: conversationId -> due (epoch ms)
        of the completion timers in the batch. Returns conversationId -> error for what must be retried."""
        if not self.routes:
            return {}
        now_ms = int(self.clock.now() * 1000)
        pending: list[_Pending] = []
        waiting: dict[str, tuple[dict[str, Any], str, int | None]] = {}
        for cid, item in states.items():
            if not is_ended(item.state):
                continue
            content = derive(cid, item.state)
            version = version_of(content)
            due = timers.get(cid)
            if is_wrapped_up(item.state) or self.settings.grace_seconds <= 0 or (due is not None and due <= now_ms):
                pending.extend(self._pending(cid, content, version, self.routes))
            else:
                waiting[cid] = (content, version, due)
        to_schedule = self._waiting(waiting, pending, now_ms)
        failures, _ = self.deliveries.run(pending, deadline)
        for cid, error in self._schedule(to_schedule, now_ms).items():
            failures.setdefault(cid, error)
        return failures

    def _waiting(
        self, waiting: Mapping[str, tuple[dict[str, Any], str, int | None]], pending: list[_Pending], now_ms: int
    ) -> dict[str, int]:
        """Ended, a wrap-up missing, grace not over. A sink that already had its `completed` (the grace ran out
        earlier) gets the new version as `updated` now; the others wait for a timer. Returns cid -> due."""
        if not waiting:
            return {}
        markers = {(r.sink_id, cid): _first_key(r, cid) for cid in waiting for r in self.routes}
        try:
            marked = self.deliveries.idempotency.store.completed(list(markers.values()), now_ms)
        except Exception:  # an optimisation of the wait only: the timer will deliver
            log.warning("could not read completion markers", exc_info=True)
            marked = set()
        to_schedule: dict[str, int] = {}
        for cid, (content, version, due) in waiting.items():
            done = [r for r in self.routes if markers[(r.sink_id, cid)] in marked]
            pending.extend(self._pending(cid, content, version, done))
            if len(done) < len(self.routes):
                to_schedule[cid] = due if due is not None else now_ms + int(self.settings.grace_seconds * 1000)
        return to_schedule

    def _pending(self, cid: str, content: dict[str, Any], version: str, routes: Sequence[Route]) -> list[_Pending]:
        key = document_key(cid, version)

        def build(kind: str) -> OutboundRecord:
            return OutboundRecord(key, kind, encode(document(kind, cid, version, content)), None, cid)

        return [_Pending(r, key, cid, build, _first_key(r, cid)) for r in routes]

    def _schedule(self, due: Mapping[str, int], now_ms: int) -> dict[str, Exception]:
        if not due:
            return {}
        if self.scheduler is None:
            return {}  # no queue to wait on (documented): the record goes out with the next wrap-up or event
        messages = [
            (timer_message(cid, when, now_ms), min(MAX_TIMER_DELAY, max(0.0, (when - now_ms) / 1000)))
            for cid, when in due.items()
        ]
        try:
            self.scheduler.schedule(messages)
        except Exception as exc:
            error = exc if isinstance(exc, TransientError) else TransientError(f"scheduling a completion timer: {exc}")
            return dict.fromkeys(due, error)
        return {}


def _first_key(route: Route, conversation_id: str) -> str:
    return f"out:{route.sink_id}:first:{conversation_id}"


def timer_message(conversation_id: str, due_ms: int, now_ms: int) -> str:
    """The completion timer: an EventBridge-shaped envelope the parser knows (`TIMER_KIND`). Its content key
    includes `eventTime`, so a re-scheduled timer is a new message, not a duplicate of the early one."""
    return json.dumps(
        {
            "version": "0",
            "source": TIMER_SOURCE,
            "detail-type": TIMER_KIND,  # "gcevents.check" on the wire, as before the rename
            "detail": {
                "topicName": f"{TIMER_TOPIC_PREFIX}{conversation_id}",
                "eventBody": {"conversationId": conversation_id, "eventTime": now_ms, "dueMs": due_ms},
            },
        },
        separators=(",", ":"),
    )


def due_timers(conversation_ids: Sequence[str], now: float | None = None) -> list[str]:
    """One timer per conversation, due now: what a run without a queue evaluates at its end."""
    now_ms = int((time.time() if now is None else now) * 1000)
    return [timer_message(cid, now_ms, now_ms) for cid in conversation_ids]


due_checks = due_timers  # deprecated: the old name


def timer_due(event: GenesysEvent) -> int:
    """The due time (epoch ms) of a completion timer; 0 (due) when the body does not say."""
    due = event.body.get("dueMs")
    return int(due) if isinstance(due, int | float) and not isinstance(due, bool) else 0


def is_timer(event: GenesysEvent) -> bool:
    return event.kind == TIMER_KIND


# ---------------------------------------------------------------------------------------------- raw events
class RawEventRoutes:
    """A batch handler: raw events whose topic a route selects, one delivery per unique event and sink."""

    guards_itself = True  # every delivery runs under its own `out:<sink>:<content key>` claim (`Router.needs_claim`)

    def __init__(
        self, routes: Sequence[Route], deliveries: Deliveries, attributes: AttributePolicy = DEFAULT_POLICY
    ) -> None:
        self.routes = [r for r in routes if r.patterns]
        self.deliveries = deliveries
        self.attributes = attributes  # GCEVENTS_ATTRIBUTES applies to forwarded raw events too

    def handle_batch(self, items: Sequence[WorkItem]) -> BatchOutcome:
        """Failures by content key; as already applied the events whose every delivery was found delivered before,
        as first seen those delivered now. An event no route selects is neither: this handler cannot tell."""
        pending: list[_Pending] = []
        for item in items:
            event = item.event
            if is_timer(event):
                continue
            build = _raw_builder(event, self.attributes)
            for route in self.routes:
                if route.wants_topic(event.topic):
                    pending.append(_Pending(route, event.content_key, event.content_key, build))
        if not pending:
            return BatchOutcome()
        failures, before = self.deliveries.run(pending, min(item.context.deadline for item in items))
        now = frozenset(p.owner for p in pending if p.owner not in before and p.owner not in failures)
        return BatchOutcome(failures, already_applied=before, first_seen=now)


def _raw_builder(event: GenesysEvent, attributes: AttributePolicy) -> Callable[[str], OutboundRecord]:
    def build(_kind: str) -> OutboundRecord:
        return OutboundRecord(
            event.content_key, RAW_EVENT, encode(raw_document(event, attributes)), event.topic, event.conversation_id
        )

    return build


def raw_document(event: GenesysEvent, attributes: AttributePolicy = DEFAULT_POLICY) -> dict[str, Any]:
    """A raw event as delivered: our envelope around the original EventBridge event (gcevents.schemas:
    genesys.event.v1), its participant attributes passed through the attribute policy."""
    text = event.record.text()
    try:
        original: Any = json.loads(text)
    except ValueError:
        original = text
    _redact_attributes(original, attributes)
    return {
        "specVersion": SPEC_VERSION,
        "type": RAW_EVENT,
        "id": event.content_key,
        "topic": event.topic,
        "conversationId": event.conversation_id,
        "eventTime": iso(int(event.event_time.timestamp() * 1000)),
        "event": original,
    }


def _redact_attributes(original: Any, attributes: AttributePolicy) -> None:
    detail = original.get("detail") if isinstance(original, dict) else None
    body = detail.get("eventBody") if isinstance(detail, dict) else None
    if isinstance(body, dict) and isinstance(body.get("attributes"), dict):
        body["attributes"] = attributes.apply(body["attributes"])
