"""`gcevents dlq inspect|redrive`: see why events were dead-lettered and send them back once fixed.

Works with receive + send + delete (StartMessageMoveTask is not available in emulators, and it cannot
filter by reason). A letter is deleted only after its re-send succeeded: a crash in between duplicates it,
which the pipeline's idempotency absorbs, and never loses it."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from gcevents.ports import DeadLetter, DeadLetterStore, StoredDeadLetter


@dataclass(frozen=True, slots=True)
class LetterFilter:
    reason: str | None = None
    topic: str | None = None  # substring match: a kind such as "customer.end" works
    conversation_id: str | None = None
    older_than: float | None = None  # seconds
    newer_than: float | None = None

    def __call__(self, letter: DeadLetter, now: float) -> bool:
        age = now - letter.failed_at
        return (
            (self.reason is None or letter.reason == self.reason)
            and (self.topic is None or (letter.topic is not None and self.topic in letter.topic))
            and (self.conversation_id is None or letter.conversation_id == self.conversation_id)
            and (self.older_than is None or age >= self.older_than)
            and (self.newer_than is None or age <= self.newer_than)
        )


class DeadLetterReader:
    """One pass over a `DeadLetterStore`: remembers what it read, so `release` gives back (makes visible again at
    once) the letters that were read but not removed."""

    def __init__(self, store: DeadLetterStore) -> None:
        self.store = store
        self._held: list[str] = []

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        for stored in self.store.scan(limit):
            self._held.append(stored.handle)
            yield stored

    def remove(self, handles: list[str]) -> None:
        if handles:
            self.store.remove(handles)
            gone = set(handles)
            self._held = [h for h in self._held if h not in gone]

    def release(self) -> None:
        if self._held:
            self.store.release(self._held)
        self._held = []


def inspect(reader: DeadLetterReader, wanted: LetterFilter, limit: int) -> list[DeadLetter]:
    now = time.time()
    try:
        return [s.letter for s in reader.scan(limit) if wanted(s.letter, now)]
    finally:
        reader.release()


def redrive(
    reader: DeadLetterReader,
    wanted: LetterFilter,
    send: Callable[[list[str]], None],
    *,
    limit: int,
    rate: float,
    dry_run: bool,
) -> Counter[str]:
    """Re-send matching letters' original bodies via `send` (batches of 10) at <= `rate` per second."""
    counts: Counter[str] = Counter()
    now = time.time()
    batch: list[StoredDeadLetter] = []

    def flush() -> None:
        if not batch:
            return
        if not dry_run:
            send([s.letter.body for s in batch])
            reader.remove([s.handle for s in batch])
            time.sleep(len(batch) / rate if rate > 0 else 0)
        counts["redriven" if not dry_run else "would_redrive"] += len(batch)
        batch.clear()

    try:
        for stored in reader.scan(limit):
            if not wanted(stored.letter, now):
                counts["skipped"] += 1
                continue
            batch.append(stored)
            if len(batch) == 10:
                flush()
        flush()
    finally:
        reader.release()
    return counts
