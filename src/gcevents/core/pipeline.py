"""The batch algorithm, pure over ports. A record's whole life, in the order `Pipeline.run` calls the steps:

parse -> fold in-batch duplicates -> claim (idempotency) -> bulk enrichment -> handlers -> settle (complete /
release) -> dead-letter -> folded copies follow their primary -> per-record outcome (the partial-batch-failure
report).

An event that only self-guarding handlers want (the state projection, sinks: `Router.needs_claim`) takes no claim and
leaves no COMPLETED mark: it runs *claim-free*, and a re-send of it runs again, to the same effect. Its label is exact
all the same: DUPLICATE (`already_applied`) when a batch handler wanting it had seen it before (the projection: its
conversation state records the content keys it was built from), PROCESSED when one saw it first (`superseded` when it
changed nothing: newer facts were there first); when no handler can tell, an idempotency mark decides
(`Pipeline._mark`). A first-seen event is never DUPLICATE, a re-send never PROCESSED. Enriched events and
late or reconciled once-per-session facts are claimed all the same (`Pipeline._claim` says why).

Invariant: every input record ends in exactly one outcome. PROCESSED and DUPLICATE are acknowledged,
DEAD_LETTERED is acknowledged only once the sink has it, RETRY goes back to the queue with its claim released.
A RETRY caused by rate limiting (a 429, or our own limiter out of budget) is marked `throttled`: the runners put
such a record back as a new delivery, so throttling never spends its receive count toward the DLQ.
"""

from __future__ import annotations

import contextvars
import enum
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from gcevents.core.events import GenesysEvent, RawRecord, Reason, Rejection, parse_record, rejection_key
from gcevents.core.idempotency import Idempotency, Lease
from gcevents.core.router import BatchOutcome, HandlerContext, Router, WorkItem, topic_matches
from gcevents.errors import PermanentError, RateLimitedError, SinkFailedError, TransientError
from gcevents.logcontext import log_context
from gcevents.ports import (
    NOOP_TRACER,
    AttributeValue,
    Claim,
    ClaimResult,
    ClaimStatus,
    Clock,
    DeadLetter,
    DeadLetterSink,
    Enricher,
    EnrichmentResult,
    Span,
    SystemClock,
    Tracer,
)

log = logging.getLogger(__name__)

SUPERSEDED = "superseded"  # a first-seen claim-free event that changed nothing: newer facts were there first
ALREADY_APPLIED = "already_applied"  # a claim-free DUPLICATE: a handler that wants it had seen it before
_IN_BATCH = "in_batch"  # the reason of a DUPLICATE folded into an earlier copy of the same content in the batch
FACT_APPLIED = "fact_already_applied"  # a DUPLICATE: this once-per-session fact was applied by another event


class _NotStarted(TransientError):
    """A handler that never ran: the batch ran out of time (or was stopped) before its event's turn."""


class Outcome(enum.Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead_lettered"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class RecordResult:
    record: RawRecord
    outcome: Outcome
    reason: str | None = None  # dead-letter reason or why a retry is needed
    retry_after: float | None = None  # seconds, a hint for the redelivery delay
    event: GenesysEvent | None = None
    throttled: bool = False  # RETRY because an API said 429 (or our limiter had no budget): never a reason to DLQ
    # RETRY before its handlers ran (the deadline came first, another consumer holds its key): no failure of its own,
    # so near maxReceiveCount the runners re-send it rather than let the queue dead-letter it (docs/operations.md)
    unattempted: bool = False


@dataclass(slots=True)
class BatchReport:
    results: list[RecordResult] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    def counts(self) -> Counter[str]:
        return Counter(r.outcome.value for r in self.results)

    def dead_letter_reasons(self) -> Counter[str]:
        return Counter(r.reason or "unknown" for r in self.results if r.outcome is Outcome.DEAD_LETTERED)

    def retry_reasons(self) -> Counter[str]:
        """Why records go back, by kind (`enrichment_failed`, `in_progress_elsewhere` ...: the text before a colon)."""
        return Counter((r.reason or "retry").split(":", 1)[0] for r in self.results if r.outcome is Outcome.RETRY)

    def retries(self) -> list[RecordResult]:
        return [r for r in self.results if r.outcome is Outcome.RETRY]

    def throttled(self) -> list[RecordResult]:
        """Retries caused by rate limiting: the runners re-send these (a fresh receive count) after the delay."""
        return [r for r in self.results if r.outcome is Outcome.RETRY and r.throttled]

    def batch_item_failures(self) -> list[dict[str, str]]:
        """SQS partial batch response; every RETRY record must have a messageId (SQS input guarantees it). A
        message delivered twice in one batch is named once."""
        failed = dict.fromkeys(
            r.record.message_id for r in self.results if r.outcome is Outcome.RETRY and r.record.message_id
        )
        return [{"itemIdentifier": message_id} for message_id in failed if message_id]

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "records": len(self.results),
            **{o.value: counts.get(o.value, 0) for o in Outcome},
            "dead_letter_reasons": dict(self.dead_letter_reasons()),
            "retry_reasons": dict(self.retry_reasons()),
            "duration_ms": round((self.finished - self.started) * 1000, 1),
        }


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    allowed_sources: tuple[str, ...] = ()
    enrich_kinds: frozenset[str] = frozenset({"conversation.customer.end", "conversation.acw"})
    lag_retries: int = 2  # analytics may lag: retry an event whose conversation is unknown this many times
    lag_retry_delay: float = 60.0
    deadline_margin: float = 5.0  # start no new work this close to the deadline
    handler_concurrency: int = 8  # conversations processed in parallel (events of one conversation in order)
    # Longest wait before re-checking a key another consumer holds. A wait lasts until the holder's lease ends (plus
    # the clock-skew margin): one receive per wait, and a crashed holder's key is free when we look again. The cap
    # only bounds absurd leases; it covers the longest lease a runner takes (a 900 s Lambda invocation).
    in_progress_retry_cap: float = 900.0
    # An event of a once-per-session kind processed this many seconds or more after its eventTime also claims its
    # fact key (`events.FACT_KINDS`): only such a late event can meet a fact `gcevents reconcile` rebuilt, since
    # reconcile only touches facts older than this plus the longest lease (docs/operations.md). 0: every one.
    fact_keys_after: float = 600.0


@dataclass(slots=True)
class _Batch:
    """One run's working state, indexed by the position of each record in the delivered batch."""

    # The delivery and its time.
    records: Sequence[RawRecord]
    deadline: float
    out_of_time: Callable[[], bool]
    started: float
    # Parsing and folding: the events, the record doing the work of each content key; rejections have content keys
    # too (`rejection_key`), so a re-delivered malformed record is not dead-lettered twice: the first copy of each
    # key, and the other copies in this batch (-> their first).
    events: dict[int, GenesysEvent] = field(default_factory=dict)
    primaries: dict[str, int] = field(default_factory=dict)  # content key -> the record that does the work
    rejected: dict[str, int] = field(default_factory=dict)
    rejected_copies: dict[int, int] = field(default_factory=dict)
    # Claims: content keys, fact keys and dead letters' keys this run holds, and what runs claim-free.
    lease: Lease | None = None  # None: the claims are leased until the deadline, without renewal (Lambda, local runs)
    claims_until: float = 0.0  # the lease end the content claims were taken with (fact claims take the same)
    claims: dict[int, Claim] = field(default_factory=dict)  # records this run owns the key of
    free: list[int] = field(default_factory=list)  # records that run claim-free (`Router.needs_claim`)
    fact_claims: dict[int, Claim] = field(default_factory=dict)  # fact keys this run holds (`_claim_facts`)
    facts_done: list[Claim] = field(default_factory=list)  # content claims of copies whose fact was applied before
    letter_claims: dict[int, Claim] = field(default_factory=dict)
    # The work: analytics details, handler failures.
    enrichment: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # conversationId -> details
    errors: dict[int, BaseException] = field(default_factory=dict)
    # Claim-free records: what the batch handlers wanting them knew (`BatchOutcome`), for their exact labels.
    applied_by: Counter[int] = field(default_factory=Counter)  # how many found it seen before
    first_seen: set[int] = field(default_factory=set)  # a handler saw it first
    superseded: set[int] = field(default_factory=set)  # ... and it changed nothing there
    unrecorded: set[str] = field(default_factory=set)  # content keys a handler cannot recognise again: marked
    # The outcome: one result per record, and the dead letters to send.
    results: dict[int, RecordResult] = field(default_factory=dict)
    letters: dict[int, DeadLetter] = field(default_factory=dict)

    def retry(
        self,
        index: int,
        reason: str,
        retry_after: float | None = None,
        *,
        cause: object = None,
        unattempted: bool = False,
    ) -> None:
        event = self.events[index]
        throttled = isinstance(cause, RateLimitedError)
        unattempted = unattempted or isinstance(cause, _NotStarted)
        self.results[index] = RecordResult(
            event.record, Outcome.RETRY, reason, retry_after, event, throttled, unattempted
        )

    def runnable(self) -> list[int]:
        """Claimed and claim-free records that nothing has settled yet (enrichment may have sent some back)."""
        return [i for i in (*self.claims, *self.free) if i not in self.results]


class Pipeline:
    def __init__(
        self,
        *,
        idempotency: Idempotency,
        dead_letters: DeadLetterSink,
        router: Router,
        enricher: Enricher | None = None,
        settings: PipelineSettings | None = None,
        clock: Clock | None = None,
        services: Mapping[str, Any] | None = None,
        tracer: Tracer | None = None,
    ) -> None:
        self.idempotency = idempotency
        self.dead_letters = dead_letters
        self.router = router
        self.enricher = enricher
        self.settings = settings or PipelineSettings()
        self.clock = clock or SystemClock()
        self.services = dict(services or {})
        self.tracer = tracer or NOOP_TRACER
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self.settings.handler_concurrency), thread_name_prefix="gcevents-handler"
        )

    def close(self) -> None:
        """Let the handler threads go (a short-lived pipeline, e.g. a reconcile run's; a runtime's lives on)."""
        self._pool.shutdown(wait=True)

    def run(
        self,
        records: Sequence[RawRecord],
        deadline: float,
        *,
        stop: threading.Event | None = None,
        lease: Lease | None = None,
    ) -> BatchReport:
        """`deadline` (epoch s) ends new work and, without a `lease`, the idempotency leases; `stop` (a worker's
        SIGTERM) ends new work early. With a `lease` (renewed by the caller's heartbeat) claims are leased for its
        length, and no new work starts once it is about to end unrenewed."""
        margin = self.settings.deadline_margin

        def out_of_time() -> bool:
            now = self.clock.now()
            stopping = stop is not None and stop.is_set()
            return stopping or now >= deadline - margin or (lease is not None and lease.ending(now, margin))

        batch = _Batch(records, deadline, out_of_time, started=self.clock.now(), lease=lease)
        span = self.tracer.span
        with span("batch", {"gcevents.records": len(records)}) as root:
            self._parse(batch)
            with span("claim") as step:
                self._claim(batch)
                self._claim_facts(batch)
                self._claim_rejections(batch)
                _set(step, events=len(batch.primaries), claimed=len(batch.claims), claim_free=len(batch.free))
            with span("enrich") as step:
                calls = self._api_calls()
                self._enrich(batch)
                _set(step, conversations=len(batch.enrichment), genesys_api_calls=self._api_calls() - calls)
            with span("handle", {"gcevents.events": len(batch.runnable())}) as step:
                self._handle(batch)
                _set(step, failed=len(batch.errors))
            with span("complete") as step:
                self._settle(batch)
                self._dead_letter(batch)
                self._settle_facts(batch)  # after the dead letters: a fact key follows its event's final outcome
                self._follow_primaries(batch)
                _set(step, dead_letters=len(batch.letters))
            report = BatchReport([batch.results[i] for i in range(len(records))], batch.started, self.clock.now())
            counts = report.counts()
            _set(root, **{o.value: counts.get(o.value, 0) for o in Outcome})
            root.set_attribute("gcevents.outcome", "retry" if counts.get(Outcome.RETRY.value) else "done")
        return report

    def _api_calls(self) -> int:
        """Genesys API calls so far (the client's counter), for the enrich span."""
        client = self.services.get("genesys")
        return int(client.stats.snapshot()["api_calls"]) if client is not None else 0

    # ----------------------------------------------------------------------------------------- parse + fold
    def _parse(self, batch: _Batch) -> None:
        """Events or rejections (dead-lettered with a reason); copies of an event already in the batch fold into
        it before any I/O (Genesys has no event id: identity is the content key)."""
        for index, record in enumerate(batch.records):
            parsed = parse_record(record, self.settings.allowed_sources)
            if isinstance(parsed, Rejection):
                key = rejection_key(parsed)
                if key in batch.rejected:
                    batch.rejected_copies[index] = batch.rejected[key]
                else:
                    batch.rejected[key] = index
                    batch.letters[index] = _letter_for_rejection(parsed)
                continue
            batch.events[index] = parsed
            if parsed.content_key in batch.primaries:
                batch.results[index] = RecordResult(record, Outcome.DUPLICATE, _IN_BATCH, event=parsed)
            else:
                batch.primaries[parsed.content_key] = index

    # ----------------------------------------------------------------------------------------------- claim
    def _claim(self, batch: _Batch) -> None:
        if not batch.primaries:
            return
        if batch.out_of_time():
            for index in batch.primaries.values():
                batch.retry(index, "deadline_before_start", unattempted=True)
            return
        # Claim-free: what only self-guarding handlers want, unless it must claim its fact key (`_claim_facts`): a
        # reconciled or late once-per-session event is applied once with its rebuilt copy, state and records included.
        # An enriched event is claimed too: it merges what analytics says when it runs, so running it again is not
        # running it once (newer details, a new state version, a derived update from a mere duplicate).
        wanted: dict[str, int] = {}
        now = self.clock.now()
        for key, index in batch.primaries.items():
            event = batch.events[index]
            enriched = self.enricher is not None and self._wants_enrichment(event)
            if enriched or self.router.needs_claim(event.topic) or self._fact_candidate(event, now):
                wanted[key] = index
            else:
                batch.free.append(index)
        if not wanted:
            return
        lease_until = batch.lease.begin() if batch.lease is not None else batch.deadline
        batch.claims_until = lease_until
        for index, claim in self._take(batch, wanted, lease_until).items():
            if claim is None:
                event = batch.events[index]
                batch.results[index] = RecordResult(event.record, Outcome.DUPLICATE, "already_processed", event=event)
            else:
                batch.claims[index] = claim
        if batch.lease is not None:
            batch.lease.hold(list(batch.claims.values()), lease_until)

    def _take(self, batch: _Batch, wanted: Mapping[str, int], lease_until: float) -> dict[int, Claim | None]:
        """Claims the keys at once. Per record: its Claim when taken, None when the key was COMPLETED before; a key
        that could not be claimed (an error, a lease held elsewhere) is a retry and is left out."""
        claimed = self.idempotency.claim_all(list(wanted), lease_until=lease_until)
        now_ms = int(self.clock.now() * 1000)
        taken: dict[int, Claim | None] = {}
        for key, index in wanted.items():
            outcome = claimed[key]
            if isinstance(outcome, Exception):
                batch.retry(index, f"claim_failed: {_describe(outcome)}", _retry_after(outcome))
            elif outcome[1].status is ClaimStatus.CLAIMED:
                taken[index] = outcome[0]
            elif outcome[1].status is ClaimStatus.COMPLETED:
                taken[index] = None
            else:
                batch.retry(index, "in_progress_elsewhere", self._recheck_after(outcome[1], now_ms), unattempted=True)
        return taken

    def _fact_candidate(self, event: GenesysEvent, now: float) -> bool:
        """An event that claims its fact key: a once-per-session one, reconciled or late."""
        late = now - event.event_time.timestamp() >= self.settings.fact_keys_after
        return event.fact_key is not None and (event.reconciled or late)

    def _claim_facts(self, batch: _Batch) -> None:
        """After the content keys: the fact key of every claimed event that is reconciled, or late, of a
        once-per-session kind. A fact applied before (by a reconciled copy, or by the real event when it was late)
        makes this copy a DUPLICATE, whose content key is completed (this copy is done too); two copies of one fact
        in a batch take turns (the second is retried and then finds the fact applied)."""
        wanted: dict[str, int] = {}
        now = self.clock.now()
        for index in list(batch.claims):
            event, fact_key = batch.events[index], batch.events[index].fact_key
            if fact_key is None or not self._fact_candidate(event, now):
                continue
            if fact_key in wanted:
                batch.retry(index, "fact_in_batch", 1.0, unattempted=True)  # `_settle` releases its content claim
            else:
                wanted[fact_key] = index
        if not wanted:
            return
        lease_until = batch.claims_until  # the content claims' lease end: both lapse together after a crash
        for index, claim in self._take(batch, wanted, lease_until).items():
            if claim is None:
                event = batch.events[index]
                batch.facts_done.append(batch.claims.pop(index))
                batch.results[index] = RecordResult(event.record, Outcome.DUPLICATE, FACT_APPLIED, event=event)
            else:
                batch.fact_claims[index] = claim
        if batch.lease is not None:  # renewed with the content claims while the handlers run
            batch.lease.hold(list(batch.fact_claims.values()), lease_until)

    def _settle_facts(self, batch: _Batch) -> None:
        """A fact key follows its event: COMPLETED when the event was applied, released otherwise, so the fact can
        still be applied by a retry, a redrive or a reconciled copy. Copies found applied complete their content."""
        done: list[Claim] = list(batch.facts_done)
        release: list[Claim] = []
        if batch.lease is not None:
            batch.lease.drop([*batch.fact_claims.values(), *batch.facts_done])
        for index, claim in batch.fact_claims.items():
            (done if batch.results[index].outcome is Outcome.PROCESSED else release).append(claim)
        try:
            self.idempotency.complete(done)
        except Exception:  # the lease still guards until the deadline; then a late copy may run once more
            log.exception("could not mark fact keys completed", extra={"count": len(done)})
        if release:
            self.idempotency.release(release)

    def _recheck_after(self, held: ClaimResult, now_ms: int) -> float:
        """A live lease elsewhere. Its holder usually finishes (or releases) well before the lease ends, so look
        again soon; only a crashed holder makes us wait for the whole lease."""
        lease_left = ((held.lease_until_ms or now_ms) - now_ms) / 1000
        return max(0.0, min(lease_left, self.settings.in_progress_retry_cap)) + self.idempotency.skew_margin

    # ---------------------------------------------------------------------------------------------- enrich
    def _enrich(self, batch: _Batch) -> None:
        """One bulk lookup for the conversations of every claimed event of an enriched kind. Conversations the
        API does not know yet (analytics lag) are retried a few times, then proceed without enrichment."""
        wanted = [i for i in batch.runnable() if self._wants_enrichment(batch.events[i])]
        if self.enricher is None or not wanted:
            return
        ids = list(dict.fromkeys(cid for i in wanted if (cid := batch.events[i].conversation_id)))
        found = self._lookup(ids, batch.deadline - self.settings.deadline_margin)
        for index in wanted:
            cid = batch.events[index].conversation_id or ""
            error = found.failed.get(cid)
            if error is not None:
                batch.retry(index, f"enrichment_failed: {_describe(error)}", _retry_after(error), cause=error)
            elif cid in found.missing and batch.events[index].record.receive_count <= self.settings.lag_retries:
                batch.retry(index, "enrichment_not_ready", self.settings.lag_retry_delay)
        batch.enrichment = found.details

    def _wants_enrichment(self, event: GenesysEvent) -> bool:
        return event.kind in self.settings.enrich_kinds and event.conversation_id is not None

    def _lookup(self, ids: list[str], deadline: float) -> EnrichmentResult:
        assert self.enricher is not None
        try:
            return self.enricher.enrich(ids, deadline)
        except Exception as exc:  # an enricher bug must not lose the batch: everything enriched is retried
            log.exception("enricher failed")
            failure: Exception = exc if isinstance(exc, TransientError) else TransientError(_describe(exc))
            return EnrichmentResult(failed=dict.fromkeys(ids, failure))

    # ---------------------------------------------------------------------------------------------- handle
    def _handle(self, batch: _Batch) -> None:
        """Per-event handlers (events of one conversation in event-time order, conversations in parallel), then
        batch handlers (e.g. the state projection) over what succeeded."""
        runnable = batch.runnable()
        if not runnable:
            return
        contexts = {i: self._context(batch, batch.events[i]) for i in runnable}
        groups: dict[str, list[int]] = defaultdict(list)
        idle: list[int] = []  # no per-event handler: only batch handlers (the projection) want them
        for i in runnable:
            if self.router.handlers_for(batch.events[i].topic):
                groups[batch.events[i].conversation_id or batch.events[i].content_key].append(i)
            else:
                idle.append(i)

        def run_group(indexes: list[int]) -> dict[int, BaseException]:
            first = batch.events[indexes[0]]
            group: dict[str, AttributeValue] = {"gcevents.conversation_id": first.conversation_id or first.content_key}
            with self.tracer.span("handle.conversation", {**group, "gcevents.events": len(indexes)}) as step:
                failed = self._run_group(batch, indexes, contexts)
                step.set_attribute("gcevents.failed", len(failed))
            return failed

        # A thread-pool hop costs a future and a wake-up per group: none for events no per-event handler wants, and
        # none when there is one group only.
        group_lists = list(groups.values())
        results: Iterable[dict[int, BaseException]]
        if len(group_lists) <= 1:
            results = map(run_group, group_lists)
        else:  # each group in a copy of this thread's context: its log lines carry the invocation's fields
            copies = [contextvars.copy_context() for _ in group_lists]
            results = self._pool.map(lambda copy, g: copy.run(run_group, g), copies, group_lists)
        for failed in results:
            batch.errors.update(failed)
        if idle and batch.out_of_time():
            batch.errors.update(dict.fromkeys(idle, _NotStarted("deadline reached before this event started")))
        self._run_batch_handlers(batch, runnable, contexts)

    def _context(self, batch: _Batch, event: GenesysEvent) -> HandlerContext:
        return HandlerContext(
            enrichment=batch.enrichment.get(event.conversation_id or ""),
            deadline=batch.deadline,
            idempotency_key=event.content_key,
            services=self.services,
            reconciled=event.reconciled,
            fact_key=event.fact_key,
        )

    def _run_group(
        self, batch: _Batch, indexes: list[int], contexts: Mapping[int, HandlerContext]
    ) -> dict[int, BaseException]:
        # A failed event does not hold back the later ones: SQS standard queues and Genesys guarantee no order
        # across batches anyway, and holding back would burn the receive counts of healthy events behind a
        # poison one until they too were dead-lettered.
        failed: dict[int, BaseException] = {}
        for i in sorted(indexes, key=lambda j: batch.events[j].event_time):
            if batch.out_of_time():
                failed[i] = _NotStarted("deadline reached before this event started")
                continue
            event = batch.events[i]
            with log_context(conversation_id=event.conversation_id, content_key=event.content_key):
                for handler in self.router.handlers_for(event.topic):
                    try:
                        handler(event, contexts[i])
                    except Exception as exc:
                        failed[i] = exc
                        break
        return failed

    def _run_batch_handlers(self, batch: _Batch, runnable: list[int], contexts: Mapping[int, HandlerContext]) -> None:
        by_key = {batch.events[i].content_key: i for i in runnable}
        for patterns, batch_handler in self.router.batch_handlers():
            items = [
                WorkItem(batch.events[i], contexts[i])
                for i in runnable
                if i not in batch.errors and any(topic_matches(p, batch.events[i].topic) for p in patterns)
            ]
            if not items:
                continue
            try:
                outcome = batch_handler.handle_batch(items)
            except Exception as exc:
                outcome = {item.event.content_key: exc for item in items}
            known = outcome if isinstance(outcome, BatchOutcome) else BatchOutcome(outcome)
            for key, failure in known.failures.items():
                if key in by_key:
                    batch.errors.setdefault(by_key[key], failure)
            given = {item.event.content_key for item in items}  # a handler vouches only for what it was given
            batch.applied_by.update(by_key[key] for key in known.already_applied & given)
            batch.first_seen.update(by_key[key] for key in known.first_seen & given)
            batch.superseded.update(by_key[key] for key in known.superseded & given)
            batch.unrecorded.update(known.unrecorded)

    # ---------------------------------------------------------------------------------------------- settle
    def _settle(self, batch: _Batch) -> None:
        """Successes are marked COMPLETED (batched); failed and never-handled claims are released so a retry (or a
        redrive from the DLQ) can run them again."""
        done: list[Claim] = []
        to_release: list[Claim] = []
        if batch.lease is not None:  # the heartbeat stops renewing what we are about to settle
            batch.lease.drop(list(batch.claims.values()))
        for i, claim in batch.claims.items():
            if i in batch.results:  # sent back before its handlers ran (enrichment not ready / failed)
                to_release.append(claim)
            elif i in batch.errors:
                to_release.append(claim)
                self._record_failure(batch, i, batch.errors[i])
            else:
                done.append(claim)
                event = batch.events[i]
                batch.results[i] = RecordResult(event.record, Outcome.PROCESSED, event=event)
        undecided: list[int] = []
        for i in batch.free:  # nothing to complete or release
            if i in batch.errors and i not in batch.results:
                self._record_failure(batch, i, batch.errors[i])
            elif i not in batch.results:
                event = batch.events[i]
                if i in batch.first_seen:
                    note = SUPERSEDED if i in batch.superseded else None
                    batch.results[i] = RecordResult(event.record, Outcome.PROCESSED, note, event=event)
                elif batch.applied_by[i] and event.record.receive_count <= 1:  # a re-send
                    batch.results[i] = RecordResult(event.record, Outcome.DUPLICATE, ALREADY_APPLIED, event=event)
                else:  # no handler can tell, or a redelivery whose earlier attempt may have failed after recording it
                    undecided.append(i)
        done.extend(self._mark(batch, undecided))
        try:
            self.idempotency.complete(done)
        except Exception:
            # The effects happened: acknowledging is right. The lease still guards until the deadline.
            log.exception("could not mark claims completed", extra={"count": len(done)})
        if to_release:
            self.idempotency.release(to_release, _why_released(batch))
        self._note_failures(batch)

    def _mark(self, batch: _Batch, undecided: list[int]) -> list[Claim]:
        """Claim-free records no batch handler could label, decided by an idempotency mark: CLAIMED (no mark, or a
        FAILED one left by an earlier attempt: `_note_failures`) is the first time, COMPLETED a re-send. Also marks
        the keys a handler said it cannot recognise again (past the state's bound). Returns the claims to complete.
        Costs nothing unless there is such a record: the projection labels every conversation event it records."""
        keys = {batch.events[i].content_key: i for i in undecided}
        failing = {
            batch.events[i].content_key
            for i in batch.free
            if i in batch.errors or ((result := batch.results.get(i)) is not None and result.outcome is Outcome.RETRY)
        }
        extra = batch.unrecorded - keys.keys() - failing  # a failing first-seen record must find no mark on retry
        if not keys and not extra:
            return []
        claimed = self.idempotency.claim_all([*keys, *extra], lease_until=batch.deadline)
        now_ms = int(self.clock.now() * 1000)
        done: list[Claim] = []
        for key, outcome in claimed.items():
            i = keys.get(key)
            if isinstance(outcome, Exception):
                if i is not None:
                    batch.retry(i, f"claim_failed: {_describe(outcome)}", _retry_after(outcome))
                continue  # a key left unmarked: a re-send of it much later would be counted processed
            claim, answer = outcome
            if answer.status is ClaimStatus.CLAIMED:
                done.append(claim)
            if i is None:
                continue
            event = batch.events[i]
            if answer.status is ClaimStatus.CLAIMED:
                batch.results[i] = RecordResult(event.record, Outcome.PROCESSED, event=event)
            elif answer.status is ClaimStatus.COMPLETED:
                batch.results[i] = RecordResult(event.record, Outcome.DUPLICATE, "already_processed", event=event)
            else:
                batch.retry(i, "in_progress_elsewhere", self._recheck_after(answer, now_ms))
        return done

    def _note_failures(self, batch: _Batch) -> None:
        """A claim-free record sent back for a retry leaves a FAILED record with its last error, as a released claim
        does, so a record SQS later dead-letters through maxReceiveCount still says why (`dlq inspect`). The claim
        taken for it is leased until now: it holds nobody off. Failure paths only; best effort. Not for rate-limited
        records: they go back as new messages, never to maxReceiveCount (two writes each in a 429 storm for nothing)."""
        why = {
            batch.events[i].content_key: (result.reason or "retry", batch.events[i].record.receive_count)
            for i in batch.free
            if (result := batch.results.get(i)) is not None and result.outcome is Outcome.RETRY and not result.throttled
        }
        if not why:
            return
        try:
            claimed = self.idempotency.claim_all(list(why), lease_until=self.clock.now())
            mine = [o[0] for o in claimed.values() if isinstance(o, tuple) and o[1].status is ClaimStatus.CLAIMED]
            self.idempotency.release(mine, why)
        except Exception:
            log.warning("could not note why claim-free records failed", extra={"count": len(why)})

    def _record_failure(self, batch: _Batch, index: int, error: BaseException) -> None:
        event = batch.events[index]
        if isinstance(error, PermanentError):
            batch.letters[index] = DeadLetter(
                reason=error.reason,
                message=str(error),
                body=event.record.text(),
                topic=event.topic,
                conversation_id=event.conversation_id,
                message_id=event.message_id,
            )
            return
        # Unknown exceptions are retried: SQS redrive dead-letters a poison record after maxReceiveCount.
        if not isinstance(error, TransientError):
            where = {"topic": event.topic, "conversation_id": event.conversation_id, "content_key": event.content_key}
            log.error("handler failed", exc_info=error, extra=where)
        label = error.reason if isinstance(error, SinkFailedError) else "handler_failed"
        batch.retry(index, f"{label}: {_describe(error)}", _retry_after(error), cause=error)

    # --------------------------------------------------------------------------------------- dead letters
    def _claim_rejections(self, batch: _Batch) -> None:
        """Claim each rejection's key like an event's: COMPLETED means its dead letter was written before (a
        re-delivery), so it is a DUPLICATE; held elsewhere, it is being written now: look again later. A claim that
        fails is no reason to hold a letter back: it is written, at worst twice."""
        if not batch.rejected or batch.out_of_time():  # writing a letter needs no time: it is not held back
            return
        claimed = self.idempotency.claim_all(list(batch.rejected), lease_until=batch.deadline)
        now_ms = int(self.clock.now() * 1000)
        for key, index in batch.rejected.items():
            outcome = claimed[key]
            if isinstance(outcome, Exception):
                continue
            claim, answer = outcome
            record = batch.records[index]
            if answer.status is ClaimStatus.CLAIMED:
                batch.letter_claims[index] = claim
            elif answer.status is ClaimStatus.COMPLETED:
                del batch.letters[index]
                batch.results[index] = RecordResult(record, Outcome.DUPLICATE, "already_dead_lettered")
            else:
                del batch.letters[index]
                # Not `unattempted`: re-sent as a new message, its letter would name the new message id; handed
                # back, the worst case is SQS moving the original, whole, to the DLQ beside the letter being written.
                batch.results[index] = RecordResult(
                    record, Outcome.RETRY, "in_progress_elsewhere", self._recheck_after(answer, now_ms)
                )

    def _dead_letter(self, batch: _Batch) -> None:
        """Dead letters are acknowledged only once the sink has them; if it fails, SQS redelivers them."""
        failure: str | None = None
        if batch.letters:
            try:
                self.dead_letters.send(list(batch.letters.values()))
            except Exception as exc:
                failure = f"dead_letter_failed: {_describe(exc)}"
                log.error("dead-letter sink failed", extra={"error": failure, "count": len(batch.letters)})
            self._settle_letter_claims(batch, failure is None)
        outcome = Outcome.DEAD_LETTERED if failure is None else Outcome.RETRY
        for index, letter in batch.letters.items():
            record, event = batch.records[index], batch.events.get(index)
            batch.results[index] = RecordResult(record, outcome, failure or letter.reason, event=event)
        for index, first in batch.rejected_copies.items():  # settled with their first copy, never before it
            primary = batch.results[first]
            done = primary.outcome in (Outcome.DEAD_LETTERED, Outcome.DUPLICATE)
            batch.results[index] = RecordResult(
                batch.records[index],
                Outcome.DUPLICATE if done else Outcome.RETRY,
                _IN_BATCH if done else primary.reason,
                primary.retry_after,
            )

    def _settle_letter_claims(self, batch: _Batch, sent: bool) -> None:
        claims = list(batch.letter_claims.values())
        if not claims:
            return
        if not sent:
            self.idempotency.release(claims)
            return
        try:
            self.idempotency.complete(claims)
        except Exception:  # the letters are written: a re-delivery may write one again, nothing is lost
            log.exception("could not mark dead letters written", extra={"count": len(claims)})

    # ------------------------------------------------------------------------------------ copies follow primaries
    def _follow_primaries(self, batch: _Batch) -> None:
        """A copy folded into its primary is retried when the primary is, instead of being acknowledged: the
        copy may be the same queue message delivered twice, and acknowledging it would delete a message whose work
        failed (`core/settlement.py` then settles each message once, with its freshest receipt handle)."""
        for index, result in list(batch.results.items()):
            if result.outcome is not Outcome.DUPLICATE or result.reason != _IN_BATCH or result.event is None:
                continue
            primary = batch.results[batch.primaries[result.event.content_key]]
            if primary.outcome is Outcome.RETRY:
                batch.results[index] = replace(
                    result,
                    outcome=Outcome.RETRY,
                    reason=primary.reason,
                    retry_after=primary.retry_after,
                    throttled=primary.throttled,
                    unattempted=primary.unattempted,
                )


def _set(span: Span, **counts: int) -> None:
    for name, value in counts.items():
        span.set_attribute(f"gcevents.{name}", value)


def _why_released(batch: _Batch) -> dict[str, tuple[str, int]]:
    """Content key -> (last error, attempts so far) of every claim given back: the idempotency store keeps it, so a
    record SQS later dead-letters through maxReceiveCount still says why."""
    why: dict[str, tuple[str, int]] = {}
    for index, claim in batch.claims.items():
        letter, result = batch.letters.get(index), batch.results.get(index)
        if letter is not None:
            error = f"{letter.reason}: {letter.message}"
        elif result is not None and result.outcome is Outcome.RETRY:
            error = result.reason or "retry"
        else:
            continue
        why[claim.key] = (error, batch.events[index].record.receive_count)
    return why


def _letter_for_rejection(rejection: Rejection) -> DeadLetter:
    return DeadLetter(
        reason=rejection.reason,
        message=rejection.message,
        body=rejection.record.text(),
        topic=rejection.topic,
        conversation_id=rejection.conversation_id,
        message_id=rejection.record.message_id,
    )


def _retry_after(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, TransientError) else None


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text[:300]}" if text else type(exc).__name__


def exhausted_letter(result: RecordResult, attempts: int) -> DeadLetter:
    """For runners without an SQS redrive (local `process`): a record that kept failing transiently."""
    event = result.event
    return DeadLetter(
        reason=Reason.RETRIES_EXHAUSTED,
        message=f"still failing after {attempts} attempts: {result.reason}",
        body=result.record.text(),
        topic=event.topic if event else None,
        conversation_id=event.conversation_id if event else None,
        message_id=result.record.message_id,
    )
