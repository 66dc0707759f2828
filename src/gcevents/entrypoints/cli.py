"""`gcevents` command line. Subcommands live next to what they drive; each module offers `register(subparsers)`."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..config import Config, StoreSpec
from ..errors import GcEventsError
from ..events import RawRecord, split_records
from ..pipeline import Outcome, RecordResult, exhausted_letter

# Modules that contribute subcommands; imported when the CLI starts (never on the Lambda path).
COMMAND_MODULES = (
    "gcevents.genesys.cli",
    "gcevents.state.cli",
    "gcevents.plan",
    "gcevents.entrypoints.worker",
    "gcevents.entrypoints.dlq",
    "gcevents.entrypoints.demo",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        return 2
    try:
        return int(args.func(args))
    except GcEventsError as exc:
        print(f"gcevents: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # output piped into `head` and the like: not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keep the interpreter's final flush quiet
        return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gcevents", description=__doc__)
    sub = parser.add_subparsers(metavar="COMMAND")

    setup = sub.add_parser("setup", help="create the DynamoDB tables / SQS queues / SQLite files configured")
    setup.add_argument("--queue", help="also create this SQS queue (and NAME-dlq with a redrive policy)")
    setup.add_argument("--max-receive-count", type=int, default=5)
    setup.add_argument("--visibility-timeout", type=int, default=360)
    setup.add_argument("--json", action="store_true")
    setup.set_defaults(func=cmd_setup)

    process = sub.add_parser("process", help="run a JSON/JSONL file of events (or a saved SQS batch)")
    process.add_argument("file", help="path, or - for stdin")
    process.add_argument("--batch-size", type=int, default=100)
    process.add_argument("--max-attempts", type=int, default=3, help="then dead-letter as retries_exhausted")
    process.add_argument("--max-wait", type=float, default=5.0, help="cap on waiting between retry rounds (s)")
    process.add_argument("--json", action="store_true", help="machine-readable summary")
    process.set_defaults(func=cmd_process)

    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue  # optional subcommand module not present
        module.register(sub)
    return parser


# ------------------------------------------------------------------------------------------------- setup
def cmd_setup(args: argparse.Namespace) -> int:
    config = Config.from_env()
    created = setup_resources(
        config, queue=args.queue, max_receive_count=args.max_receive_count, visibility_timeout=args.visibility_timeout
    )
    if args.json:
        print(json.dumps(created))
    else:
        for what, value in created.items():
            print(f"{what}: {value}")
    return 0


def setup_resources(
    config: Config, *, queue: str | None = None, max_receive_count: int = 5, visibility_timeout: int = 360
) -> dict[str, Any]:
    """Idempotent: running it twice changes nothing."""
    from ..adapters.aws import make_client

    done: dict[str, Any] = {}
    dynamodb = None
    for label, spec in (("idempotency", config.idempotency_store), ("state", config.state_store)):
        if spec.kind == "dynamodb":
            dynamodb = dynamodb or make_client("dynamodb")
            if label == "idempotency":
                from ..adapters.dynamodb import create_idempotency_table

                created = create_idempotency_table(dynamodb, spec.target)
            else:
                from ..state import create_state_table

                created = create_state_table(dynamodb, spec.target)
            done[f"{label}_table"] = f"{spec.target} ({'created' if created else 'exists'})"
        elif spec.kind == "sqlite":
            done[f"{label}_db"] = _touch_sqlite(spec, label, config)
    if config.dead_letters.kind == "sqlite":
        done["dead_letters_db"] = _touch_sqlite(config.dead_letters, "dead_letters", config)
    if queue:
        from ..adapters.sqs import create_queues

        done.update(
            create_queues(
                make_client("sqs"), queue, visibility_timeout=visibility_timeout, max_receive_count=max_receive_count
            )
        )
    return done


def _touch_sqlite(spec: StoreSpec, label: str, config: Config) -> str:
    from ..adapters.sqlite import SqliteDatabase, SqliteDeadLetterSink, SqliteIdempotencyStore

    if label == "idempotency":
        SqliteIdempotencyStore(SqliteDatabase(spec.target))
    elif label == "dead_letters":
        SqliteDeadLetterSink(SqliteDatabase(spec.target))
    else:
        from ..state import SqliteStateStore

        SqliteStateStore(spec.target, ttl_days=config.state_ttl_days)
    return spec.target


# ----------------------------------------------------------------------------------------------- process
def read_records(path: str) -> list[RawRecord]:
    """A JSON document (one event, a list, an SQS batch) or JSONL. Lines stay text, so a malformed line is
    dead-lettered with its original bytes instead of aborting the file."""
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    stripped = text.strip()
    if not stripped:
        return []
    try:
        document = json.loads(stripped)
    except ValueError:
        document = None
    if document is not None:  # JSONL with more than one line never parses as one document
        return split_records(document)
    lines = enumerate(text.splitlines(), 1)
    return [RawRecord(payload=line, message_id=f"line-{n}") for n, line in lines if line.strip()]


def _batches(records: Sequence[RawRecord], size: int) -> Iterator[Sequence[RawRecord]]:
    for start in range(0, len(records), max(1, size)):
        yield records[start : start + size]


def run_records(
    runtime: Any,
    records: Sequence[RawRecord],
    *,
    batch_size: int,
    max_attempts: int,
    max_wait: float,
    deadline_s: float = 900.0,
    progress: Any = None,
) -> tuple[Counter[str], Counter[str]]:
    """Local runner: batches through the pipeline, retry rounds for transient failures (there is no SQS here to
    redeliver), then dead-letter what still fails. Returns (final outcome counts, dead-letter reasons)."""
    outcomes: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    pending = list(records)
    for attempt in range(1, max_attempts + 1):
        retry: list[RecordResult] = []
        for batch in _batches(pending, batch_size):
            report = runtime.pipeline.run(batch, time.time() + deadline_s)
            for result in report.results:
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
            runtime.dead_letters.send([exhausted_letter(r, attempt) for r in retry])
            outcomes[Outcome.DEAD_LETTERED.value] += len(retry)
            reasons["retries_exhausted"] += len(retry)
            return outcomes, reasons
        wait = min(max_wait, max((r.retry_after or 0.0) for r in retry))
        if wait > 0:
            time.sleep(wait)
        pending = [dataclasses.replace(r.record, receive_count=r.record.receive_count + 1) for r in retry]
    return outcomes, reasons


def cmd_process(args: argparse.Namespace) -> int:
    from ..observability import configure_logging
    from .runtime import build_runtime

    config = Config.from_env()
    configure_logging(config.log_level)
    runtime = build_runtime(config)
    records = read_records(args.file)
    started = time.perf_counter()
    outcomes, reasons = run_records(
        runtime, records, batch_size=args.batch_size, max_attempts=args.max_attempts, max_wait=args.max_wait
    )
    elapsed = time.perf_counter() - started
    summary = {
        "records": len(records),
        **{o.value: outcomes.get(o.value, 0) for o in Outcome if o is not Outcome.RETRY},
        "dead_letter_reasons": dict(reasons),
        "seconds": round(elapsed, 3),
        "events_per_second": round(len(records) / elapsed, 1) if elapsed > 0 else None,
        "api": runtime.api_stats(),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"records {summary['records']}: processed {summary['processed']}, duplicates {summary['duplicate']},"
            f" dead-lettered {summary['dead_lettered']} in {summary['seconds']} s"
        )
        for reason, count in sorted(reasons.items()):
            print(f"  dead letter {reason}: {count}")
    return 0
