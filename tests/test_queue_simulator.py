"""The queue simulator's event source mapping and boto3 faces (its EventSource face is in test_queues.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gcevents.adapters.sqs import SqsRequeuer
from gcevents.core.events import split_records
from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink
from gcevents.testing.queue import SimulatedQueue


def virtual_queue(**options: Any) -> tuple[SimulatedQueue, FakeClock]:
    clock = FakeClock()
    return SimulatedQueue(clock=clock, advance=clock.advance, **options), clock


def test_batches_are_shaped_as_aws_sends_them_and_parse_into_records() -> None:
    queue, clock = virtual_queue(name="q", batch_size=2, visibility_timeout=60)
    ids = queue.send(["a", "b", "c"])
    event = queue.next_batch()
    assert event is not None
    (first, second) = event["Records"]
    assert [first["messageId"], second["messageId"]] == ids[:2]
    assert first["eventSourceARN"] == queue.arn == "arn:aws:sqs:us-east-1:123456789012:q"
    assert first["attributes"]["ApproximateReceiveCount"] == "1"
    assert first["attributes"]["SentTimestamp"] == str(int(clock.now() * 1000))
    assert first["md5OfBody"] == "0cc175b9c0f1b6a831c399e269772661"  # md5("a"), as SQS computes it
    records = split_records(event)
    assert [(r.payload, r.message_id, r.receipt_handle) for r in records] == [
        ("a", ids[0], first["receiptHandle"]),
        ("b", ids[1], second["receiptHandle"]),
    ]


def test_settle_deletes_successes_and_brings_failures_back_after_the_visibility_timeout() -> None:
    queue, clock = virtual_queue(batch_size=10, visibility_timeout=60)
    ids = queue.send(["ok", "retry", "ok too"])
    event = queue.next_batch()
    assert event is not None
    started = clock.now()
    assert queue.settle(event, {"batchItemFailures": [{"itemIdentifier": ids[1]}]}) == {ids[1]}
    assert queue.acked == {ids[0], ids[2]}
    again = queue.next_batch()  # hidden: the clock jumps to the end of its visibility timeout
    assert again is not None
    assert [r["messageId"] for r in again["Records"]] == [ids[1]]
    assert again["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert clock.now() == pytest.approx(started + 60, abs=0.01)
    assert queue.settle(again, {"batchItemFailures": []}) == set()
    assert queue.next_batch() is None
    assert (queue.stats.invocations, queue.stats.deliveries, queue.stats.redeliveries) == (2, 4, 1)


def test_a_raised_invocation_fails_the_batch_and_redrive_follows_max_receive_count() -> None:
    sink = MemoryDeadLetterSink()
    queue, _ = virtual_queue(max_receive_count=2, redrive_to=sink, visibility_timeout=30)
    (poison,) = queue.send(["poison"])
    for _ in range(2):
        event = queue.next_batch()
        assert event is not None
        queue.settle(event, RuntimeError("boom"), retry_after=5)
    assert queue.next_batch() is None  # the third receive moves it to the dead-letter side instead
    assert queue.redriven == {poison: "max_receive_count"}
    assert [(x.reason, x.body, x.message_id) for x in sink.letters] == [("max_receive_count", "poison", poison)]
    assert queue.stats.whole_batch_failures == 2
    assert queue.is_drained()


def test_settle_refuses_failures_that_name_records_outside_the_batch() -> None:
    queue, _ = virtual_queue()
    queue.send(["x"])
    event = queue.next_batch()
    assert event is not None
    with pytest.raises(ValueError, match="not in the batch"):
        queue.settle(event, {"batchItemFailures": [{"itemIdentifier": "someone-else"}]})


def test_the_sqs_requeuer_delays_redelivery_through_the_boto3_calls() -> None:
    queue, clock = virtual_queue(name="faults", visibility_timeout=30)
    queue.send(["later"])
    event = queue.next_batch()
    assert event is not None
    (record,) = split_records(event)
    SqsRequeuer(queue).delay([(record, 600.0)])
    SqsRequeuer(queue).delay([(replace(record, receipt_handle="stale-receipt"), 0.0)])  # refused, logged, no effect
    assert queue.stats.visibility_changes == 1
    queue.settle(event, {"batchItemFailures": [{"itemIdentifier": record.message_id}]})
    started = clock.now()
    assert queue.next_batch() is not None
    assert clock.now() == pytest.approx(started + 600, abs=0.01)


def test_batches_without_receipts_cannot_change_visibility() -> None:
    queue, _ = virtual_queue(lambda_receipts=False)
    queue.send(["x"])
    event = queue.next_batch()
    assert event is not None
    assert event["Records"][0]["receiptHandle"] == ""
