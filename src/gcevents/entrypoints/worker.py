"""`gcevents worker`: a long-running consumer (ECS/EC2, or locally on the SQLite queue) on the same core.

Long polling, N pollers (bounded concurrency), visibility extension while a slow batch runs, and a graceful
SIGTERM: stop receiving, let in-flight batches finish or hand their unstarted records straight back."""

from __future__ import annotations

import argparse
import logging
import random
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..events import RawRecord
from ..pipeline import BatchReport, Outcome, Pipeline
from ..ports import EventSource

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 100  # records per pipeline run, gathered from several receives (SQS gives <= 10)
    batch_window: float = 1.0  # seconds to spend filling a batch once the first record arrived
    wait_seconds: float = 20.0  # long polling
    visibility_timeout: float = 120.0
    batch_time_limit: float = 300.0  # the pipeline deadline (= idempotency lease) per batch
    concurrency: int = 2  # pollers, each running one batch at a time
    retry_base_delay: float = 2.0  # backoff for retries without a Retry-After hint: base * 2^(receives-1)
    retry_max_delay: float = 900.0


@dataclass
class WorkerStats:
    batches: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, report: BatchReport) -> None:
        with self._lock:
            self.batches += 1
            self.outcomes.update(report.counts())
            self.dead_letter_reasons.update(report.dead_letter_reasons())


class Worker:
    def __init__(
        self,
        pipeline: Pipeline,
        source: EventSource,
        settings: WorkerSettings | None = None,
        *,
        on_batch: Callable[[BatchReport], object] | None = None,
        is_drained: Callable[[], bool] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.source = source
        self.settings = settings or WorkerSettings()
        self.on_batch = on_batch
        # With exit_when_idle: an empty receive is not enough (retries may be hidden for a while).
        self.is_drained = is_drained
        self.stats = WorkerStats()
        self.stop = threading.Event()

    def run(self, *, exit_when_idle: bool = False, max_batches: int | None = None) -> WorkerStats:
        """Run pollers until `stop` is set (SIGTERM), the queue stays empty (`exit_when_idle`) or
        `max_batches` batches ran."""
        threads = [
            threading.Thread(target=self._poll, args=(exit_when_idle, max_batches), name=f"gcevents-poller-{n}")
            for n in range(max(1, self.settings.concurrency))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return self.stats

    def _poll(self, exit_when_idle: bool, max_batches: int | None) -> None:
        while not self.stop.is_set():
            if max_batches is not None and self.stats.batches >= max_batches:
                return
            try:
                records = self._gather()
            except Exception:
                self.stats.errors += 1
                log.exception("receive failed; backing off")
                self.stop.wait(1.0)
                continue
            if not records:
                if exit_when_idle and (self.is_drained is None or self.is_drained()):
                    return
                continue
            self.handle(records)

    def _gather(self) -> list[RawRecord]:
        s = self.settings
        wait = s.wait_seconds
        records: list[RawRecord] = []
        window_ends: float | None = None
        while len(records) < s.batch_size and not self.stop.is_set():
            got = self.source.receive(min(10, s.batch_size - len(records)), wait, s.visibility_timeout)
            records.extend(got)
            if not got:
                break
            window_ends = window_ends or time.monotonic() + s.batch_window
            wait = 0  # after the first record only top up what is already there
            if time.monotonic() >= window_ends:
                break
        return records

    def handle(self, records: Sequence[RawRecord]) -> BatchReport:
        s = self.settings
        receipts = [r.receipt_handle for r in records if r.receipt_handle]
        done = threading.Event()
        heartbeat = threading.Thread(target=self._extend_while_running, args=(receipts, done), daemon=True)
        heartbeat.start()
        try:
            report = self.pipeline.run(records, time.time() + s.batch_time_limit, stop=self.stop)
        except Exception:
            # The pipeline reports per record and should not raise; if it does, nothing is acknowledged:
            # every record comes back after its visibility timeout.
            self.stats.errors += 1
            log.exception("batch failed as a whole; all records will be redelivered")
            done.set()
            raise
        done.set()
        heartbeat.join()
        acked = [r.record.receipt_handle for r in report.results if r.outcome is not Outcome.RETRY]
        delays = {
            r.record.receipt_handle: self._retry_delay(r.retry_after, r.record.receive_count)
            for r in report.results
            if r.outcome is Outcome.RETRY and r.record.receipt_handle
        }
        if acked:
            self.source.ack([a for a in acked if a])
        if delays:
            self.source.change_visibility(delays)
        self.stats.add(report)
        if self.on_batch is not None:
            self.on_batch(report)
        return report

    def _retry_delay(self, retry_after: float | None, receive_count: int) -> float:
        s = self.settings
        if self.stop.is_set() and retry_after is None:
            return 0.0  # shutting down: let another worker take it at once
        if retry_after is not None:
            return retry_after + random.uniform(0, min(retry_after, 30.0))
        return random.uniform(0, min(s.retry_max_delay, s.retry_base_delay * 2 ** max(0, receive_count - 1)))

    def _extend_while_running(self, receipts: list[str], done: threading.Event) -> None:
        """Keep a slow batch's messages hidden so no other consumer starts them while we still work."""
        interval = max(0.5, self.settings.visibility_timeout / 3)
        while not done.wait(interval):
            try:
                self.source.change_visibility(dict.fromkeys(receipts, self.settings.visibility_timeout))
            except Exception:
                log.warning("visibility extension failed", exc_info=True)


def install_signal_handlers(worker: Worker) -> None:
    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal received; finishing in-flight batches", extra={"signal": signum})
        worker.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


# ---------------------------------------------------------------------------------------------------- CLI
def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("worker", help="long-running SQS (or local SQLite queue) consumer")
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--queue-url", help="SQS queue URL")
    target.add_argument("--sqlite-queue", metavar="PATH", help="local SQLite queue file")
    parser.add_argument("--concurrency", type=int, default=WorkerSettings.concurrency)
    parser.add_argument("--batch-size", type=int, default=WorkerSettings.batch_size)
    parser.add_argument("--batch-window", type=float, default=WorkerSettings.batch_window)
    parser.add_argument("--visibility-timeout", type=float, default=WorkerSettings.visibility_timeout)
    parser.add_argument("--wait", type=float, default=WorkerSettings.wait_seconds)
    parser.add_argument("--batch-time-limit", type=float, default=WorkerSettings.batch_time_limit)
    parser.add_argument("--max-receive-count", type=int, default=5, help="SQLite queue redrive threshold")
    parser.add_argument("--exit-when-idle", action="store_true", help="stop when the queue is empty")
    parser.add_argument("--max-batches", type=int)
    parser.set_defaults(func=cmd_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from ..config import Config
    from ..observability import configure_logging
    from .runtime import build_runtime

    config = Config.from_env()
    configure_logging(config.log_level)
    runtime = build_runtime(config)
    source: EventSource
    is_drained: Callable[[], bool] | None = None
    if args.queue_url:
        from ..adapters.queues import SqsEventSource

        source = SqsEventSource(runtime.client("sqs"), args.queue_url)
    else:
        from ..adapters.queues import SqliteQueue
        from ..adapters.sqlite import SqliteDatabase

        queue = SqliteQueue(
            SqliteDatabase(args.sqlite_queue), max_receive_count=args.max_receive_count, redrive_to=runtime.dead_letters
        )
        source, is_drained = queue, queue.is_drained
    settings = WorkerSettings(
        batch_size=args.batch_size,
        batch_window=args.batch_window,
        wait_seconds=args.wait,
        visibility_timeout=args.visibility_timeout,
        batch_time_limit=args.batch_time_limit,
        concurrency=args.concurrency,
    )
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
    log.info("worker stopped", extra={"batches": stats.batches, "outcomes": dict(stats.outcomes)})
    return 0
