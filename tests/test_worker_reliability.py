"""The worker's reliability: settle by message, leases that fit the retry schedule, a supervised worker.

Each test names the defect it pins down; they failed on the main branch before the fix (see the report of the
change that added them)."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from factories import Crash, make_event, resend, sqs_record
from gcevents.adapters.sqlite import SqliteDatabase, SqliteQueue
from gcevents.config import Config, StoreSpec
from gcevents.core.events import GenesysEvent, RawRecord
from gcevents.core.idempotency import Idempotency, Lease
from gcevents.core.pipeline import Outcome, Pipeline, PipelineSettings
from gcevents.core.router import HandlerContext, Router
from gcevents.core.settlement import by_message
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.entrypoints.worker import Worker, WorkerSettings
from gcevents.errors import ConfigError, TransientError
from gcevents.ports import Claim, ClaimStatus, EventSource
from gcevents.testing import LambdaContext
from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink, MemoryIdempotencyStore
from gcevents.testing.queue import SimulatedQueue

ANY = "*"
# No retry backoff: a retried message is visible again at once, so a test sees where its retry went.
QUICK = WorkerSettings(
    batch_size=20,
    batch_window=0.0,
    wait_seconds=0.0,
    visibility_timeout=30.0,
    concurrency=1,
    retry_base_delay=0.0,
    retry_max_delay=0.0,
)


def pipeline_for(
    router: Router,
    *,
    store: MemoryIdempotencyStore | None = None,
    clock: FakeClock | None = None,
    sink: MemoryDeadLetterSink | None = None,
    skew_margin: float = 0.0,
    margin: float = 0.0,
) -> Pipeline:
    idempotency = Idempotency(store or MemoryIdempotencyStore(), clock=clock)
    idempotency.skew_margin = skew_margin
    return Pipeline(
        idempotency=idempotency,
        dead_letters=sink or MemoryDeadLetterSink(),
        router=router,
        settings=PipelineSettings(deadline_margin=margin),
        clock=clock,
    )


def failing_router(calls: list[str] | None = None) -> Router:
    router = Router()

    def fail(event: GenesysEvent, ctx: HandlerContext) -> None:
        if calls is not None:
            calls.append(ctx.idempotency_key)
        raise TransientError("downstream hiccup")

    router.add(ANY, fail)
    return router


def counting_router(calls: list[str]) -> Router:
    router = Router()
    router.add(ANY, lambda event, ctx: calls.append(ctx.idempotency_key))
    return router


# ------------------------------------------------------------------------------------------------ defect 1
class MemoryKind:
    def __init__(self, tmp_path: Path) -> None:
        self.queue = SimulatedQueue()

    def source(self) -> EventSource:
        return self.queue

    def waiting(self) -> int:
        return 0 if self.queue.is_drained() else 1


class SqliteKind:
    def __init__(self, tmp_path: Path) -> None:
        self.queue = SqliteQueue(SqliteDatabase(str(tmp_path / "queue.db")))

    def source(self) -> EventSource:
        return self.queue

    def waiting(self) -> int:
        return sum(self.queue.depth().values())


QUEUE_KINDS: dict[str, Callable[[Path], MemoryKind | SqliteKind]] = {"memory": MemoryKind, "sqlite": SqliteKind}


def received_twice(source: Any, body: str) -> list[RawRecord]:
    """The issue's repro: one message, received with visibility 0, then again: two copies, two receipt handles."""
    source.send([body])
    first = source.receive(10, 0, 0)
    second = source.receive(10, 0, 30)
    assert len(first) == len(second) == 1
    assert first[0].message_id == second[0].message_id
    assert first[0].receipt_handle != second[0].receipt_handle
    return first + second


@pytest.mark.parametrize("kind", sorted(QUEUE_KINDS))
def test_a_message_received_twice_in_a_batch_is_retried_when_its_handler_fails(kind: str, tmp_path: Path) -> None:
    """Defect 1: the folded copy was acknowledged by the current receipt, deleting a message whose handler failed."""
    queue = QUEUE_KINDS[kind](tmp_path)
    worker = Worker(pipeline_for(failing_router()), queue.source(), QUICK)
    report = worker.handle(received_twice(queue.source(), json.dumps(make_event("customer.end"))))
    assert queue.waiting() == 1  # still in the queue, waiting for its retry
    assert [r.outcome for r in report.results] == [Outcome.RETRY, Outcome.RETRY]  # the copy follows its primary
    # The retry delay (0 here) went to the freshest receipt: a stale one would have left it hidden for 30 s.
    (again,) = queue.source().receive(10, 0, 30)
    assert again.receive_count == 3


@pytest.mark.parametrize("kind", sorted(QUEUE_KINDS))
def test_a_message_received_twice_is_acknowledged_by_its_freshest_receipt(kind: str, tmp_path: Path) -> None:
    queue = QUEUE_KINDS[kind](tmp_path)
    calls: list[str] = []
    worker = Worker(pipeline_for(counting_router(calls)), queue.source(), QUICK)
    report = worker.handle(received_twice(queue.source(), json.dumps(make_event("customer.end"))))
    assert [r.outcome for r in report.results] == [Outcome.PROCESSED, Outcome.DUPLICATE]
    assert len(calls) == 1
    assert queue.waiting() == 0  # deleted (a stale receipt would have left it in the queue)


def test_a_resend_folded_into_a_failing_primary_is_retried_with_it() -> None:
    """Not only the same message: a re-send (another message, same content) folded into a primary that must be
    retried is handed back too, and acknowledged only once the primary succeeded."""
    queue = SimulatedQueue()
    event = make_event("customer.end")
    queue.send([json.dumps(event), json.dumps(resend(event))])
    calls: list[str] = []
    worker = Worker(pipeline_for(failing_router(calls)), queue, QUICK)
    report = worker.handle(queue.receive(10, 0, 30))
    assert [(r.outcome, r.reason) for r in report.results][1][0] is Outcome.RETRY
    assert len(calls) == 1
    assert len(queue.receive(10, 0, 30)) == 2  # both are back


def test_by_message_settles_each_message_once_with_its_freshest_copy() -> None:
    from gcevents.core.pipeline import RecordResult

    old, new = RawRecord("x", "m-1", "r-old", 1), RawRecord("x", "m-1", "r-new", 2)
    other = RawRecord("y", "m-2", "r-2", 1)
    direct_a, direct_b = RawRecord({"a": 1}), RawRecord({"a": 1})  # no message id: each its own message
    results = [
        RecordResult(new, Outcome.RETRY, "handler_failed", 3.0),
        RecordResult(other, Outcome.PROCESSED),
        RecordResult(old, Outcome.RETRY, "handler_failed", 7.0),
        RecordResult(direct_a, Outcome.PROCESSED),
        RecordResult(direct_b, Outcome.DUPLICATE, "in_batch"),
    ]
    settled = by_message(results)
    assert [(r.record.receipt_handle, r.outcome, r.retry_after) for r in settled[:2]] == [
        ("r-new", Outcome.RETRY, 7.0),  # the longest hint of its copies, the freshest receipt
        ("r-2", Outcome.PROCESSED, None),
    ]
    assert [r.record for r in settled[2:]] == [direct_a, direct_b]


def test_the_lambda_path_reports_a_message_delivered_twice_once() -> None:
    """Lambda's partial batch response names messages, not receipts: a failing message delivered twice in one
    batch is named (once) and so never deleted; a succeeding one is not named."""
    runtime = build_runtime(
        Config(idempotency_store=StoreSpec("memory"), state_store=StoreSpec("off"), dead_letters=StoreSpec("memory")),
        router=failing_router(),
    )
    body = json.dumps(make_event("customer.end"))
    copies = [sqs_record(body, message_id="m-1", receive_count=n) for n in (1, 2)]
    copies[1]["receiptHandle"] = "receipt-2"
    context = LambdaContext()
    response = process_invocation(runtime, {"Records": copies}, context)
    assert response == {"batchItemFailures": [{"itemIdentifier": "m-1"}]}
    runtime.pipeline.router = counting_router([])
    assert process_invocation(runtime, {"Records": copies}, context) == {"batchItemFailures": []}


# ------------------------------------------------------------------------------------------------ defect 2
def drive(worker: Worker, queue: SimulatedQueue, clock: FakeClock, *, rounds: int = 400) -> None:
    """Receive and handle until the queue is empty, jumping the fake clock over idle time."""
    for _ in range(rounds):
        if queue.is_drained():
            return
        records = queue.receive(10, 0, worker.settings.visibility_timeout)
        if records:
            worker.handle(records)
        else:
            clock.advance(1.0)
    raise AssertionError("the queue did not drain")


def test_a_crashed_workers_batch_is_processed_not_dead_lettered() -> None:
    """Defect 2: the lease was the 300 s batch time limit, a redelivery found the key held and came back within
    30 s, so five receives ran out before the lease did: the whole batch went to the DLQ. Now the lease is one
    visibility timeout: a crash costs at most two receives (the crashed one and one wait for the lease)."""
    clock = FakeClock(time.time())  # the fake time starts at the real one, so any wall-clock lease is comparable
    sink = MemoryDeadLetterSink()
    store = MemoryIdempotencyStore()
    queue = SimulatedQueue(max_receive_count=5, redrive_to=sink, clock=clock)
    events = [make_event("customer.end", f"c-{n}") for n in range(8)]
    queue.send([json.dumps(e) for e in events])
    crashing = Router()

    def crash(event: GenesysEvent, ctx: HandlerContext) -> None:
        raise Crash

    crashing.add(ANY, crash)
    settings = WorkerSettings(batch_size=10, batch_window=0.0, wait_seconds=0.0, concurrency=1)  # the defaults
    doomed = Worker(pipeline_for(crashing, store=store, clock=clock, skew_margin=5.0), queue, settings)
    with pytest.raises(Crash):
        doomed.handle(queue.receive(10, 0, settings.visibility_timeout))
    calls: list[str] = []
    survivor = Worker(pipeline_for(counting_router(calls), store=store, clock=clock, skew_margin=5.0), queue, settings)
    drive(survivor, queue, clock)
    assert sink.letters == []
    assert len(calls) == len(set(calls)) == len(events)


# ------------------------------------------------------------------------------------------------ defect 10
def claimed(idempotency: Idempotency, lease: Lease, key: str = "k") -> Claim:
    outcome = idempotency.claim_all([key], lease.begin())[key]
    assert not isinstance(outcome, Exception)
    assert outcome[1].status is ClaimStatus.CLAIMED
    return outcome[0]


def test_clock_skew_tolerance_is_lease_minus_renewal_interval_plus_the_margin() -> None:
    """Measure it: a holder renews its lease every `interval`; a claimer whose clock runs `skew` seconds ahead
    tries at every tick. The smallest skew at which it takes over a live key is the tolerance, and it is
    lease - interval + margin (docs/operations.md). Without renewals it would be the time left on the lease."""
    lease_s, interval, margin, tick = 12.0, 4.0, 3.0, 0.25

    def overtaken(skew: float) -> bool:
        store = MemoryIdempotencyStore()
        holder_clock = FakeClock(1_800_000_000.0)
        claimer_clock = FakeClock(holder_clock.current + skew)
        holder, claimer = Idempotency(store, clock=holder_clock), Idempotency(store, clock=claimer_clock)
        claimer.skew_margin = margin
        lease = Lease(holder, lease_s)
        claim = claimed(holder, lease)
        lease.hold([claim], lease.begin())
        for step in range(int(5 * interval / tick)):
            if step and step % int(interval / tick) == 0:
                lease.renew()
            outcome = claimer.claim_all(["k"], claimer_clock.now() + lease_s)["k"]
            if not isinstance(outcome, Exception) and outcome[1].status is ClaimStatus.CLAIMED:
                return True
            holder_clock.advance(tick)
            claimer_clock.advance(tick)
        return False

    skews = [n * tick for n in range(int(30 / tick))]
    tolerated = next(s for s in skews if overtaken(s)) - tick
    print(f"\nclock skew tolerated: {tolerated:g} s (lease {lease_s:g}, renewal {interval:g}, margin {margin:g})")
    # The claimer looks every tick, so the last look before a renewal is one tick short of the interval.
    assert lease_s - interval + margin <= tolerated <= lease_s - interval + margin + tick


def test_a_lease_that_cannot_be_renewed_stops_new_work_before_it_ends() -> None:
    clock = FakeClock(1_800_000_000.0)
    idempotency = Idempotency(MemoryIdempotencyStore(), clock=clock)
    lease = Lease(idempotency, 10.0)
    assert not lease.ending(clock.now(), 2.0)  # nothing held yet
    claim = claimed(idempotency, lease)
    lease.hold([claim], lease.begin())
    clock.advance(7.0)
    assert not lease.ending(clock.now(), 2.0)
    clock.advance(1.5)
    assert lease.ending(clock.now(), 2.0)  # no renewal: within the margin of its end
    assert lease.renew() == 1
    assert not lease.ending(clock.now(), 2.0)
    lease.drop([claim])
    assert lease.renew() == 0


def test_a_renewal_that_finds_the_key_taken_over_is_reported_lost() -> None:
    clock = FakeClock(1_800_000_000.0)
    store = MemoryIdempotencyStore()
    idempotency = Idempotency(store, clock=clock)
    lease = Lease(idempotency, 10.0)
    lease.hold([claimed(idempotency, lease)], lease.begin())
    clock.advance(11.0)  # lapsed (a long pause), and someone took it
    claimed(Idempotency(store, clock=clock), Lease(idempotency, 10.0))
    assert lease.renew() == 0
    assert lease.lost == {"k"}
    assert lease.ending(clock.now(), 0.0)


# ------------------------------------------------------------------------------------------------ defect 3
class FlakyQueue(SimulatedQueue):
    """A queue whose first `ack_failures` acks and `visibility_failures` visibility changes raise."""

    def __init__(self, *, ack_failures: int = 0, visibility_failures: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.failures = Counter(ack=ack_failures, visibility=visibility_failures)
        self.lock = threading.Lock()

    def _maybe_fail(self, what: str) -> None:
        with self.lock:
            if self.failures[what] > 0:
                self.failures[what] -= 1
                raise TransientError(f"injected {what} failure")

    def ack(self, receipts: Iterable[str]) -> None:
        self._maybe_fail("ack")
        super().ack(receipts)

    def change_visibility(self, receipts: Mapping[str, float]) -> None:
        self._maybe_fail("visibility")
        super().change_visibility(receipts)


def test_failed_acks_and_visibility_changes_do_not_kill_the_pollers() -> None:
    """Defect 3: two failing acks with two pollers ended the worker at once, all messages still queued."""
    queue = FlakyQueue(ack_failures=2, visibility_failures=2)
    events = [make_event("customer.start", f"c-{n}") for n in range(40)]
    queue.send([json.dumps(e) for e in events])
    calls: list[str] = []
    failed_once: set[str] = set()
    router = Router()

    def flaky(event: GenesysEvent, ctx: HandlerContext) -> None:
        if event.conversation_id in ("c-1", "c-2") and event.conversation_id not in failed_once:
            failed_once.add(event.conversation_id or "")
            raise TransientError("first attempt fails: its retry delay is a visibility change")
        calls.append(ctx.idempotency_key)

    router.add(ANY, flaky)
    settings = WorkerSettings(
        batch_size=10,
        batch_window=0.0,
        wait_seconds=0.0,
        visibility_timeout=1.0,
        concurrency=2,
        retry_base_delay=0.0,
        retry_max_delay=0.0,
    )
    worker = Worker(pipeline_for(router), queue, settings, is_drained=queue.is_drained)
    stats = worker.run(exit_when_idle=True)
    assert queue.is_drained()
    assert sorted(calls) == sorted(set(calls))
    assert len(calls) == 40
    assert stats.errors >= 2  # each failure was an iteration that failed, logged and restarted
    assert stats.failed_acks > 0
    assert not stats.unfinished


def test_a_configuration_error_stops_every_poller_and_is_raised() -> None:
    """Defect 3: a mistyped queue was retried forever with a traceback every 0.5 s."""

    class MissingQueue(SimulatedQueue):
        def receive(self, max_messages: int, wait_seconds: float, visibility_timeout: float) -> list[RawRecord]:
            raise ConfigError("sqs receive_message: AWS.SimpleQueueService.NonExistentQueue: no such queue")

    worker = Worker(pipeline_for(counting_router([])), MissingQueue(), QUICK)
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            worker.run()
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "the worker kept retrying a configuration error"
    assert len(outcome) == 1
    assert isinstance(outcome[0], ConfigError)
    assert "NonExistentQueue" in str(outcome[0])


@pytest.mark.parametrize(
    ("overrides", "margin", "complaint"),
    [
        ({"batch_time_limit": 3.0}, 5.0, "--batch-time-limit 3 s must exceed GCEVENTS_DEADLINE_MARGIN 5 s"),
        ({"visibility_timeout": 6.0}, 5.0, "GCEVENTS_DEADLINE_MARGIN 5 s must be below the lease left"),
        ({"visibility_timeout": 0.5}, 0.0, "--visibility-timeout must be within"),
        ({"wait_seconds": 25.0}, 0.0, "--wait must be within"),
    ],
)
def test_settings_that_cannot_work_fail_at_start(overrides: dict[str, float], margin: float, complaint: str) -> None:
    """Defect 11 (worker part): --batch-time-limit 3 against a 5 s margin processed nothing and exited 0."""
    queue = SimulatedQueue()
    queue.send([json.dumps(make_event("customer.end"))])
    settings = WorkerSettings(**{**QUICK.__dict__, **overrides})
    worker = Worker(pipeline_for(counting_router([]), margin=margin), queue, settings)
    with pytest.raises(ConfigError, match=complaint):
        worker.run(exit_when_idle=True)
    assert len(queue.receive(10, 0, 1)) == 1  # nothing was received before the check


def test_the_cli_exits_non_zero_with_a_clear_message_for_an_impossible_batch_time_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from gcevents.entrypoints.cli import main

    monkeypatch.setenv("GCEVENTS_DB", str(tmp_path / "store.db"))
    monkeypatch.setenv("GCEVENTS_DEADLINE_MARGIN", "5")
    SqliteQueue(SqliteDatabase(str(tmp_path / "queue.db"))).send([json.dumps(make_event("customer.end"))])
    code = main(["worker", "--sqlite-queue", str(tmp_path / "queue.db"), "--batch-time-limit", "3", "--exit-when-idle"])
    assert code == 78  # configuration error (docs/cli.md)
    assert "--batch-time-limit 3 s must exceed GCEVENTS_DEADLINE_MARGIN 5 s" in capsys.readouterr().err


def test_stopping_with_records_handed_back_is_unfinished_work() -> None:
    started, release = threading.Event(), threading.Event()
    router = Router()

    def slow(event: GenesysEvent, ctx: HandlerContext) -> None:
        started.set()
        release.wait(5)

    router.add(ANY, slow)
    queue = SimulatedQueue()
    # Five sessions' user.start: one session's user.start is one fact, whose copies would take turns.
    events = [make_event("user.start", "c-1", session_id=f"s-{n}", event_time=1_700_000_000_000 + n) for n in range(5)]
    queue.send([json.dumps(event) for event in events])
    settings = WorkerSettings(batch_size=5, batch_window=0.0, wait_seconds=0.0, concurrency=1, visibility_timeout=60)
    worker = Worker(pipeline_for(router), queue, settings)
    runner = threading.Thread(target=worker.run, kwargs={"max_batches": 1})
    runner.start()
    assert started.wait(5)
    worker.stop.set()
    release.set()
    runner.join(10)
    assert worker.stats.handed_back == 4
    assert worker.stats.unfinished


# ------------------------------------------------------------------------------------------------ on moto (slow)
def test_the_issue_repro_on_sqs_keeps_the_message_for_its_retry(boto_client: Any, unique_name: str) -> None:
    """Defect 1, exactly as reported: send 1 message; receive it with visibility 0; receive it again;
    `Worker.handle(first + second)` with a handler raising TransientError: 1 message must wait for its retry."""
    from gcevents.adapters.sqs import SqsEventSource, create_queues

    sqs = boto_client("sqs")
    urls = create_queues(sqs, unique_name, visibility_timeout=30)
    source = SqsEventSource(sqs, urls["queue_url"])
    sqs.send_message(QueueUrl=urls["queue_url"], MessageBody=json.dumps(make_event("customer.end")))
    first, second = source.receive(10, 0, 0), source.receive(10, 0, 30)
    Worker(pipeline_for(failing_router()), source, QUICK).handle(first + second)
    attributes = sqs.get_queue_attributes(QueueUrl=urls["queue_url"], AttributeNames=["All"])["Attributes"]
    waiting = int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])
    assert waiting == 1


def test_a_missing_queue_fails_fast_with_a_clear_message(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect 3: a mistyped queue URL is a configuration error: exit 78 at once, naming it."""
    from gcevents.entrypoints.cli import main

    monkeypatch.setenv("GCEVENTS_DB", str(tmp_path / "store.db"))
    code = main(["worker", "--queue-url", f"{aws}/123456789012/no-such-queue", "--wait", "0"])
    assert code == 78
    err = capsys.readouterr().err
    assert "gcevents: sqs get_queue_attributes" in err
    assert "NonExistentQueue" in err


@pytest.mark.slow  # real time: a handler that sleeps past a lease
def test_a_handler_that_outlives_its_first_lease_never_runs_beside_a_resend() -> None:
    """Defect 10: a 3 s call against a 2 s lease ran at the same time as a re-send of its event. The heartbeat
    renews the lease with the visibility, so the re-send finds the key held until the handler is done."""
    store = MemoryIdempotencyStore()
    running: list[tuple[str, float, float]] = []  # (who, started, ended)
    lock = threading.Lock()

    def router_for(who: str, seconds: float) -> Router:
        router = Router()

        def slow(event: GenesysEvent, ctx: HandlerContext) -> None:
            started = time.monotonic()
            time.sleep(seconds)
            with lock:
                running.append((who, started, time.monotonic()))

        router.add(ANY, slow)
        return router

    event = make_event("customer.end")
    # The old lease was the batch time limit (1.2 s); the lease is now the visibility timeout (1 s), renewed.
    settings = WorkerSettings(
        batch_size=1, batch_window=0.0, wait_seconds=0.0, visibility_timeout=1.0, batch_time_limit=1.2, concurrency=1
    )
    first_queue, second_queue = SimulatedQueue(), SimulatedQueue()
    first_queue.send([json.dumps(event)])
    second_queue.send([json.dumps(resend(event))])
    first = Worker(pipeline_for(router_for("first", 2.0), store=store), first_queue, settings)
    second = Worker(pipeline_for(router_for("resend", 0.0), store=store), second_queue, settings)
    runner = threading.Thread(target=first.handle, args=(first_queue.receive(1, 0, 1.0),))
    runner.start()
    time.sleep(1.4)  # past the old lease, while the first handler still runs
    report = second.handle(second_queue.receive(1, 0, 1.0))
    runner.join()
    assert [r.outcome for r in report.results] == [Outcome.RETRY]
    assert report.results[0].reason == "in_progress_elsewhere"
    assert [who for who, _, _ in running] == ["first"]


def test_the_local_runner_settles_a_message_given_twice_once() -> None:
    """`gcevents process` of a saved SQS batch holding one message twice: one dead letter, and the second copy
    counted a duplicate (every record counted once: issue 20)."""
    from gcevents.ops.local import run_records

    sink = MemoryDeadLetterSink()
    body = json.dumps(make_event("customer.end"))
    records = [RawRecord(body, "m-1", "r-1", 1), RawRecord(body, "m-1", "r-2", 2)]
    outcomes, reasons = run_records(
        pipeline_for(failing_router(), sink=sink), sink, records, batch_size=10, max_attempts=2, max_wait=0.0
    )
    assert outcomes == Counter(dead_lettered=1, duplicate=1)
    assert reasons == Counter(retries_exhausted=1)
    assert len(sink.letters) == 1


def test_a_missing_idempotency_table_fails_fast(
    aws: str, boto_client: Any, unique_name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Defect 3: a bad table is a configuration error, found before the first receive (not per record, forever)."""
    from gcevents.adapters.sqs import create_queues
    from gcevents.entrypoints.cli import main

    urls = create_queues(boto_client("sqs"), unique_name, visibility_timeout=30)
    monkeypatch.setenv("GCEVENTS_IDEMPOTENCY_STORE", f"dynamodb:{unique_name}-missing")
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    monkeypatch.setenv("GCEVENTS_DLQ", "memory")
    code = main(["worker", "--queue-url", urls["queue_url"], "--wait", "0", "--exit-when-idle"])
    assert code == 78
    assert "ResourceNotFoundException" in capsys.readouterr().err


def test_a_stale_receipt_does_not_stall_the_poller_on_sqs(boto_client: Any, unique_name: str) -> None:
    """Issue 21.5: DeleteMessageBatch refused 1 of 20 receipts (ReceiptHandleIsInvalid); the worker kept all 20 to
    re-send before every receive and failed each poll until the receipt aged out. The stale one is settled elsewhere."""
    from gcevents.adapters.sqs import SqsEventSource, create_queues

    sqs = boto_client("sqs")
    urls = create_queues(sqs, unique_name, visibility_timeout=30)
    source = SqsEventSource(sqs, urls["queue_url"])
    for n in range(4):
        sqs.send_message(QueueUrl=urls["queue_url"], MessageBody=json.dumps(make_event("customer.end", f"c-{n}")))
    records = source.receive(10, 0, 30)
    stale = RawRecord(json.dumps(make_event("customer.end", "c-stale")), "m-stale", "a-stale-receipt", 1)
    calls: list[str] = []
    worker = Worker(pipeline_for(counting_router(calls)), source, QUICK)
    worker.handle([*records, stale])  # raised before: the ack of the whole batch failed
    assert len(calls) == 5
    assert worker.stats.failed_acks == 0
    worker._flush_unacked()  # the next poll: nothing left to re-send
    attributes = sqs.get_queue_attributes(QueueUrl=urls["queue_url"], AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == attributes["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_an_ack_refused_in_part_keeps_only_the_refused_receipts() -> None:
    """Issue 21.5: the accepted entries of a partly refused ack are not re-sent before the next receive."""
    from gcevents.errors import AckIncompleteError

    class PartlyRefusing(SimulatedQueue):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[list[str]] = []

        def ack(self, receipts: Iterable[str]) -> None:
            receipts = list(receipts)
            self.calls.append(receipts)
            super().ack(receipts[1:])
            if len(self.calls) == 1:
                raise AckIncompleteError("one refused", pending=receipts[:1])
            super().ack(receipts[:1])

    queue = PartlyRefusing()
    queue.send([json.dumps(make_event("customer.end", f"c-{n}")) for n in range(3)])
    worker = Worker(pipeline_for(counting_router([])), queue, QUICK)
    with pytest.raises(AckIncompleteError):
        worker.handle(queue.receive(10, 0, 30))
    assert worker.stats.failed_acks == 1
    worker._flush_unacked()
    assert [len(a) for a in queue.calls] == [3, 1]
    assert queue.is_drained()
