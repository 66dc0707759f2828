"""The local runner: batches through the pipeline with retry rounds for transient failures (there is no SQS
here to redeliver), then dead-letters what still fails. Used by `gcevents process` and in-process redrive."""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence

from gcevents.core.events import RawRecord
from gcevents.core.pipeline import Outcome, Pipeline, RecordResult, exhausted_letter
from gcevents.core.settlement import by_message
from gcevents.ports import DeadLetterSink


def _batches(records: Sequence[RawRecord], size: int) -> Iterator[Sequence[RawRecord]]:
    for start in range(0, len(records), max(1, size)):
        yield records[start : start + size]


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
) -> tuple[Counter[str], Counter[str]]:
    """Local runner: batches through the pipeline, retry rounds for transient failures (there is no SQS here to
    redeliver), then dead-letter what still fails. Returns (final outcome counts, dead-letter reasons)."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    pending = list(records)
    for attempt in range(1, max_attempts + 1):
        retry: list[RecordResult] = []
        for batch in _batches(pending, batch_size):
            report = pipeline.run(batch, time.time() + deadline_s)
            for result in by_message(report.results):  # two copies of one message: one outcome, one dead letter
                if result.outcome is Outcome.RETRY:
                    retry.append(result)
                else:
                    outcomes[result.outcome.value] += 1
                    if result.outcome is Outcome.DEAD_LETTERED:
                        reasons[result.reason or "unknown"] += 1
            if progress is not None:
                progress(len(batch))
        if not retry:
            return outcomes, reasons
        if attempt == max_attempts:
            dead_letters.send([exhausted_letter(r, attempt) for r in retry])
            outcomes[Outcome.DEAD_LETTERED.value] += len(retry)
            reasons["retries_exhausted"] += len(retry)
            return outcomes, reasons
        wait = min(max_wait, max((r.retry_after or 0.0) for r in retry))
        if wait > 0:
            time.sleep(wait)
        pending = [dataclasses.replace(r.record, receive_count=r.record.receive_count + 1) for r in retry]
    return outcomes, reasons
