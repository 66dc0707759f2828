"""`gcevents worker`: a long-running consumer (ECS/EC2, or locally on the SQLite queue) on the same core.

Long polling, N pollers (bounded concurrency), visibility extension while a slow batch runs, and a graceful
SIGTERM: stop receiving, let in-flight batches finish or hand their unstarted records straight back."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gcevents.core.events import RawRecord
from gcevents.core.pipeline import BatchReport, Outcome, Pipeline
from gcevents.ports import EventSource
from gcevents.retry import REDELIVERY_BASE, REDELIVERY_CAP, redelivery_delay

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 100  # records per pipeline run, gathered from several receives (SQS gives <= 10)
    batch_window: float = 1.0  # seconds to spend filling a batch once the first record arrived
    wait_seconds: float = 20.0  # long polling
    visibility_timeout: float = 120.0
    batch_time_limit: float = 300.0  # the pipeline deadline (= idempotency lease) per batch
    concurrency: int = 2  # pollers, each running one batch at a time
    retry_base_delay: float = REDELIVERY_BASE  # backoff for retries without a Retry-After hint: base * 2^(receives-1)
    retry_max_delay: float = REDELIVERY_CAP


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
        return redelivery_delay(retry_after, receive_count, base=s.retry_base_delay, cap=s.retry_max_delay)

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
