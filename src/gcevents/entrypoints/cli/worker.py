"""`gcevents worker`: run the long-running consumer on SQS or the local SQLite queue."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from gcevents.config import Config, StoreSpec
from gcevents.core.pipeline import BatchReport
from gcevents.entrypoints.cli.exits import Exit
from gcevents.entrypoints.cli.options import add_option, options_from_args
from gcevents.entrypoints.worker import Worker, WorkerSettings, install_signal_handlers
from gcevents.ops.plan import worker_max_receive_count
from gcevents.ports import EventSource

log = logging.getLogger(__name__)

# Exit status (docs/cli.md): 0 stopped with nothing left behind; 78 a configuration error (named on stderr,
# nothing started); 3 stopped with unfinished work: records handed back while stopping, acknowledgements that kept
# failing, or a poller that died. Unfinished work is not lost: the queue redelivers it to another consumer.
EXIT_UNFINISHED = Exit.INCOMPLETE


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="long-running SQS (or local SQLite queue) consumer",
        description=(
            "Consume an SQS queue (on ECS or EC2, instead of Lambda) or the local SQLite queue, with the same "
            "pipeline and configuration as the Lambda handler. Stops cleanly on SIGTERM: batches in progress finish "
            "or hand their records back."
        ),
    )
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--queue-url", help="SQS queue URL")
    target.add_argument("--sqlite-queue", metavar="PATH", help="local SQLite queue file")
    add_option(parser, "--concurrency", WorkerSettings, help="pollers, each running one batch at a time (%(default)s)")
    add_option(parser, "--batch-size", WorkerSettings, help="records per batch, from several receives (%(default)s)")
    add_option(
        parser, "--batch-window", WorkerSettings, help="seconds to fill a batch once a record came (%(default)s)"
    )
    add_option(
        parser,
        "--visibility-timeout",
        WorkerSettings,
        help="seconds a received message stays hidden, and the lease a heartbeat renews (%(default)s)",
    )
    add_option(parser, "--wait", WorkerSettings, "wait_seconds", help="long-poll seconds per receive (%(default)s)")
    add_option(
        parser,
        "--batch-time-limit",
        WorkerSettings,
        help="seconds a batch may run: its deadline; must exceed GCEVENTS_DEADLINE_MARGIN (%(default)s)",
    )
    add_option(
        parser, "--retry-base-delay", WorkerSettings, help="seconds; retries without a Retry-After hint (%(default)s)"
    )
    add_option(parser, "--retry-max-delay", WorkerSettings, help="seconds; the longest such retry delay (%(default)s)")
    parser.add_argument(
        "--max-receive-count",
        type=int,
        default=worker_max_receive_count(),
        help="SQLite queue redrive threshold (default %(default)s: see the Operations guide)",
    )
    parser.add_argument("--exit-when-idle", action="store_true", help="stop when the queue is empty")
    parser.add_argument("--max-batches", type=int, help="stop after this many batches")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON on stdout when it stops")
    parser.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from gcevents.entrypoints.runtime import build_runtime
    from gcevents.observability import configure_logging

    config = with_default_check_queue(Config.from_env(), args)
    configure_logging(config.log_level, service=config.service_name)
    runtime = build_runtime(config)
    source: EventSource
    is_drained: Callable[[], bool] | None = None
    if args.queue_url:
        from gcevents.adapters.sqs import SqsEventSource

        source = SqsEventSource(runtime.client("sqs"), args.queue_url)
    else:
        from gcevents.adapters.sqlite import SqliteQueue
        from gcevents.adapters.sqlite.database import SqliteDatabase
        from gcevents.ops.dlq import failure_explainer

        queue = SqliteQueue(
            SqliteDatabase(args.sqlite_queue),
            max_receive_count=args.max_receive_count,
            redrive_to=runtime.dead_letters,
            explain=failure_explainer(runtime.idempotency_store),
        )
        source, is_drained = queue, queue.is_drained
    settings = options_from_args(WorkerSettings, args)
    last = runtime.counters()
    lock = threading.Lock()

    def emit(report: BatchReport) -> None:
        # Counter deltas since the previous batch: totals are exact, attribution between pollers approximate.
        nonlocal last
        with lock:
            now = runtime.counters()
            extra, last = {k: v - last.get(k, 0.0) for k, v in now.items()}, now
        runtime.metrics.emit_batch(report, extra)

    worker = Worker(runtime.pipeline, source, settings, on_batch=emit, is_drained=is_drained)
    install_signal_handlers(worker)
    stats = worker.run(exit_when_idle=args.exit_when_idle, max_batches=args.max_batches)
    summary = {
        "batches": stats.batches,
        "outcomes": dict(stats.outcomes),
        "errors": stats.errors,
        "failed_acks": stats.failed_acks,
        "handed_back": stats.handed_back,
        "unacked_at_exit": stats.unacked_at_exit,
        "leases_lost": stats.leases_lost,
    }
    if args.json:
        print(json.dumps({**summary, "unfinished": stats.unfinished}), flush=True)
    if stats.unfinished:
        log.error("worker stopped with unfinished work", extra=summary)
        return EXIT_UNFINISHED
    log.info("worker stopped", extra=summary)
    return Exit.OK


def with_default_check_queue(config: Config, args: argparse.Namespace) -> Config:
    """The completion timers of the grace period go to the queue this worker consumes, unless configured."""
    if config.outputs.check_queue is not None or not config.outputs.derived:
        return config
    spec = StoreSpec("sqs", args.queue_url) if args.queue_url else StoreSpec("sqlite", args.sqlite_queue)
    return dataclasses.replace(config, outputs=dataclasses.replace(config.outputs, check_queue=spec))
