"""Unattempted work never counts toward the DLQ: a record handed back without its handler having run (the deadline
came first, another consumer holds its key) spends a receive as a failure does. Near maxReceiveCount it is re-sent
as a new message instead (as a 429 is), in the Lambda handler and in the worker; below that it is returned as
before. A record whose handler did run and failed keeps walking toward the DLQ."""

from __future__ import annotations

import json
from typing import Any

from gcevents.config import Config, StoreSpec
from gcevents.core.events import GenesysEvent, RawRecord, parse_record
from gcevents.core.pipeline import Outcome, PipelineSettings
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import Runtime, build_runtime
from gcevents.entrypoints.worker import Worker, WorkerSettings
from gcevents.errors import TransientError
from gcevents.ports import ClaimStatus, EnrichmentResult
from gcevents.testing.queue import SimulatedQueue
from gcevents.testing.workload import conversation_lifecycle

ENRICHED = frozenset({"conversation.customer.end", "conversation.customer.start"})  # claimed, not claim-free


class Details:
    def __init__(self, fail: bool = False) -> None:
        self.fail = fail

    def enrich(self, conversation_ids: Any, deadline: float) -> EnrichmentResult:
        if self.fail:
            return EnrichmentResult(failed=dict.fromkeys(conversation_ids, TransientError("analytics down")))
        return EnrichmentResult(details={cid: {"conversationId": cid} for cid in conversation_ids})


def body() -> str:
    import random

    event = conversation_lifecycle("c-1", 1_764_000_000_000, random.Random(3))[0]
    assert event["detail"]["topicName"].endswith("customer.start")
    return json.dumps(event)


def runtime_with(queue: SimulatedQueue | None = None, *, fail: bool = False) -> Runtime:
    config = Config(
        idempotency_store=StoreSpec("memory"),
        state_store=StoreSpec("off"),
        dead_letters=StoreSpec("memory"),
        clock_skew_margin=0.0,  # a held key is looked at again at once
        pipeline=PipelineSettings(enrich_kinds=ENRICHED, lag_retries=0, deadline_margin=0.5, in_progress_retry_cap=0.0),
    )
    return build_runtime(config, enricher=Details(fail), clients={"sqs": queue} if queue is not None else {})


def hold_elsewhere(runtime: Runtime, text: str) -> None:
    """Another consumer is running this event: its content key is leased for an hour."""
    event = parse_record(RawRecord(text))
    assert isinstance(event, GenesysEvent)
    now_ms = int(runtime.pipeline.clock.now() * 1000)
    held = runtime.idempotency_store.claim(event.content_key, "elsewhere", now_ms + 3_600_000, now_ms)
    assert held.status is ClaimStatus.CLAIMED


class Context:
    aws_request_id = "test"

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def invoke(queue: SimulatedQueue, runtime: Runtime, remaining_ms: int = 30_000) -> tuple[int, dict[str, Any]]:
    event = queue.next_batch()
    assert event is not None
    (record,) = event["Records"]
    response = process_invocation(runtime, event, Context(remaining_ms))
    queue.settle(event, response, retry_after=0.0)
    return int(record["attributes"]["ApproximateReceiveCount"]), response


def test_lambda_a_record_the_deadline_kept_from_running_is_requeued_near_max_receive_count() -> None:
    """maxReceiveCount 3: an invocation out of time hands the record back unattempted. At receive 1 it is
    returned (batchItemFailures) as before; at receive 2 (= 3 - 1) it goes back as a new message; never redriven."""
    queue = SimulatedQueue(name="unattempted", max_receive_count=3)
    runtime = runtime_with(queue)
    queue.send([body()])
    assert invoke(queue, runtime, remaining_ms=100) == (1, {"batchItemFailures": [{"itemIdentifier": "m-000001"}]})
    assert invoke(queue, runtime, remaining_ms=100) == (2, {"batchItemFailures": []})
    assert queue.stats.requeued == 1
    assert invoke(queue, runtime) == (1, {"batchItemFailures": []})  # the new message, with its receive count anew
    assert queue.redriven == {}
    assert queue.is_drained()


def test_lambda_a_record_whose_key_is_held_elsewhere_is_requeued_near_max_receive_count() -> None:
    queue = SimulatedQueue(name="held", max_receive_count=3)
    runtime = runtime_with(queue)
    text = body()
    hold_elsewhere(runtime, text)
    queue.send([text])
    counts = [invoke(queue, runtime)[0] for _ in range(4)]
    assert counts == [1, 2, 1, 2]  # requeued each time it reached 2: the holder's lease outlasts any receive count
    assert queue.redriven == {}
    assert queue.stats.requeued == 2


def test_lambda_a_record_whose_handler_ran_and_failed_still_reaches_the_dlq() -> None:
    queue = SimulatedQueue(name="failing", max_receive_count=3)
    runtime = runtime_with(queue, fail=True)
    queue.send([body()])
    for _ in range(3):
        invoke(queue, runtime)
    assert queue.next_batch() is None
    assert list(queue.redriven) == ["m-000001"]
    assert queue.stats.requeued == 0


def test_worker_a_record_whose_key_is_held_elsewhere_is_requeued_near_max_receive_count() -> None:
    queue = SimulatedQueue(name="held-worker", max_receive_count=3)
    runtime = runtime_with()
    text = body()
    hold_elsewhere(runtime, text)
    queue.send([text])
    worker = Worker(
        runtime.pipeline, queue, WorkerSettings(retry_base_delay=0.0, retry_max_delay=0.0)
    )  # handed back at once
    seen: list[int] = []
    for _ in range(4):
        (record,) = queue.receive(10, 0.0, 30)
        seen.append(record.receive_count)
        (result,) = worker.handle([record]).results
        assert (result.outcome, result.reason) == (Outcome.RETRY, "in_progress_elsewhere")
    assert seen == [1, 2, 1, 2]
    assert queue.redriven == {}
    assert queue.stats.requeued == 2
    assert worker.stats.requeued_unattempted == 2
