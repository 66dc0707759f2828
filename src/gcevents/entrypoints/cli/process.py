"""`gcevents process FILE`: a JSON/JSONL file of events (or a saved SQS batch) through the pipeline."""

from __future__ import annotations

import argparse
import codecs
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gcevents.core.events import RawRecord, split_records
from gcevents.core.pipeline import Outcome
from gcevents.entrypoints.cli.exits import Exit
from gcevents.entrypoints.cli.options import add_option, options_from_args
from gcevents.ops.local import run_records
from gcevents.progress import terminal_progress

if TYPE_CHECKING:
    from gcevents.entrypoints.runtime import Runtime


@dataclass(frozen=True, slots=True)
class ProcessOptions:
    """How `run_records` drives a file through the pipeline (there is no queue to redeliver here)."""

    batch_size: int = 100
    max_attempts: int = 3  # then dead-letter as retries_exhausted
    max_wait: float = 5.0  # cap on waiting between retry rounds (s)


def register(subparsers: Any) -> None:
    process = subparsers.add_parser(
        "process",
        help="run a JSON/JSONL file of events (or a saved SQS batch)",
        description=(
            "Run events from a file through the pipeline on this machine, with the configured stores and handlers "
            "(GCEVENTS_HANDLERS; run from your project folder with PYTHONPATH=.): one EventBridge event, a JSON "
            "list, an SQS batch as Lambda receives it, or one event per line. Transient failures are retried in "
            "rounds; what still fails is dead-lettered. Prints how many records were processed, duplicates, "
            "dead-lettered (and why). Exit 0: every record processed or a duplicate; 3: some were dead-lettered or "
            "left unfinished."
        ),
    )
    process.add_argument("file", help="path, or - for stdin")
    add_option(process, "--batch-size", ProcessOptions, help="records per pipeline batch (default: %(default)s)")
    add_option(process, "--max-attempts", ProcessOptions, help="then dead-letter as retries_exhausted")
    add_option(process, "--max-wait", ProcessOptions, help="cap on waiting between retry rounds (s)")
    process.add_argument(
        "--sink",
        action="append",
        default=[],
        metavar="SPEC",
        help="add a sink (GCEVENTS_SINKS syntax), e.g. webhook:https://crm.example.com/in; see the Outputs guide",
    )
    process.add_argument(
        "--lake", metavar="DIR", help="then write the conversation records as Parquet there (needs gcevents[lake])"
    )
    process.add_argument("--json", action="store_true", help="machine-readable summary")
    process.set_defaults(func=cmd_process)


def read_records(path: str) -> list[RawRecord]:
    """A JSON document (one event, a list, an SQS batch) or JSONL, read as bytes.

    Lines are split on b"\\n" only (str.splitlines would also cut at U+2028 inside a JSON string) and decoded one
    by one: a line that is not UTF-8 stays bytes, which the parser dead-letters as `not_utf8`, naming the byte;
    its letter keeps the line as `surrogateescape` text, so `gcevents.text.original_bytes` (and `dlq inspect
    --json`'s `bodyBase64`) give the original bytes back. One bad byte costs one line, not the file."""
    data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    data = data.removeprefix(codecs.BOM_UTF8)
    if not data.strip():
        return []
    document = _document(data)
    if document is not None:  # JSONL with more than one line never parses as one document
        return split_records(document)
    lines = enumerate(data.split(b"\n"), 1)
    return [RawRecord(payload=_line(line), message_id=f"line-{n}") for n, line in lines if line.strip()]


def _document(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None


def _line(line: bytes) -> str | bytes:
    line = line.removesuffix(b"\r")
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line


def cmd_process(args: argparse.Namespace) -> int:
    from gcevents.adapters.memory import CollectingScheduler
    from gcevents.config import config_with_sinks
    from gcevents.core.outputs import due_timers
    from gcevents.entrypoints.cli.lake import lake_module, write_from_store
    from gcevents.entrypoints.runtime import build_runtime
    from gcevents.observability import configure_logging

    config = config_with_sinks(args.sink)
    records = read_records(args.file)  # before anything is created: a wrong path leaves no database behind
    if args.lake:
        lake_module()  # the lake extra is there, or say so before processing
    configure_logging(config.log_level, service=config.service_name)
    # No queue to delay timers on: the grace of every conversation still waiting for a wrap-up ends with the run.
    scheduler = CollectingScheduler() if config.outputs.check_queue is None else None
    runtime = build_runtime(config, scheduler=scheduler)
    options = options_from_args(ProcessOptions, args)
    started = time.perf_counter()
    progress = terminal_progress(len(records), "records", quiet=args.json)
    outcomes, reasons = _run(runtime, records, options, progress.advance if progress else None)
    if progress is not None:
        progress.close()
    if scheduler is not None and (timers := due_timers(scheduler.waiting())):
        _run(runtime, [RawRecord(body, f"timer-{n}") for n, body in enumerate(timers, 1)], options)
    elapsed = time.perf_counter() - started
    delivered = runtime.outputs.deliveries.snapshot() if runtime.outputs is not None else {}
    summary = {
        "records": len(records),
        **{o.value: outcomes.get(o.value, 0) for o in Outcome if o is not Outcome.RETRY},
        "unfinished": outcomes.get(Outcome.RETRY.value, 0),  # still rate limited: run the file again later
        "dead_letter_reasons": dict(reasons),
        "seconds": round(elapsed, 3),
        "events_per_second": round(len(records) / elapsed, 1) if elapsed > 0 else None,
        "api": runtime.api_stats(),
        "outputs": delivered,
    }
    lake = write_from_store(runtime.state_store, args.lake) if args.lake and runtime.state_store else None
    if lake is not None:
        summary["lake"] = lake
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"records {summary['records']}: processed {summary['processed']}, duplicates {summary['duplicate']},"
            f" dead-lettered {summary['dead_lettered']} in {summary['seconds']} s"
        )
        for reason, count in sorted(reasons.items()):
            print(f"  dead letter {reason}: {count}")
        for kind, count in sorted(delivered.items()):
            print(f"  delivered {kind}: {count}")
        if summary["unfinished"]:
            print(f"  unfinished (Genesys kept answering 429): {summary['unfinished']}; run the file again later")
        if lake is not None:
            print(f"  lake: {lake['records']} conversation records as Parquet under {args.lake}")
    return Exit.INCOMPLETE if summary["unfinished"] or summary["dead_lettered"] else Exit.OK


def _run(
    runtime: Runtime, records: list[RawRecord], options: ProcessOptions, progress: Callable[[int], object] | None = None
) -> tuple[Counter[str], Counter[str]]:
    return run_records(
        runtime.pipeline,
        runtime.dead_letters,
        records,
        batch_size=options.batch_size,
        max_attempts=options.max_attempts,
        max_wait=options.max_wait,
        progress=progress,
    )
