"""Rounds of batched puts with per-entry failures, shared by the EventBridge and Firehose sinks.

Both APIs answer a batch with one result per entry: a failed entry is retried in the next round (full-jitter
backoff from `gcevents.retry`, bounded by rounds and by the deadline); what still fails is handed back."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from gcevents.errors import PermanentError, TransientError
from gcevents.ports import OutboundRecord
from gcevents.retry import RetryBudget

REJECTED = "sink_rejected"

# One chunk of records -> per record (in order) None (delivered) or the error of that entry.
PutChunk = Callable[[Sequence[OutboundRecord]], Sequence[Exception | None]]


@dataclass(frozen=True, slots=True)
class Limits:
    entries: int  # per request
    request_bytes: int  # per request
    entry_bytes: int  # per entry


def chunks(
    records: Sequence[OutboundRecord], size: Callable[[OutboundRecord], int], limits: Limits
) -> Iterator[list[OutboundRecord]]:
    """Consecutive chunks within both request limits (every record must already fit one entry)."""
    chunk: list[OutboundRecord] = []
    used = 0
    for record in records:
        cost = size(record)
        if chunk and (len(chunk) >= limits.entries or used + cost > limits.request_bytes):
            yield chunk
            chunk, used = [], 0
        chunk.append(record)
        used += cost
    if chunk:
        yield chunk


def deliver_in_rounds(
    name: str,
    records: Sequence[OutboundRecord],
    deadline: float,
    *,
    size: Callable[[OutboundRecord], int],
    limits: Limits,
    put: PutChunk,
    rounds: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> Mapping[str, Exception]:
    failures: dict[str, Exception] = {}
    todo: list[OutboundRecord] = []
    for record in records:
        if size(record) > limits.entry_bytes:
            failures[record.key] = PermanentError(
                f"{name}: record of {size(record)} bytes exceeds the {limits.entry_bytes}-byte entry limit",
                reason=REJECTED,
            )
        else:
            todo.append(record)
    budget = RetryBudget(max(0, rounds - 1), base=0.1, cap=1.0, sleep=sleep)
    while todo:
        retry: list[OutboundRecord] = []
        for chunk in chunks(todo, size, limits):
            for record, error in zip(chunk, put(chunk), strict=True):
                if error is None:
                    failures.pop(record.key, None)
                elif isinstance(error, PermanentError):
                    failures[record.key] = error
                else:
                    failures[record.key] = error
                    retry.append(record)
        todo = retry
        if todo and (clock() + 1.0 >= deadline or not budget.retry()):
            break
    return failures


def transient(name: str, code: str, message: str = "") -> TransientError:
    text = f"{name}: {code}" + (f": {message[:200]}" if message else "")
    return TransientError(text)
