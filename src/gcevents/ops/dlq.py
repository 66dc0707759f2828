"""`gcevents dlq inspect|redrive`: see why events were dead-lettered and send them back once fixed.

Works with receive + send + delete (StartMessageMoveTask is not available in emulators, and it cannot
filter by reason). A letter is deleted only after its re-send succeeded: a crash in between duplicates it,
which the pipeline's idempotency absorbs, and never loses it."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from gcevents.core.events import GenesysEvent, RawRecord, Rejection, parse_record
from gcevents.core.times import iso_from_ms
from gcevents.ports import DeadLetter, DeadLetterStore, Failure, FailureRecords, IdempotencyStore, StoredDeadLetter

log = logging.getLogger(__name__)

MAX_RECEIVE_COUNT = "max_receive_count"  # the reason of a letter the queue itself moved (SQS redrive policy)


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
        self._scans: list[Iterator[StoredDeadLetter]] = []

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        letters = self.store.scan(limit)
        self._scans.append(letters)
        for stored in letters:
            self._held.append(stored.handle)
            yield stored

    def remove(self, handles: list[str]) -> None:
        if handles:
            self.store.remove(handles)
            gone = set(handles)
            self._held = [h for h in self._held if h not in gone]

    def release(self) -> None:
        for letters in self._scans:  # a store holds a page at a time: closing gives back what was not handed out
            close = getattr(letters, "close", None)
            if close is not None:
                close()
        self._scans = []
        if self._held:
            self.store.release(self._held)
        self._held = []


def rejection_reason(body: str, allowed_sources: Sequence[str] = ()) -> str | None:
    """Why `body` would be rejected again as it is (not JSON, not an event, an untrusted source...), or None when
    it now parses as an event. Handler failures are not known until it runs."""
    parsed = parse_record(RawRecord(body), allowed_sources)
    return parsed.reason if isinstance(parsed, Rejection) else None


def inspect(
    reader: DeadLetterReader,
    wanted: LetterFilter,
    limit: int,
    explain: Callable[[list[DeadLetter]], list[DeadLetter]] | None = None,
) -> list[DeadLetter]:
    """The matching letters (`explain`ed, e.g. by `explain_exhausted`); whatever happens, every letter read is
    given back (visible again at once) before this returns or raises."""
    now = time.time()
    try:
        letters = [s.letter for s in reader.scan(limit) if wanted(s.letter, now)]
    finally:
        reader.release()
    return explain(letters) if explain is not None else letters


def explain_exhausted(letters: list[DeadLetter], store: IdempotencyStore) -> list[DeadLetter]:
    """Letters the queue moved after maxReceiveCount carry no reason of ours (SQS cannot change a message), but the
    idempotency store kept the last failure of each content key: put it in the letter's message. Best effort: a
    store that cannot answer leaves the letters as they are."""
    if not isinstance(store, FailureRecords):
        return letters
    keys = {i: key for i, letter in enumerate(letters) if letter.reason == MAX_RECEIVE_COUNT and (key := _key(letter))}
    if not keys:
        return letters
    try:
        failures = store.failures(list(dict.fromkeys(keys.values())))
    except Exception as exc:
        log.warning("could not read failure records", extra={"error": type(exc).__name__})
        return letters
    explained = list(letters)
    for index, key in keys.items():
        if key in failures:
            explained[index] = dataclasses.replace(letters[index], message=describe_failure(failures[key]))
    return explained


def failure_explainer(store: IdempotencyStore) -> Callable[[str], str | None]:
    """For a queue that dead-letters itself (the SQLite queue): body -> the message its letter should carry."""

    def explain(body: str) -> str | None:
        letter = DeadLetter(MAX_RECEIVE_COUNT, "", body)
        (explained,) = explain_exhausted([letter], store)
        return explained.message or None

    return explain


def describe_failure(failure: Failure) -> str:
    when = iso_from_ms(failure.failed_at_ms, "seconds")
    return f"gave up after {failure.attempts} attempts (maxReceiveCount); last error at {when}: {failure.error}"


def _key(letter: DeadLetter) -> str | None:
    parsed = parse_record(RawRecord(letter.body))
    return parsed.content_key if isinstance(parsed, GenesysEvent) else None


def redrive(
    reader: DeadLetterReader,
    wanted: LetterFilter,
    send: Callable[[list[str]], int | None],
    *,
    limit: int,
    rate: float,
    dry_run: bool,
    still_invalid: Callable[[DeadLetter], str | None] | None = None,
    progress: Callable[[int], object] | None = None,
) -> Counter[str]:
    """Re-send matching letters' original bodies via `send` (batches of 10) at <= `rate` per second.

    `send` returns how many of the bodies failed again (an in-process redrive dead-letters them again: into the
    store being scanned, when it is the same queue). The run handles the letters that were there when it
    started: a letter dead-lettered after that (ours failing again, or anyone's) is left for the next run, so
    a redrive always ends. `still_invalid` names why a letter would be rejected again as it is (its body still
    does not parse): such letters are kept, counted as `still_invalid`, instead of going round once more."""
    counts: Counter[str] = Counter()
    started = now = time.time()
    batch: list[StoredDeadLetter] = []

    def flush() -> None:
        if not batch:
            return
        if not dry_run:
            failed = send([s.letter.body for s in batch])
            reader.remove([s.handle for s in batch])
            if failed is not None:  # None: sent to a queue, where they run later
                counts["failed_again"] += failed
            time.sleep(len(batch) / rate if rate > 0 else 0)
        counts["redriven" if not dry_run else "would_redrive"] += len(batch)
        if progress is not None:
            progress(len(batch))
        batch.clear()

    try:
        for stored in reader.scan(limit):
            if stored.letter.failed_at >= started:
                continue  # dead-lettered during this run: read once (and given back at the end), never resent
            if not wanted(stored.letter, now):
                counts["skipped"] += 1
            elif still_invalid is not None and still_invalid(stored.letter) is not None:
                counts["still_invalid"] += 1
            else:
                batch.append(stored)
                if len(batch) == 10:
                    flush()
        flush()
    finally:
        reader.release()
    return counts
