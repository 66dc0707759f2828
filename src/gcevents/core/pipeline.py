"""The batch algorithm, pure over ports:

parse -> fold in-batch duplicates -> dead-letter rejects -> claim (idempotency) -> bulk enrichment ->
handlers -> complete / release -> per-record outcome (the partial-batch-failure report).

Invariant: every input record ends in exactly one outcome. PROCESSED and DUPLICATE are acknowledged,
DEAD_LETTERED is acknowledged only once the sink has it, RETRY goes back to the queue with its claim released.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gcevents.core.events import GenesysEvent, RawRecord, Reason, Rejection, parse_record
from gcevents.core.idempotency import Idempotency
from gcevents.core.router import HandlerContext, Router, WorkItem, topic_matches
from gcevents.errors import PermanentError, TransientError
from gcevents.ports import Claim, ClaimStatus, Clock, DeadLetter, DeadLetterSink, Enricher, SystemClock

log = logging.getLogger(__name__)


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


@dataclass(slots=True)
class BatchReport:
    results: list[RecordResult] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    def counts(self) -> Counter[str]:
        return Counter(r.outcome.value for r in self.results)

    def dead_letter_reasons(self) -> Counter[str]:
        return Counter(r.reason or "unknown" for r in self.results if r.outcome is Outcome.DEAD_LETTERED)

    def retries(self) -> list[RecordResult]:
        return [r for r in self.results if r.outcome is Outcome.RETRY]

    def batch_item_failures(self) -> list[dict[str, str]]:
        """SQS partial batch response; every RETRY record must have a messageId (SQS input guarantees it)."""
        return [
            {"itemIdentifier": r.record.message_id} for r in self.results
            if r.outcome is Outcome.RETRY and r.record.message_id
        ]  # fmt: skip

    def summary(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "records": len(self.results),
            **{o.value: counts.get(o.value, 0) for o in Outcome},
            "dead_letter_reasons": dict(self.dead_letter_reasons()),
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
    in_progress_retry_cap: float = 30.0  # seconds before re-checking a key another consumer holds


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
    ) -> None:
        self.idempotency = idempotency
        self.dead_letters = dead_letters
        self.router = router
        self.enricher = enricher
        self.settings = settings or PipelineSettings()
        self.clock = clock or SystemClock()
        self.services = dict(services or {})
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, self.settings.handler_concurrency), thread_name_prefix="gcevents-handler"
        )

    # ------------------------------------------------------------------------------------------------ run
    def run(self, records: Sequence[RawRecord], deadline: float, *, stop: threading.Event | None = None) -> BatchReport:
        """`deadline` (epoch s) ends the idempotency leases; `stop` (a worker's SIGTERM) ends new work early."""
        report = BatchReport(started=self.clock.now())

        def out_of_time() -> bool:
            return (stop is not None and stop.is_set()) or self.clock.now() >= deadline - self.settings.deadline_margin

        results: dict[int, RecordResult] = {}  # index in `records` -> result
        primaries: dict[str, int] = {}  # content key -> index of the record that does the work
        events: dict[int, GenesysEvent] = {}
        letters: dict[int, DeadLetter] = {}

        for index, record in enumerate(records):
            parsed = parse_record(record, self.settings.allowed_sources)
            if isinstance(parsed, Rejection):
                letters[index] = _letter_for_rejection(parsed)
                continue
            events[index] = parsed
            if parsed.content_key in primaries:  # folded before any I/O
                results[index] = RecordResult(record, Outcome.DUPLICATE, "in_batch", event=parsed)
            else:
                primaries[parsed.content_key] = index

        work = self._claim(primaries, events, results, deadline, out_of_time)
        if work:
            enrichment = self._enrich(work, events, results, deadline)
            self._handle(work, events, enrichment, results, letters, deadline, out_of_time)
        self._send_letters(letters, records, events, results)

        report.results = [results[i] for i in range(len(records))]
        report.finished = self.clock.now()
        return report

    # ----------------------------------------------------------------------------------------- claim
    def _claim(
        self,
        primaries: dict[str, int],
        events: dict[int, GenesysEvent],
        results: dict[int, RecordResult],
        deadline: float,
        out_of_time: Callable[[], bool],
    ) -> dict[int, Claim]:
        if not primaries:
            return {}
        if out_of_time():
            for index in primaries.values():
                results[index] = _retry(events[index], "deadline_before_start")
            return {}
        claimed = self.idempotency.claim_all(list(primaries), lease_until=deadline)
        work: dict[int, Claim] = {}
        now_ms = int(self.clock.now() * 1000)
        for key, index in primaries.items():
            event = events[index]
            outcome = claimed[key]
            if isinstance(outcome, Exception):
                results[index] = _retry(event, f"claim_failed: {_describe(outcome)}", _retry_after(outcome))
                continue
            claim, result = outcome
            if result.status is ClaimStatus.CLAIMED:
                work[index] = claim
            elif result.status is ClaimStatus.COMPLETED:
                results[index] = RecordResult(event.record, Outcome.DUPLICATE, "already_processed", event=event)
            else:
                # A live lease elsewhere. Its holder usually finishes (or releases) well before the lease ends,
                # so look again soon; only a crashed holder makes us wait for the whole lease.
                lease_left = ((result.lease_until_ms or now_ms) - now_ms) / 1000
                wait = max(0.0, min(lease_left, self.settings.in_progress_retry_cap))
                results[index] = _retry(event, "in_progress_elsewhere", wait)
        return work

    # ------------------------------------------------------------------------------------------ enrich
    def _enrich(
        self,
        work: dict[int, Claim],
        events: dict[int, GenesysEvent],
        results: dict[int, RecordResult],
        deadline: float,
    ) -> dict[str, Mapping[str, Any]]:
        if self.enricher is None:
            return {}
        wanted = [
            i for i in work
            if events[i].kind in self.settings.enrich_kinds and events[i].conversation_id
        ]  # fmt: skip
        if not wanted:
            return {}
        ids = list(dict.fromkeys(cid for i in wanted if (cid := events[i].conversation_id)))
        try:
            found = self.enricher.enrich(ids, deadline - self.settings.deadline_margin)
        except Exception as exc:  # an enricher bug must not lose the batch: everything enriched is retried
            log.exception("enricher failed")
            failure: Exception = exc if isinstance(exc, TransientError) else TransientError(_describe(exc))
            found_failed: dict[str, Exception] = dict.fromkeys(ids, failure)
            found_details: dict[str, Mapping[str, Any]] = {}
            found_missing: set[str] = set()
        else:
            found_failed, found_details, found_missing = found.failed, found.details, found.missing
        for index in wanted:
            event = events[index]
            cid = event.conversation_id or ""
            error = found_failed.get(cid)
            if error is not None:
                results[index] = _retry(event, f"enrichment_failed: {_describe(error)}", _retry_after(error))
            elif cid in found_missing and event.record.receive_count <= self.settings.lag_retries:
                results[index] = _retry(event, "enrichment_not_ready", self.settings.lag_retry_delay)
        # After the lag retries run out, the event proceeds without enrichment (handlers see None).
        return found_details

    # ------------------------------------------------------------------------------------------ handle
    def _handle(
        self,
        work: dict[int, Claim],
        events: dict[int, GenesysEvent],
        enrichment: Mapping[str, Mapping[str, Any]],
        results: dict[int, RecordResult],
        letters: dict[int, DeadLetter],
        deadline: float,
        out_of_time: Callable[[], bool],
    ) -> None:
        runnable = [i for i in work if i not in results]
        contexts = {
            i: HandlerContext(
                enrichment=enrichment.get(events[i].conversation_id or ""),
                deadline=deadline,
                idempotency_key=events[i].content_key,
                services=self.services,
            )
            for i in runnable
        }
        # Events of one conversation run in event-time order; conversations run in parallel.
        groups: dict[str, list[int]] = defaultdict(list)
        for i in runnable:
            groups[events[i].conversation_id or events[i].content_key].append(i)
        errors: dict[int, BaseException] = {}

        def run_group(indexes: list[int]) -> dict[int, BaseException]:
            # A failed event does not hold back the later ones: SQS standard queues and Genesys guarantee no
            # order across batches anyway, and holding back would burn the receive counts of healthy events
            # behind a poison one until they too were dead-lettered.
            failed: dict[int, BaseException] = {}
            for i in sorted(indexes, key=lambda j: events[j].event_time):
                if out_of_time():
                    failed[i] = TransientError("deadline reached before this event started")
                    continue
                for handler in self.router.handlers_for(events[i].topic):
                    try:
                        handler(events[i], contexts[i])
                    except Exception as exc:
                        failed[i] = exc
                        break
            return failed

        group_lists = list(groups.values())
        if len(group_lists) == 1:
            errors.update(run_group(group_lists[0]))
        else:
            for failed in self._pool.map(run_group, group_lists):
                errors.update(failed)

        by_key = {events[i].content_key: i for i in runnable}
        for patterns, batch_handler in self.router.batch_handlers():
            items = [
                WorkItem(events[i], contexts[i]) for i in runnable
                if i not in errors and any(topic_matches(p, events[i].topic) for p in patterns)
            ]  # fmt: skip
            if not items:
                continue
            try:
                batch_errors: Mapping[str, Exception] = batch_handler.handle_batch(items)
            except Exception as exc:
                batch_errors = {item.event.content_key: exc for item in items}
            for key, failure in batch_errors.items():
                if key in by_key:
                    errors.setdefault(by_key[key], failure)

        done: list[Claim] = []
        to_release: list[Claim] = []
        for i in runnable:
            event = events[i]
            error = errors.get(i)
            if error is None:
                done.append(work[i])
                results[i] = RecordResult(event.record, Outcome.PROCESSED, event=event)
            elif isinstance(error, PermanentError):
                to_release.append(work[i])  # so a redrive from the DLQ can run it again
                letters[i] = DeadLetter(
                    reason=error.reason, message=str(error), body=event.record.text(), topic=event.topic,
                    conversation_id=event.conversation_id, message_id=event.message_id,
                )  # fmt: skip
            else:
                # Unknown exceptions are retried: SQS redrive dead-letters a poison record after maxReceiveCount.
                to_release.append(work[i])
                if not isinstance(error, TransientError):
                    log.error(
                        "handler failed", exc_info=error,
                        extra={"topic": event.topic, "conversationId": event.conversation_id},
                    )  # fmt: skip
                results[i] = _retry(event, f"handler_failed: {_describe(error)}", _retry_after(error))
        # Claims of records that were never handled (enrichment not ready/failed) are released too.
        to_release.extend(work[i] for i in work if i not in runnable)
        try:
            self.idempotency.complete(done)
        except Exception:
            # The effects happened: acknowledging is right. The lease still guards until the deadline.
            log.exception("could not mark claims completed", extra={"count": len(done)})
        if to_release:
            self.idempotency.release(to_release)

    # --------------------------------------------------------------------------------------- dead letters
    def _send_letters(
        self,
        letters: dict[int, DeadLetter],
        records: Sequence[RawRecord],
        events: dict[int, GenesysEvent],
        results: dict[int, RecordResult],
    ) -> None:
        if not letters:
            return
        try:
            self.dead_letters.send(list(letters.values()))
        except Exception as exc:  # not acknowledged unless the sink has it: SQS will redeliver
            log.error("dead-letter sink failed", extra={"error": _describe(exc), "count": len(letters)})
            for index in letters:
                event = events.get(index)
                results[index] = RecordResult(
                    records[index], Outcome.RETRY, f"dead_letter_failed: {_describe(exc)}", event=event
                )
            return
        for index, letter in letters.items():
            results[index] = RecordResult(records[index], Outcome.DEAD_LETTERED, letter.reason, event=events.get(index))


def _letter_for_rejection(rejection: Rejection) -> DeadLetter:
    return DeadLetter(
        reason=rejection.reason,
        message=rejection.message,
        body=rejection.record.text(),
        topic=rejection.topic,
        conversation_id=rejection.conversation_id,
        message_id=rejection.record.message_id,
    )


def _retry(event: GenesysEvent, reason: str, retry_after: float | None = None) -> RecordResult:
    return RecordResult(event.record, Outcome.RETRY, reason, retry_after, event)


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
