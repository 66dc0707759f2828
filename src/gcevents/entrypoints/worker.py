"""`gcevents worker`: a long-running consumer (ECS/EC2, or locally on the SQLite queue) on the same core.

Long polling, N pollers (bounded concurrency), a heartbeat that keeps a running batch's messages hidden and its
idempotency leases alive, and a graceful SIGTERM: stop receiving, let in-flight batches finish or hand their
unstarted records straight back.

Supervision, as dramatiq's consumers do it: every poll iteration is guarded. An unexpected error (a failed
receive, ack or visibility change, a pipeline bug) is logged with its context, counted, and the poller carries
on after a jittered backoff; a poller thread never dies silently. A configuration error (the queue does not
exist, access denied, a missing table) stops every poller at once and `run` raises it: retrying cannot help.

Leases: a claim is leased for one visibility timeout and renewed with the visibility by the heartbeat, so a
crashed worker's keys are claimable again about when its messages are visible again (not after the batch time
limit), and a handler that runs long keeps its key: a re-send of its event waits instead of running alongside."""

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
from gcevents.core.idempotency import Lease
from gcevents.core.pipeline import BatchReport, Outcome, Pipeline, RecordResult
from gcevents.core.settlement import by_message, freshest_records, near_max_receive
from gcevents.errors import AckIncompleteError, ConfigError
from gcevents.ports import EventSource
from gcevents.retry import (
    POLLER_BACKOFF_BASE,
    POLLER_BACKOFF_CAP,
    REDELIVERY_BASE,
    REDELIVERY_CAP,
    compute_backoff,
    redelivery_delay,
)

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 20.0  # SQS long polling
MAX_VISIBILITY_SECONDS = 12 * 3600
MIN_HEARTBEAT_SECONDS = 0.2


@dataclass(frozen=True)
class WorkerSettings:
    batch_size: int = 100  # records per pipeline run, gathered from several receives (SQS gives <= 10)
    batch_window: float = 1.0  # seconds to spend filling a batch once the first record arrived
    wait_seconds: float = 20.0  # long polling
    visibility_timeout: float = 120.0  # also the idempotency lease, both renewed by the heartbeat
    batch_time_limit: float = 300.0  # the pipeline deadline per batch: no record starts after it (minus the margin)
    concurrency: int = 2  # pollers, each running one batch at a time
    retry_base_delay: float = REDELIVERY_BASE  # backoff for retries without a Retry-After hint: base * 2^(receives-1)
    retry_max_delay: float = REDELIVERY_CAP

    @property
    def heartbeat_interval(self) -> float:
        """Visibility and leases are renewed three times per visibility timeout: two renewals may fail (or come
        late) before a message shows up again or a key can be taken over."""
        return max(MIN_HEARTBEAT_SECONDS, self.visibility_timeout / 3)

    def problems(self, deadline_margin: float) -> list[str]:
        """What makes these settings unworkable with the pipeline's `deadline_margin` (GCEVENTS_DEADLINE_MARGIN)."""
        out = []
        if self.batch_size < 1 or self.concurrency < 1:
            out.append("--batch-size and --concurrency must be >= 1")
        if not 0 <= self.wait_seconds <= MAX_WAIT_SECONDS or self.batch_window < 0:
            out.append(f"--wait must be within 0..{MAX_WAIT_SECONDS:g} s and --batch-window >= 0")
        if not 1 <= self.visibility_timeout <= MAX_VISIBILITY_SECONDS:
            out.append(f"--visibility-timeout must be within 1..{MAX_VISIBILITY_SECONDS} s")
        if self.batch_time_limit <= deadline_margin:
            out.append(
                f"--batch-time-limit {self.batch_time_limit:g} s must exceed GCEVENTS_DEADLINE_MARGIN "
                f"{deadline_margin:g} s: no record could ever start"
            )
        renewed_before = self.visibility_timeout - self.heartbeat_interval
        if deadline_margin >= renewed_before:
            out.append(
                f"GCEVENTS_DEADLINE_MARGIN {deadline_margin:g} s must be below the lease left at a renewal "
                f"({renewed_before:g} s = 2/3 of --visibility-timeout): no record could ever start"
            )
        if self.retry_base_delay < 0 or self.retry_max_delay < 0:
            out.append("retry delays must be >= 0")
        return out


@dataclass
class WorkerStats:
    batches: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    errors: int = 0  # poll iterations that failed (and were restarted)
    failed_acks: int = 0  # messages whose acknowledgement failed (retried; redelivered as duplicates otherwise)
    handed_back: int = 0  # messages handed back unfinished while stopping
    unacked_at_exit: int = 0  # acknowledgements still failing when the worker stopped
    leases_lost: int = 0  # keys a renewal found taken over by another consumer
    requeued_throttled: int = 0  # rate-limited messages put back as fresh deliveries (no receive spent)
    requeued_unattempted: int = 0  # messages handed back unattempted near maxReceiveCount, put back likewise
    poller_died: bool = False  # a poller ended with an exception that is not ours to handle (BaseException)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, report: BatchReport) -> None:
        with self._lock:
            self.batches += 1
            self.outcomes.update(report.counts())
            self.dead_letter_reasons.update(report.dead_letter_reasons())

    def count(self, name: str, amount: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    @property
    def unfinished(self) -> bool:
        """Did the worker stop with work it could not finish (`gcevents worker` then exits non-zero)?"""
        return self.poller_died or self.handed_back > 0 or self.unacked_at_exit > 0


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
        self._fatal: ConfigError | None = None
        self._unacked: dict[str, float] = {}  # receipt -> when its ack first failed (monotonic)
        self._unacked_lock = threading.Lock()

    # ------------------------------------------------------------------------------------------ lifecycle
    def check(self) -> None:
        """Fail fast, before any message is received: settings that cannot work, a queue or a table that does not
        exist or that we may not use. Raises ConfigError naming every problem."""
        problems = self.settings.problems(self.pipeline.settings.deadline_margin)
        if problems:
            raise ConfigError("worker settings: " + "; ".join(problems))
        probes: list[Callable[[], object]] = [
            lambda: self.pipeline.idempotency.store.completed(["gcevents-preflight"], int(time.time() * 1000))
        ]
        source_check = getattr(self.source, "check", None)
        if callable(source_check):
            probes.insert(0, source_check)
        for probe in probes:
            try:
                probe()
            except ConfigError:
                raise
            except Exception as exc:  # unreachable for now: the pollers retry with backoff
                log.warning("start-up check failed; continuing", extra={"error": repr(exc)})

    def run(self, *, exit_when_idle: bool = False, max_batches: int | None = None) -> WorkerStats:
        """Run pollers until `stop` is set (SIGTERM), the queue stays empty (`exit_when_idle`) or `max_batches`
        batches ran. Raises ConfigError (after stopping every poller) for a configuration problem."""
        self.check()
        threads = [
            threading.Thread(target=self._poll, args=(exit_when_idle, max_batches), name=f"gcevents-poller-{n}")
            for n in range(self.settings.concurrency)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self._flush_unacked(final=True)
        if self._fatal is not None:
            raise self._fatal
        return self.stats

    def _fail(self, exc: ConfigError) -> None:
        log.critical("configuration error; stopping every poller", extra={"error": str(exc)})
        self._fatal = self._fatal or exc
        self.stop.set()

    # ------------------------------------------------------------------------------------------ polling
    def _poll(self, exit_when_idle: bool, max_batches: int | None) -> None:
        """One poller. Guards every iteration: nothing but a configuration error (or an interpreter exit) ends it
        before `stop`."""
        failures = 0
        try:
            while not self.stop.is_set():
                if max_batches is not None and self.stats.batches >= max_batches:
                    return
                try:
                    self._flush_unacked()
                    if not self._poll_once(exit_when_idle):
                        return
                    failures = 0
                except ConfigError as exc:
                    self._fail(exc)
                    return
                except Exception:
                    failures += 1
                    self.stats.count("errors")
                    backoff = compute_backoff(min(failures - 1, 16), base=POLLER_BACKOFF_BASE, cap=POLLER_BACKOFF_CAP)
                    log.critical(
                        "poll iteration failed; the poller restarts after a backoff",
                        exc_info=True,
                        extra={
                            "poller": threading.current_thread().name,
                            "consecutive_failures": failures,
                            "backoff_s": round(backoff, 3),
                        },
                    )
                    self.stop.wait(backoff)
        except BaseException:
            self.stats.poller_died = True
            log.critical("poller died; stopping the worker", exc_info=True)
            self.stop.set()
            raise

    def _poll_once(self, exit_when_idle: bool) -> bool:
        """Receive and handle one batch. False when the poller should end (idle and drained)."""
        records = self._gather()
        if records:
            self.handle(records)
            return True
        return not (exit_when_idle and (self.is_drained is None or self.is_drained()))

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

    # ------------------------------------------------------------------------------------------ one batch
    def handle(self, records: Sequence[RawRecord]) -> BatchReport:
        """Run one batch and settle it with the queue: one action per message, by its freshest receipt handle.
        Raises what the pipeline or the queue raised (after settling what it could): the poll loop logs it."""
        s = self.settings
        lease = Lease(self.pipeline.idempotency, s.visibility_timeout)
        done = threading.Event()
        heartbeat = threading.Thread(
            target=self._heartbeat,
            args=(freshest_records(records), lease, done),
            name="gcevents-heartbeat",
            daemon=True,
        )
        heartbeat.start()
        try:
            deadline = self.pipeline.clock.now() + s.batch_time_limit
            # If the pipeline raises, nothing is acknowledged: every record comes back after its visibility
            # timeout, and its claims lapse one lease (= visibility timeout) after the last renewal.
            report = self.pipeline.run(records, deadline, stop=self.stop, lease=lease)
        finally:
            done.set()
            heartbeat.join()
        if lease.lost:
            self.stats.count("leases_lost", len(lease.lost))
        self._settle(report)
        return report

    def _settle(self, report: BatchReport) -> None:
        settled = by_message(report.results)
        acks = [r.record.receipt_handle for r in settled if r.outcome is not Outcome.RETRY and r.record.receipt_handle]
        requeued = self._requeue(settled)
        delays = {
            r.record.receipt_handle: self._retry_delay(r)
            for r in settled
            if r.outcome is Outcome.RETRY and r.record.receipt_handle and r.record.message_id not in requeued
        }
        if delays and self.stop.is_set():
            self.stats.count("handed_back", len(delays))
        self.stats.add(report)
        failure: Exception | None = None
        if acks:
            try:
                self.source.ack(acks)
            except Exception as exc:
                failure = exc
                pending = unacked_receipts(exc, acks)
                self.stats.count("failed_acks", len(pending))
                with self._unacked_lock:
                    self._unacked.update(dict.fromkeys(pending, time.monotonic()))
                log.error("ack failed; retried before the next receive", extra={"messages": len(pending)})
        if delays:
            try:
                self.source.change_visibility(delays)
            except Exception as exc:  # they come back after the visibility timeout instead: later, not lost
                failure = failure or exc
                log.error(
                    "retry delay failed; messages return after their visibility timeout",
                    extra={"messages": len(delays)},
                )
        if self.on_batch is not None:
            self.on_batch(report)
        if failure is not None:
            raise failure

    def _requeue(self, settled: Sequence[RecordResult]) -> set[str]:
        """Records that spent no attempt come back as fresh deliveries after their hint: rate-limited ones (a 429
        never spends a receive toward the DLQ), and unattempted ones (the batch's time ran out, or was cut short by a
        stop, or another consumer holds the key) once one more receive could dead-letter them. Those the queue did
        not take are retried (delayed) as usual."""
        try:
            wanted = [
                r
                for r in settled
                if r.outcome is Outcome.RETRY
                and r.record.receipt_handle
                and (r.throttled or (r.unattempted and near_max_receive(r.record, self.source.receive_limit())))
            ]
            if not wanted:
                return set()
            requeued = self.source.requeue([(r.record, self._requeue_delay(r)) for r in wanted])
        except Exception:
            log.warning("could not requeue records that spent no attempt", exc_info=True)
            return set()
        throttled = sum(1 for r in wanted if r.throttled and r.record.message_id in requeued)
        self.stats.count("requeued_throttled", throttled)
        self.stats.count("requeued_unattempted", len(requeued) - throttled)
        return requeued

    def _requeue_delay(self, result: RecordResult) -> float:
        s = self.settings
        hint = 1.0 if result.retry_after is None else result.retry_after  # 0: at once (nothing holds it back)
        return redelivery_delay(hint, result.record.receive_count, base=s.retry_base_delay, cap=s.retry_max_delay)

    def _flush_unacked(self, *, final: bool = False) -> None:
        """Retry acknowledgements that failed. One visibility timeout after the failure the message is visible
        again and will be settled as a duplicate by whoever receives it: then it is no longer ours to ack."""
        with self._unacked_lock:
            if not self._unacked:
                return
            horizon = time.monotonic() - self.settings.visibility_timeout
            for receipt in [r for r, failed_at in self._unacked.items() if failed_at < horizon]:
                del self._unacked[receipt]
            receipts = list(self._unacked)
        if receipts:
            try:
                self.source.ack(receipts)
            except Exception as exc:
                still = set(unacked_receipts(exc, receipts))
                with self._unacked_lock:  # the ones the queue took, or settled elsewhere, are not re-sent
                    for receipt in receipts:
                        if receipt not in still:
                            self._unacked.pop(receipt, None)
                if not final:
                    raise
                receipts = [r for r in receipts if r in still]
                self.stats.unacked_at_exit = len(receipts)
                log.error("acks still failing at exit", exc_info=True, extra={"messages": len(receipts)})
                return
        with self._unacked_lock:
            for receipt in receipts:
                self._unacked.pop(receipt, None)

    def _retry_delay(self, result: RecordResult) -> float:
        s = self.settings
        if self.stop.is_set() and result.retry_after is None:
            return 0.0  # shutting down: let another worker take it at once
        return redelivery_delay(
            result.retry_after, result.record.receive_count, base=s.retry_base_delay, cap=s.retry_max_delay
        )

    def _heartbeat(self, records: list[RawRecord], lease: Lease, done: threading.Event) -> None:
        """Keep a running batch's messages hidden and its claims leased, together: no other consumer starts its
        messages, and a re-send of one of its events finds the key held while a handler still runs."""
        s = self.settings
        receipts = {r.receipt_handle: s.visibility_timeout for r in records if r.receipt_handle}
        while not done.wait(s.heartbeat_interval):
            try:
                if receipts:
                    self.source.change_visibility(receipts)
            except Exception:
                log.warning("visibility extension failed", exc_info=True)
            try:
                lease.renew()
            except Exception:
                log.warning("lease renewal failed", exc_info=True)


def unacked_receipts(exc: Exception, receipts: list[str]) -> list[str]:
    """The receipts an ack that raised `exc` left undeleted: those the queue named, or all of them."""
    return list(exc.pending) if isinstance(exc, AckIncompleteError) else receipts


def install_signal_handlers(worker: Worker) -> None:
    def on_signal(signum: int, _frame: Any) -> None:
        log.info("signal received; finishing in-flight batches", extra={"signal": signum})
        worker.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
