"""A 429 is never a reason to dead-letter, on every path a record takes: pipeline (the RETRY is marked
`throttled`), Lambda handler (re-sent as a new delayed message, left out of batchItemFailures), worker (requeued
through its event source), local runner (a throttled round spends no attempt). A storm of 429s far longer than
maxReceiveCount dead-letters nothing, while an ordinary outage of the same length still does."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from gcevents.config import Config, StoreSpec
from gcevents.core.pipeline import Outcome, PipelineSettings
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import Runtime, build_runtime
from gcevents.entrypoints.worker import Worker, WorkerSettings
from gcevents.errors import RateLimitedError, TransientError
from gcevents.ops.local import run_records
from gcevents.ports import EnrichmentResult, RawRecord
from gcevents.testing import LambdaContext
from gcevents.testing.fakes import FakeClock
from gcevents.testing.queue import SimulatedQueue
from gcevents.testing.workload import conversation_lifecycle

ENRICHED = frozenset({"conversation.customer.end", "conversation.customer.start"})


class Storm:
    """An enricher whose API answers 429 (or is down) for the first `calls` lookups, then works."""

    def __init__(self, calls: int, error: type[TransientError] = RateLimitedError, retry_after: float = 0.01) -> None:
        self.left = calls
        self.error = error
        self.retry_after = retry_after
        self._lock = threading.Lock()

    def enrich(self, conversation_ids: Sequence[str], deadline: float) -> EnrichmentResult:
        with self._lock:
            failing = self.left > 0
            self.left -= 1
        if failing:
            error = self.error("Genesys analytics_details_bulk: 429 Too Many Requests", retry_after=self.retry_after)
            return EnrichmentResult(failed=dict.fromkeys(conversation_ids, error))
        return EnrichmentResult(details={cid: {"conversationId": cid} for cid in conversation_ids})


def bodies(conversations: int) -> list[str]:
    import random

    rng = random.Random(5)
    events = [e for n in range(conversations) for e in conversation_lifecycle(f"c-{n}", 1_764_000_000_000, rng)[:2]]
    return [json.dumps(e) for e in events]


def runtime_with(enricher: Storm, clock: FakeClock | None = None, sqs: Any = None) -> Runtime:
    config = Config(
        idempotency_store=StoreSpec("memory"),
        state_store=StoreSpec("off"),
        dead_letters=StoreSpec("memory"),
        pipeline=PipelineSettings(enrich_kinds=ENRICHED, lag_retries=0, deadline_margin=0.5),
    )
    return build_runtime(config, enricher=enricher, clock=clock, clients={"sqs": sqs} if sqs is not None else {})


def drain_lambda(queue: SimulatedQueue, runtime: Runtime) -> None:
    for _ in range(500):
        event = queue.next_batch(give_up_at=time.monotonic() + 30)
        if event is None:
            return
        queue.settle(event, process_invocation(runtime, event, LambdaContext(30.0)))
    raise AssertionError("queue did not drain")


@pytest.mark.parametrize(("error", "dead_lettered"), [(RateLimitedError, False), (TransientError, True)])
def test_lambda_path_requeues_429s_instead_of_spending_receives(
    error: type[TransientError], dead_lettered: bool
) -> None:
    """maxReceiveCount 2 and an API that refuses the first 12 lookups: every enriched record is refused more often
    than its receive count allows. 429s come back as new messages and all land; an outage of the same length
    walks records into the redrive policy."""
    clock = FakeClock(follows_wall=True)
    queue = SimulatedQueue(
        name="throttle", batch_size=10, max_receive_count=2, visibility_timeout=1.0, clock=clock, advance=clock.advance
    )
    runtime = runtime_with(Storm(12, error), clock, sqs=queue)
    sent = queue.send(bodies(15))
    drain_lambda(queue, runtime)
    if dead_lettered:
        assert queue.redriven  # the control: the same storm as an outage does reach the DLQ
        return
    assert queue.redriven == {}
    assert runtime.dead_letters.letters == []  # type: ignore[attr-defined]
    assert queue.stats.requeued > 0
    assert set(sent) <= queue.acked  # every original was deleted (processed, or replaced by its re-sent copy)


@pytest.mark.parametrize(("error", "dead_lettered"), [(RateLimitedError, False), (TransientError, True)])
def test_worker_path_requeues_429s(error: type[TransientError], dead_lettered: bool) -> None:
    queue = SimulatedQueue(name="throttle-worker", max_receive_count=2)
    runtime = runtime_with(Storm(12, error))
    queue.send(bodies(15))
    worker = Worker(
        runtime.pipeline,
        queue,
        WorkerSettings(
            batch_size=10,
            batch_window=0.0,
            wait_seconds=0.05,
            visibility_timeout=5,
            concurrency=1,
            retry_base_delay=0.0,
            retry_max_delay=0.0,
        ),
        is_drained=queue.is_drained,
    )
    worker.run(exit_when_idle=True)
    assert queue.is_drained()
    assert bool(queue.redriven) is dead_lettered
    if not dead_lettered:
        assert queue.stats.requeued > 0
        assert worker.stats.requeued_throttled == queue.stats.requeued
        assert worker.stats.outcomes[Outcome.PROCESSED.value] == 30


def test_local_runner_does_not_count_throttled_rounds_as_attempts() -> None:
    runtime = runtime_with(Storm(8))
    records = [RawRecord(body, message_id=str(uuid.uuid4())) for body in bodies(5)]
    outcomes, reasons = run_records(
        runtime.pipeline, runtime.dead_letters, records, batch_size=10, max_attempts=2, max_wait=0.0
    )
    assert reasons == {}
    assert outcomes[Outcome.PROCESSED.value] == 10


def test_local_runner_leaves_records_unfinished_when_429s_never_end() -> None:
    runtime = runtime_with(Storm(10_000, retry_after=0.05))
    records = [RawRecord(body, message_id=str(uuid.uuid4())) for body in bodies(2)]
    outcomes, reasons = run_records(
        runtime.pipeline,
        runtime.dead_letters,
        records,
        batch_size=10,
        max_attempts=2,
        max_wait=0.0,
        max_throttle_wait=0.2,
    )
    assert reasons == {}  # nothing dead-lettered ...
    assert outcomes[Outcome.RETRY.value] == 2  # ... the enriched ones are left for a later run
    assert runtime.dead_letters.letters == []  # type: ignore[attr-defined]
