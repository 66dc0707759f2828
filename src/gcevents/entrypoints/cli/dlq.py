"""`gcevents dlq inspect|redrive`: see why events were dead-lettered and send them back once fixed."""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from gcevents.config import Config
from gcevents.entrypoints.cli.exits import Exit
from gcevents.errors import ConfigError
from gcevents.ops.dlq import DeadLetterReader, LetterFilter, explain_exhausted, inspect, redrive, rejection_reason
from gcevents.progress import terminal_progress
from gcevents.text import printable


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "dlq",
        help="inspect or redrive dead letters",
        description=(
            "The dead letters of GCEVENTS_DLQ (sqs:URL in AWS): see why events failed (inspect), and send them back "
            "once the cause is fixed (redrive). Both filter by reason, topic, conversation and age."
        ),
    )
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    for name, summary in _ACTIONS.items():
        action = sub.add_parser(name, help=summary, description=_DESCRIPTIONS[name])
        action.add_argument("--reason", help="only this dead-letter reason, e.g. crm_rejected or max_receive_count")
        action.add_argument("--topic", help="substring of the topic, e.g. customer.end")
        action.add_argument("--conversation-id", help="only this conversation")
        action.add_argument("--older-than", type=float, metavar="SECONDS", help="only letters older than this")
        action.add_argument("--newer-than", type=float, metavar="SECONDS", help="only letters newer than this")
        action.add_argument("--limit", type=int, default=1000, help="read at most this many letters (%(default)s)")
        action.add_argument("--json", action="store_true", help="JSON: one letter per line, or the redrive counts")
        if name == "redrive":
            target = action.add_mutually_exclusive_group()
            target.add_argument("--to-queue", help="SQS queue URL to send the original events to")
            target.add_argument("--to-sqlite-queue", metavar="PATH", help="local SQLite queue to send them to")
            action.add_argument("--rate", type=float, default=50.0, help="messages per second at most")
            action.add_argument("--dry-run", action="store_true", help="count what would be redriven, send nothing")
            action.set_defaults(func=cmd_redrive)
        else:
            action.set_defaults(func=cmd_inspect)


_ACTIONS = {
    "inspect": "list dead letters with their reason, error, conversation and topic",
    "redrive": "send dead letters back to the queue (or through the pipeline here) and delete them",
}
_DESCRIPTIONS = {
    "inspect": (
        "Counts by reason, then up to 50 letters: reason, age, conversation, topic and the error. Letters SQS moved "
        "after maxReceiveCount show the last error the idempotency store recorded for them."
    ),
    "redrive": (
        "Each matching letter's original event goes to --to-queue (or --to-sqlite-queue), or without either "
        "through the pipeline right here; a letter is deleted once sent. Letters whose event would be rejected "
        "again are kept. Exits 3 when events failed again in an in-process redrive (they are dead letters again)."
    ),
}


def _filter(args: argparse.Namespace) -> LetterFilter:
    return LetterFilter(args.reason, args.topic, args.conversation_id, args.older_than, args.newer_than)


def _reader() -> tuple[Any, DeadLetterReader]:
    from gcevents.entrypoints.runtime import build_runtime

    runtime = build_runtime(Config.from_env())
    return runtime, DeadLetterReader(runtime.dead_letters)


def cmd_inspect(args: argparse.Namespace) -> int:
    runtime, reader = _reader()
    letters = inspect(
        reader, _filter(args), args.limit, lambda found: explain_exhausted(found, runtime.idempotency_store)
    )
    if args.json:
        from gcevents.adapters.sqlite.dead_letters import dead_letter_json

        for letter in letters:
            print(dead_letter_json(letter))
        return 0
    # Everything below came from input data: control characters are escaped, or an id could drive the terminal.
    by_reason = Counter(printable(letter.reason, 40) for letter in letters)
    reasons = ", ".join(f"{r} {n}" for r, n in by_reason.most_common())
    print(f"{len(letters)} dead letter{'' if len(letters) == 1 else 's'}" + (f": {reasons}" if reasons else ""))
    now = time.time()
    for letter in letters[:50]:
        age = now - letter.failed_at
        cid, topic = printable(letter.conversation_id or "-", 80), printable(letter.topic or "-", 200)
        print(f"  {printable(letter.reason, 40):<28} {age:>8.0f}s  {cid:<36}  {topic}")
        print(f"      {printable(letter.message, 140)}")
    return 0


def cmd_redrive(args: argparse.Namespace) -> int:
    """Exit status INCOMPLETE when letters failed again during an in-process redrive (they are back in the DLQ,
    with their new reason): a script that redrives and moves on should notice."""
    runtime, reader = _reader()
    send = _sender(runtime, args)
    allowed = runtime.config.pipeline.allowed_sources
    progress = terminal_progress(None, "letters sent" if not args.dry_run else "letters counted", quiet=args.json)
    counts = redrive(
        reader,
        _filter(args),
        send,
        limit=args.limit,
        rate=args.rate,
        dry_run=args.dry_run,
        still_invalid=lambda letter: rejection_reason(letter.body, allowed),
        progress=progress.advance if progress else None,
    )
    if progress is not None:
        progress.close()
    print(json.dumps(dict(counts)) if args.json else ", ".join(f"{k}: {v}" for k, v in counts.items()) or "nothing")
    return Exit.INCOMPLETE if counts["failed_again"] else Exit.OK


def _sender(runtime: Any, args: argparse.Namespace) -> Callable[[list[str]], int | None]:
    """Where redriven bodies go: an SQS queue, a local SQLite queue, or (neither named) the pipeline right here,
    which reports how many failed again."""
    if args.to_queue:
        client = runtime.client("sqs")
        url = args.to_queue

        def to_queue(bodies: list[str]) -> None:
            entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
            response = client.send_message_batch(QueueUrl=url, Entries=entries)
            if response.get("Failed"):
                raise ConfigError(f"queue refused {len(response['Failed'])} messages; nothing deleted for them")

        return to_queue
    if args.to_sqlite_queue:
        from gcevents.adapters.sqlite import SqliteQueue
        from gcevents.adapters.sqlite.database import SqliteDatabase

        queue = SqliteQueue(SqliteDatabase(args.to_sqlite_queue))

        def to_sqlite(bodies: list[str]) -> None:
            queue.send(bodies)

        return to_sqlite
    from gcevents.core.events import RawRecord
    from gcevents.ops.local import run_records

    def here(bodies: list[str]) -> int:
        outcomes, _ = run_records(
            runtime.pipeline,
            runtime.dead_letters,
            [RawRecord(b) for b in bodies],
            batch_size=10,
            max_attempts=3,
            max_wait=5.0,
        )
        return outcomes["dead_lettered"]

    return here
