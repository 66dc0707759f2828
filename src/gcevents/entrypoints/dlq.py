"""`gcevents dlq inspect|redrive`: see why events were dead-lettered and send them back once fixed.

Works with receive + send + delete (StartMessageMoveTask is not available in emulators, and it cannot
filter by reason). A letter is deleted only after its re-send succeeded: a crash in between duplicates it,
which the pipeline's idempotency absorbs, and never loses it."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from ..config import Config
from ..errors import ConfigError
from ..ports import DeadLetter, StoredDeadLetter


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
    """Uniform scan over SQS or SQLite dead letters. SQS letters stay hidden while we hold them; `release`
    makes the ones we did not redrive visible again."""

    def __init__(self, sink: Any, *, visibility_timeout: int = 120) -> None:
        self.sink = sink
        self.visibility_timeout = visibility_timeout
        self._held: list[str] = []

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        if hasattr(self.sink, "receive"):  # SQS: receive in pages until the queue has nothing visible
            seen = 0
            while seen < limit:
                page = self.sink.receive(10, self.visibility_timeout, 0)
                if not page:
                    return
                for stored in page:
                    self._held.append(stored.handle)
                    seen += 1
                    yield stored
        elif hasattr(self.sink, "list"):
            yield from self.sink.list(limit)
        else:
            raise ConfigError(f"dead letters at {type(self.sink).__name__} cannot be read back")

    def remove(self, handles: list[str]) -> None:
        if handles:
            self.sink.remove(handles)
            self._held = [h for h in self._held if h not in set(handles)]

    def release(self) -> None:
        if self._held and hasattr(self.sink, "unhide"):
            self.sink.unhide(self._held)
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


# ---------------------------------------------------------------------------------------------------- CLI
def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("dlq", help="inspect or redrive dead letters")
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    for name in ("inspect", "redrive"):
        action = sub.add_parser(name)
        action.add_argument("--reason")
        action.add_argument("--topic", help="substring of the topic, e.g. customer.end")
        action.add_argument("--conversation-id")
        action.add_argument("--older-than", type=float, metavar="SECONDS")
        action.add_argument("--newer-than", type=float, metavar="SECONDS")
        action.add_argument("--limit", type=int, default=1000)
        action.add_argument("--json", action="store_true")
        if name == "redrive":
            target = action.add_mutually_exclusive_group()
            target.add_argument("--to-queue", help="SQS queue URL to send the original events to")
            target.add_argument("--to-sqlite-queue", metavar="PATH", help="local SQLite queue to send them to")
            action.add_argument("--rate", type=float, default=50.0, help="messages per second at most")
            action.add_argument("--dry-run", action="store_true")
            action.set_defaults(func=cmd_redrive)
        else:
            action.set_defaults(func=cmd_inspect)


def _filter(args: argparse.Namespace) -> LetterFilter:
    return LetterFilter(args.reason, args.topic, args.conversation_id, args.older_than, args.newer_than)


def _reader() -> tuple[Any, DeadLetterReader]:
    from .runtime import build_runtime

    runtime = build_runtime(Config.from_env())
    return runtime, DeadLetterReader(runtime.dead_letters)


def cmd_inspect(args: argparse.Namespace) -> int:
    _, reader = _reader()
    letters = inspect(reader, _filter(args), args.limit)
    if args.json:
        from ..adapters.sqlite import dead_letter_json

        for letter in letters:
            print(dead_letter_json(letter))
        return 0
    by_reason = Counter(letter.reason for letter in letters)
    print(f"{len(letters)} dead letters" + (": " + ", ".join(f"{r} {n}" for r, n in by_reason.most_common())))
    now = time.time()
    for letter in letters[:50]:
        age = now - letter.failed_at
        print(f"  {letter.reason:<20} {age:>8.0f}s  {letter.conversation_id or '-':<36}  {letter.topic or '-'}")
        print(f"      {letter.message[:140]}")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    runtime, reader = _reader()
    send: Callable[[list[str]], None]
    if args.to_queue:
        client = runtime.client("sqs")
        url = args.to_queue

        def send(bodies: list[str]) -> None:
            entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
            response = client.send_message_batch(QueueUrl=url, Entries=entries)
            if response.get("Failed"):
                raise ConfigError(f"queue refused {len(response['Failed'])} messages; nothing deleted for them")
    elif args.to_sqlite_queue:
        from ..adapters.queues import SqliteQueue
        from ..adapters.sqlite import SqliteDatabase

        queue = SqliteQueue(SqliteDatabase(args.to_sqlite_queue))

        def send(bodies: list[str]) -> None:
            queue.send(bodies)
    else:
        # No queue named: process the events right here, through the same pipeline as everything else.
        from ..events import RawRecord
        from .cli import run_records

        def send(bodies: list[str]) -> None:
            run_records(runtime, [RawRecord(b) for b in bodies], batch_size=10, max_attempts=3, max_wait=5.0)

    counts = redrive(reader, _filter(args), send, limit=args.limit, rate=args.rate, dry_run=args.dry_run)
    print(json.dumps(dict(counts)) if args.json else ", ".join(f"{k}: {v}" for k, v in counts.items()) or "nothing")
    return 0
