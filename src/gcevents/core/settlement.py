"""Settle by message, not by content: one queue action per delivered message.

A queue can hand one message to a batch twice (its visibility ran out while the batch was being gathered, or a
standard queue delivered it twice), each copy with its own receipt handle. The pipeline folds the second copy
into the first by content key and reports it as a DUPLICATE that follows its primary (retried when the primary
is). Queue actions, though, are per message:

- a message is retried when any copy of it must be, and acknowledged only when none must;
- every action on it (ack, delay, visibility extension) uses its freshest receipt handle: SQS acts on the latest
  one only (with an older handle "the request succeeds, but the message might not be deleted").

Records without a message id (a direct EventBridge event, a list from Pipes) are each their own message."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import replace

from gcevents.core.pipeline import Outcome, RecordResult
from gcevents.ports import RawRecord


def _identity(record: RawRecord, position: int) -> Hashable:
    return record.message_id if record.message_id is not None else ("position", position)


def _fresher(a: tuple[int, RawRecord], b: tuple[int, RawRecord]) -> bool:
    """Is copy `a` (position, record) the later receive? The receive count says so; among equal counts (a
    queue that does not count), the later position in the gathered batch (records are gathered in receive
    order)."""
    return (a[1].receive_count, a[0]) > (b[1].receive_count, b[0])


def freshest_records(records: Sequence[RawRecord]) -> list[RawRecord]:
    """One record per message, the copy with the freshest receipt handle, in order of first appearance."""
    best: dict[Hashable, tuple[int, RawRecord]] = {}
    for position, record in enumerate(records):
        key = _identity(record, position)
        if key not in best or _fresher((position, record), best[key]):
            best[key] = (position, record)
    return [record for _, record in best.values()]


def by_message(results: Sequence[RecordResult]) -> list[RecordResult]:
    """One result per message, carrying the freshest copy's record (its receipt handle is the one to use).

    RETRY when any copy must be retried (its reason, and the longest Retry-After hint of those copies);
    otherwise the first copy's outcome (the primary: the copies after it were folded into it)."""
    groups: dict[Hashable, list[int]] = {}
    for position, result in enumerate(results):
        groups.setdefault(_identity(result.record, position), []).append(position)
    settled: list[RecordResult] = []
    for positions in groups.values():
        freshest = positions[0]
        for position in positions[1:]:
            if _fresher((position, results[position].record), (freshest, results[freshest].record)):
                freshest = position
        retries = [results[p] for p in positions if results[p].outcome is Outcome.RETRY]
        chosen = retries[0] if retries else results[positions[0]]
        hints = [r.retry_after for r in retries if r.retry_after is not None]
        settled.append(
            replace(
                chosen,
                record=results[freshest].record,
                retry_after=max(hints) if hints else chosen.retry_after,
                unattempted=all(r.unattempted for r in retries) if retries else chosen.unattempted,
            )
        )
    return settled


def near_max_receive(record: RawRecord, max_receive_count: int | None) -> bool:
    """Would handing this record back let the queue dead-letter it soon? At `max_receive_count` - 1 receives or more
    (the count is approximate: one receive of margin). None: the queue has no redrive policy (or we cannot tell)."""
    return max_receive_count is not None and record.receive_count >= max_receive_count - 1
