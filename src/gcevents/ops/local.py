"""The local runner: batches through the pipeline with retry rounds for transient failures (there is no SQS
here to redeliver), then dead-letters what still fails. Used by `gcevents process` and in-process redrive."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext

from gcevents.core.events import RawRecord
from gcevents.core.idempotency import Lease, renewed
from gcevents.core.pipeline import Outcome, Pipeline, RecordResult, exhausted_letter
from gcevents.core.settlement import by_message
from gcevents.ports import DeadLetterSink


def run_records(
    pipeline: Pipeline,
    dead_letters: DeadLetterSink,
    records: Sequence[RawRecord],
    *,
    batch_size: int,
    max_attempts: int,
    max_wait: float,
    deadline_s: float = 900.0,
    progress: Callable[[int], object] | None = None,
    max_throttle_wait: float = 600.0,
    lease_s: float | None = None,
) -> tuple[Counter[str], Counter[str]]:
    """Local runner: batches through the pipeline, retry rounds for transient failures (there is no SQS here to
    redeliver), then dead-letter what still fails. Returns (final outcome counts, dead-letter reasons).

    Rate limiting is never a reason to dead-letter: a throttled record does not spend one of its `max_attempts`,
    and its round waits the Retry-After. Only if the API keeps refusing for `max_throttle_wait` seconds in all do
    such records stop, unfinished (counted as `retry`), for a later run to pick up (done ones are then skipped).

    With `lease_s`, claims are leased that long and renewed while a batch runs (instead of until the deadline): a
    live event that meets one of them waits at most that long, whether this run finished or crashed."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    pending = [(record, 0) for record in records]  # (record, attempts spent: failures other than throttling)
    throttle_waited = 0.0
    while pending:
        retry = _round(pipeline, pending, batch_size, deadline_s, outcomes, reasons, progress, lease_s)
        exhausted = [(result, spent) for result, spent in retry if spent >= max_attempts]
        if exhausted:
            dead_letters.send([exhausted_letter(result, spent) for result, spent in exhausted])
            outcomes[Outcome.DEAD_LETTERED.value] += len(exhausted)
            reasons["retries_exhausted"] += len(exhausted)
            _advance(progress, len(exhausted))
        retry = [(result, spent) for result, spent in retry if spent < max_attempts]
        if not retry:
            break
        only_throttled = all(result.throttled for result, _ in retry)
        hint = max((result.retry_after or 0.0) for result, _ in retry)
        wait = hint if only_throttled else min(max_wait, hint)
        if only_throttled and throttle_waited + wait > max_throttle_wait:
            outcomes[Outcome.RETRY.value] += len(retry)  # unfinished, never dead-lettered for a 429
            _advance(progress, len(retry))
            break
        throttle_waited += wait if only_throttled else 0.0
        if wait > 0:
            time.sleep(wait)
        pending = [(dataclasses.replace(r.record, receive_count=r.record.receive_count + 1), n) for r, n in retry]
    return outcomes, reasons


def _round(
    pipeline: Pipeline,
    pending: Sequence[tuple[RawRecord, int]],
    batch_size: int,
    deadline_s: float,
    outcomes: Counter[str],
    reasons: Counter[str],
    progress: Callable[[int], object] | None,
    lease_s: float | None = None,
) -> list[tuple[RecordResult, int]]:
    """One pass over `pending`; the retries come back with their attempts spent (a throttled one spends none)."""
    retry: list[tuple[RecordResult, int]] = []
    for start in range(0, len(pending), max(1, batch_size)):
        chunk = pending[start : start + max(1, batch_size)]
        spent_of = {id(record): spent for record, spent in chunk}  # results carry the records they were given
        holding: AbstractContextManager[Lease | None] = (
            renewed(Lease(pipeline.idempotency, lease_s), lease_s / 3) if lease_s else nullcontext()
        )
        with holding as lease:
            report = pipeline.run([record for record, _ in chunk], time.time() + deadline_s, lease=lease)
        done = 0
        settled = by_message(report.results)  # two copies of one message: one outcome, one dead letter
        copies = len(report.results) - len(settled)
        if copies:  # the copies: every record counted
            outcomes[Outcome.DUPLICATE.value] += copies
        for result in settled:
            spent = spent_of.get(id(result.record), max(spent_of.values()))
            if result.outcome is Outcome.RETRY:
                retry.append((result, spent + (0 if result.throttled else 1)))
            else:
                done += 1
                outcomes[result.outcome.value] += 1
                if result.outcome is Outcome.DEAD_LETTERED:
                    reasons[result.reason or "unknown"] += 1
        _advance(progress, done + copies)
    return retry


def _advance(progress: Callable[[int], object] | None, settled: int) -> None:
    """Progress counts records settled (an outcome they keep), so a retried record counts once, when it settles."""
    if progress is not None and settled:
        progress(settled)
