"""The long-running worker on the same core: acknowledges what settled, hands back retries, stops gracefully."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from factories import make_event
from gcevents.core.events import GenesysEvent
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import Pipeline, PipelineSettings
from gcevents.core.router import HandlerContext, Router
from gcevents.entrypoints.worker import Worker, WorkerSettings
from gcevents.errors import TransientError
from gcevents.testing.fakes import MemoryDeadLetterSink, MemoryIdempotencyStore
from gcevents.testing.queue import SimulatedQueue

FAST = WorkerSettings(
    batch_size=20,
    batch_window=0.0,
    wait_seconds=0.0,
    visibility_timeout=30.0,
    concurrency=2,
    retry_base_delay=0.0,
    retry_max_delay=0.0,
)


def build(router: Router) -> tuple[Pipeline, SimulatedQueue, MemoryDeadLetterSink]:
    sink = MemoryDeadLetterSink()
    pipeline = Pipeline(
        idempotency=Idempotency(MemoryIdempotencyStore()),
        dead_letters=sink,
        router=router,
        settings=PipelineSettings(deadline_margin=0.0, in_progress_retry_cap=0.05),
    )
    return pipeline, SimulatedQueue(max_receive_count=5, redrive_to=sink), sink


def test_worker_drains_a_queue_with_duplicates_malformed_and_flaky_handlers() -> None:
    effects: Counter[str] = Counter()
    failures_left = {"c-3": 2}  # this conversation fails twice, then works
    lock = threading.Lock()
    router = Router()

    @router.on("v2.detail.events.conversation.{id}.*")
    def record(event: GenesysEvent, ctx: HandlerContext) -> None:
        with lock:
            if failures_left.get(event.conversation_id or "", 0) > 0:
                failures_left[event.conversation_id or ""] -= 1
                raise TransientError("downstream hiccup")
            effects[ctx.idempotency_key] += 1

    pipeline, queue, sink = build(router)
    events = [make_event("customer.start", f"c-{i}", event_time=1_700_000_000_000 + i) for i in range(10)]
    resent = [dict(e, id=f"resend-{i}") for i, e in enumerate(events[:4])]
    queue.send([json.dumps(e) for e in events + resent] + ["{not json"])

    worker = Worker(pipeline, queue, FAST, is_drained=queue.is_drained)
    stats = worker.run(exit_when_idle=True)

    assert len(effects) == 10
    assert set(effects.values()) == {1}
    assert stats.outcomes["processed"] == 10
    assert stats.outcomes["duplicate"] == 4
    assert [x.reason for x in sink.letters] == ["not_json"]
    assert queue.is_drained()


def test_sigterm_finishes_in_flight_work_and_hands_back_the_rest() -> None:
    started = threading.Event()
    release = threading.Event()
    handled: list[str] = []
    router = Router()

    @router.on("*")
    def slow(event: GenesysEvent, ctx: HandlerContext) -> None:
        started.set()
        release.wait(5)
        handled.append(event.conversation_id or "")

    pipeline, queue, _ = build(router)
    # One conversation: its events run in order on one thread, so stopping mid-way leaves some unstarted.
    # (Five sessions: one session's user.start is one fact, whose copies would take turns.)
    events = [make_event("user.start", "c-1", session_id=f"s-{i}", event_time=1_700_000_000_000 + i) for i in range(5)]
    queue.send([json.dumps(event) for event in events])
    worker = Worker(
        pipeline,
        queue,
        WorkerSettings(batch_size=5, batch_window=0.0, wait_seconds=0.0, concurrency=1, visibility_timeout=300.0),
    )
    runner = threading.Thread(target=worker.run, kwargs={"max_batches": 1})
    runner.start()
    assert started.wait(5)
    worker.stop.set()  # what the SIGTERM handler does
    release.set()
    runner.join(10)
    assert not runner.is_alive()
    assert len(handled) == 1  # the in-flight event finished; no new work started after the signal
    # The unstarted four are visible again at once (not after the 300 s visibility timeout).
    back = queue.receive(10, 0, 30)
    assert len(back) == 4


def test_slow_batch_gets_its_visibility_extended() -> None:
    extended: list[dict[str, float]] = []

    class SpyQueue(SimulatedQueue):
        def change_visibility(self, receipts: Any) -> None:
            extended.append(dict(receipts))
            super().change_visibility(receipts)

    gate = threading.Event()
    router = Router()
    router.add("*", lambda event, ctx: gate.wait(2.0) and None)
    pipeline, _, _ = build(router)
    queue = SpyQueue()
    queue.send([json.dumps(make_event("customer.start", "c-9"))])
    worker = Worker(
        pipeline,
        queue,
        WorkerSettings(batch_size=1, batch_window=0.0, wait_seconds=0.0, visibility_timeout=1.5, concurrency=1),
    )
    worker.run(max_batches=1)
    assert extended, "the heartbeat never extended the visibility of the slow batch"
    assert all(v == 1.5 for e in extended for v in e.values())


def test_worker_over_sqs_on_moto_acknowledges_settled_messages(boto_client: Any, unique_name: str) -> None:
    from gcevents.adapters.sqs import SqsEventSource, create_queues

    sqs = boto_client("sqs")
    urls = create_queues(sqs, unique_name, visibility_timeout=30)
    events = [make_event("customer.end", f"c-{i}") for i in range(15)]
    for body in [json.dumps(e) for e in events] + [json.dumps(dict(events[0], id="re-sent")), "[]"]:
        sqs.send_message(QueueUrl=urls["queue_url"], MessageBody=body)
    handled: list[str] = []
    router = Router()
    router.add("*", lambda event, ctx: handled.append(event.content_key))
    pipeline, _, sink = build(router)
    source = SqsEventSource(sqs, urls["queue_url"])
    worker = Worker(pipeline, source, WorkerSettings(batch_size=50, batch_window=0.2, wait_seconds=0.0, concurrency=1))
    stats = worker.run(exit_when_idle=True)
    assert len(handled) == len(set(handled)) == 15
    assert stats.outcomes == {"processed": 15, "duplicate": 1, "dead_lettered": 1}
    assert [x.reason for x in sink.letters] == ["not_an_object"]
    attributes = sqs.get_queue_attributes(QueueUrl=urls["queue_url"], AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "0"  # all deleted, none left in flight
