"""SQS dead-letter sink and requeuer against moto's server (boto3 over HTTP)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from factories import make_event
from gcevents.adapters.sqs import SqsDeadLetterSink, SqsEventSource, SqsRequeuer, create_queues
from gcevents.adapters.sqs.dead_letters import S3Payloads
from gcevents.core.events import RawRecord
from gcevents.errors import ConfigError, GcEventsError, StoreUnavailableError
from gcevents.ops.dlq import DeadLetterReader, LetterFilter, inspect, redrive
from gcevents.ports import DeadLetter


@pytest.fixture
def sqs(boto_client: Any) -> Any:
    return boto_client("sqs")


@pytest.fixture
def queues(sqs: Any, unique_name: str) -> dict[str, str]:
    return create_queues(sqs, unique_name, visibility_timeout=30, max_receive_count=2)


@pytest.fixture
def sink(sqs: Any, queues: dict[str, str]) -> SqsDeadLetterSink:
    return SqsDeadLetterSink(sqs, queues["dlq_url"])


def counts(sqs: Any, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def receive_all(sink: SqsDeadLetterSink, expected: int) -> list[Any]:
    found: list[Any] = []
    for _ in range(10):
        found.extend(sink.receive(max_messages=10, visibility_timeout=30))
        if len(found) >= expected:
            break
    return found


def test_create_queues_is_idempotent_and_sets_redrive(sqs: Any, unique_name: str) -> None:
    first = create_queues(sqs, unique_name, visibility_timeout=30, max_receive_count=3)
    assert create_queues(sqs, unique_name, visibility_timeout=30, max_receive_count=3) == first
    attrs = sqs.get_queue_attributes(QueueUrl=first["queue_url"], AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"] == first["dlq_arn"]
    assert int(redrive["maxReceiveCount"]) == 3


def test_letters_carry_reason_topic_and_conversation_as_attributes(
    sqs: Any, queues: dict[str, str], sink: SqsDeadLetterSink
) -> None:
    event = make_event("customer.end", "c-42")
    body = json.dumps(event)
    sink.send(
        [DeadLetter("handler_rejected", "queue unknown", body, event["detail"]["topicName"], "c-42", "msg-1", 1.5e9)]
    )
    raw = sqs.receive_message(QueueUrl=queues["dlq_url"], MessageAttributeNames=["All"], VisibilityTimeout=0)
    (message,) = raw["Messages"]
    assert message["Body"] == body  # the original event, unchanged: a redrive re-sends it as it came
    attrs = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attrs["reason"] == "handler_rejected"
    assert attrs["error"] == "queue unknown"
    assert attrs["topic"] == "v2.detail.events.conversation.c-42.customer.end"
    assert attrs["conversationId"] == "c-42"
    assert attrs["originalMessageId"] == "msg-1"
    assert "encoding" not in attrs
    (stored,) = receive_all(sink, 1)
    assert stored.letter == DeadLetter(
        "handler_rejected", "queue unknown", body, event["detail"]["topicName"], "c-42", "msg-1", 1.5e9
    )


@pytest.mark.parametrize(
    "body",
    [
        '{"detail": "\x00\x01 control \x1f characters"}',
        "lone surrogate \ud800 and bell \x07",
        "",
        "plain text, not JSON, with unicode \u00e9\U0001f600",
    ],
)
def test_body_round_trip(sqs: Any, queues: dict[str, str], sink: SqsDeadLetterSink, body: str) -> None:
    sink.send([DeadLetter("not_json", "body is not JSON", body)])
    (stored,) = receive_all(sink, 1)
    assert stored.letter.body == body
    assert stored.letter.reason == "not_json"
    assert stored.letter.topic is None
    assert stored.letter.conversation_id is None


def test_control_characters_travel_as_base64(sqs: Any, queues: dict[str, str], sink: SqsDeadLetterSink) -> None:
    sink.send([DeadLetter("not_json", "x", "a\x00b")])
    message = sqs.receive_message(QueueUrl=queues["dlq_url"], MessageAttributeNames=["All"])["Messages"][0]
    assert message["MessageAttributes"]["encoding"]["StringValue"] == "base64"
    assert message["Body"] == "YQBi"


def test_control_characters_in_attributes_do_not_break_the_send(sink: SqsDeadLetterSink) -> None:
    sink.send([DeadLetter("bad_event_time", "err\x00or", "{}", topic="v2.\x01topic", conversation_id="c\x02")])
    (stored,) = receive_all(sink, 1)
    assert stored.letter.topic is not None
    assert "\x01" not in stored.letter.topic
    assert stored.letter.body == "{}"


def test_many_letters_are_sent_in_batches(sqs: Any, queues: dict[str, str], sink: SqsDeadLetterSink) -> None:
    letters = [DeadLetter("not_json", f"m{i}", f"body-{i}", message_id=f"id-{i}") for i in range(23)]
    sink.send(letters)
    assert counts(sqs, queues["dlq_url"]) == (23, 0)
    stored = receive_all(sink, 23)
    assert sorted(s.letter.body for s in stored) == sorted(f"body-{i}" for i in range(23))


def test_large_letters_are_split_below_the_batch_size_limit(
    sqs: Any, queues: dict[str, str], sink: SqsDeadLetterSink
) -> None:
    # Ten 150 KB bodies: 10 entries per call would be 1.5 MB, over any SendMessageBatch limit.
    letters = [DeadLetter("handler_rejected", "big", f"{i:02d}" + "x" * 150_000) for i in range(10)]
    sink.send(letters)
    assert counts(sqs, queues["dlq_url"]) == (10, 0)
    stored = receive_all(sink, 10)
    assert sorted(s.letter.body for s in stored) == sorted(letter.body for letter in letters)


def _big_event(size: int) -> str:
    """An event body of exactly `size` UTF-8 bytes (multi-byte characters near its end, as a payload may have)."""
    event = make_event("customer.end", "c-big")
    event["detail"]["eventBody"]["notes"] = ""
    filler = size - len(json.dumps(event).encode("utf-8")) - len("\u00e9\U0001f600".encode())
    event["detail"]["eventBody"]["notes"] = "n" * filler + "\u00e9\U0001f600"
    body = json.dumps(event, ensure_ascii=False)
    assert len(body.encode("utf-8")) == size
    return body


@pytest.fixture
def offloading(sqs: Any, boto_client: Any, queues: dict[str, str], unique_name: str) -> tuple[SqsDeadLetterSink, Any]:
    s3 = boto_client("s3")
    s3.create_bucket(Bucket=unique_name)
    return SqsDeadLetterSink(sqs, queues["dlq_url"], payloads=S3Payloads(lambda: s3, unique_name)), s3


def test_a_letter_too_large_for_sqs_goes_whole_to_s3_and_is_inspected_and_redriven_byte_exact(
    sqs: Any, queues: dict[str, str], offloading: tuple[SqsDeadLetterSink, Any], unique_name: str
) -> None:
    """A 255 KiB record (SQS delivers up to 256 KiB) with a reason and an error: the envelope does not fit, so its
    body goes to S3 and the message carries the extended client's pointer; inspect and redrive read it whole."""
    sink, s3 = offloading
    body = _big_event(255 * 1024)
    small = json.dumps(make_event("acw", "c-small"))
    sink.send(
        [
            DeadLetter("handler_rejected", "e" * 1024, body, "topic", "c-big", "m-1", 1.5e9),
            DeadLetter("handler_rejected", "small", small, failed_at=1.5e9),
        ]
    )
    assert sink.offloaded == 1
    raw = sqs.receive_message(
        QueueUrl=queues["dlq_url"], MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    pointer = next(m for m in raw if m["Body"] != small)
    kind, where = json.loads(pointer["Body"])
    assert kind == "software.amazon.payloadoffloading.PayloadS3Pointer"  # the SQS extended client's shape
    assert where["s3BucketName"] == unique_name
    assert pointer["MessageAttributes"]["ExtendedPayloadSize"]["StringValue"] == str(255 * 1024)
    assert s3.get_object(Bucket=unique_name, Key=where["s3Key"])["Body"].read() == body.encode("utf-8")
    assert "encoding" not in pointer["MessageAttributes"]  # nothing was cut

    shown = inspect(DeadLetterReader(sink), LetterFilter(), limit=10)
    assert sorted(letter.body for letter in shown) == sorted([body, small])
    assert next(letter for letter in shown if letter.body == body).reason == "handler_rejected"
    sent: list[str] = []
    counts_ = redrive(
        DeadLetterReader(sink),
        LetterFilter(),
        lambda bodies: sent.extend(bodies) or None,
        limit=10,
        rate=0,
        dry_run=False,
    )
    assert counts_["redriven"] == 2
    assert sorted(sent) == sorted([body, small])  # byte-exact
    assert counts(sqs, queues["dlq_url"]) == (0, 0)


def test_without_a_bucket_a_letter_too_large_is_refused_never_cut(
    sqs: Any, queues: dict[str, str], sink: SqsDeadLetterSink, caplog: pytest.LogCaptureFixture
) -> None:
    """No GCEVENTS_DLQ_BUCKET: the sink raises (the record is retried, and the queue's own redrive moves the
    original, whole, to the DLQ after maxReceiveCount); nothing is written cut short."""
    body = _big_event(255 * 1024)
    with caplog.at_level(logging.ERROR), pytest.raises(StoreUnavailableError, match="GCEVENTS_DLQ_BUCKET"):
        sink.send([DeadLetter("handler_rejected", "e" * 1024, body), DeadLetter("not_json", "x", "small")])
    assert counts(sqs, queues["dlq_url"]) == (0, 0)
    assert "GCEVENTS_DLQ_BUCKET" in caplog.text


def test_receive_hides_unhide_shows_remove_deletes(sqs: Any, queues: dict[str, str], sink: SqsDeadLetterSink) -> None:
    sink.send([DeadLetter("not_json", "m", f"b{i}") for i in range(3)])
    stored = receive_all(sink, 3)
    assert len(stored) == 3
    assert sink.receive(max_messages=10) == []  # hidden while being inspected
    assert counts(sqs, queues["dlq_url"]) == (0, 3)
    sink.unhide([s.handle for s in stored])
    again = receive_all(sink, 3)
    assert sorted(s.letter.body for s in again) == ["b0", "b1", "b2"]
    sink.remove([s.handle for s in again])
    assert counts(sqs, queues["dlq_url"]) == (0, 0)


def test_messages_redriven_by_sqs_get_a_default_reason(
    sqs: Any, queues: dict[str, str], sink: SqsDeadLetterSink
) -> None:
    event = make_event("acw", "c-7")
    sqs.send_message(QueueUrl=queues["dlq_url"], MessageBody=json.dumps(event))
    (stored,) = receive_all(sink, 1)
    assert stored.letter.reason == "max_receive_count"
    assert stored.letter.topic == "v2.detail.events.conversation.c-7.acw"
    assert stored.letter.failed_at > 0


def test_send_to_a_missing_queue_is_a_gcevents_error(sqs: Any, queues: dict[str, str]) -> None:
    missing = queues["dlq_url"].rsplit("/", 1)[0] + "/does-not-exist"
    with pytest.raises(GcEventsError) as info:
        SqsDeadLetterSink(sqs, missing).send([DeadLetter("x", "y", "z")])
    assert isinstance(info.value, ConfigError)


# --------------------------------------------------------------------------------------------------- requeuer
def _receive_one(sqs: Any, url: str) -> dict[str, Any]:
    messages = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, MaxNumberOfMessages=1)["Messages"]
    assert len(messages) == 1
    return dict(messages[0])


def test_requeuer_pushes_redelivery_out_by_arn(sqs: Any, queues: dict[str, str]) -> None:
    url = queues["queue_url"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    message = _receive_one(sqs, url)  # visible again at once (VisibilityTimeout=0)
    requeuer = SqsRequeuer(sqs)
    requeuer.delay([(RawRecord("hello", receipt_handle=message["ReceiptHandle"], source_arn=arn), 600.0)])
    assert counts(sqs, url) == (0, 1)
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []) == []
    requeuer.delay([(RawRecord("hello", receipt_handle=message["ReceiptHandle"], source_arn=arn), 0.0)])  # back
    assert counts(sqs, url) == (1, 0)


def test_requeuer_with_a_fixed_queue_url_and_clamped_delays(sqs: Any, queues: dict[str, str]) -> None:
    url = queues["queue_url"]
    for i in range(12):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    handles: dict[str, float] = {}
    deadline = time.monotonic() + 20
    while len(handles) < 12 and time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1).get(
            "Messages", []
        ):
            handles[message["ReceiptHandle"]] = 10**9  # far beyond the 12 h maximum: clamped, not rejected
    assert len(handles) == 12
    SqsRequeuer(sqs, url).delay([(RawRecord("m", receipt_handle=h), s) for h, s in handles.items()])
    assert counts(sqs, url) == (0, 12)


def test_requeuer_failures_are_best_effort(sqs: Any, queues: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    """A queue it cannot resolve is logged and skipped, never raised, and the other records are still delayed."""
    url = queues["queue_url"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=url, MessageBody="hello")
    message = _receive_one(sqs, url)
    unknown = "arn:aws:sqs:us-east-1:123456789012:no-such-queue"
    with caplog.at_level(logging.WARNING, logger="gcevents.adapters.sqs.requeuer"):
        SqsRequeuer(sqs).delay(
            [
                (RawRecord("x", receipt_handle="rh", source_arn=unknown), 30.0),
                (RawRecord("x", receipt_handle="rh"), 30.0),  # no queue known: skipped without a request
                (RawRecord("hello", receipt_handle=message["ReceiptHandle"], source_arn=arn), 600.0),
            ]
        )
    warnings = [r.getMessage() for r in caplog.records if r.name == "gcevents.adapters.sqs.requeuer"]
    assert warnings == ["cannot resolve queue for delay"]
    assert counts(sqs, url) == (0, 1)  # the resolvable record was delayed all the same


# ------------------------------------------------------------------------------------------------ event source acks
def test_a_stale_receipt_is_settled_elsewhere_not_an_ack_failure(
    sqs: Any, queues: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 21.5: one ReceiptHandleIsInvalid of a batch made the whole ack raise, and the worker re-sent every
    receipt before each receive. A refused receipt SQS blames on the sender is settled elsewhere: dropped, one
    WARNING, the others deleted."""
    from gcevents.adapters.sqs import SqsEventSource

    url = queues["queue_url"]
    for n in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m-{n}")
    source = SqsEventSource(sqs, url)
    receipts = [r.receipt_handle for r in source.receive(10, 0, 30)]
    assert len(receipts) == 3
    with caplog.at_level(logging.WARNING, logger="gcevents.adapters.sqs.source"):
        source.ack([str(r) for r in receipts] + ["a-stale-receipt"])
    assert counts(sqs, url) == (0, 0)
    warnings = [r for r in caplog.records if r.name == "gcevents.adapters.sqs.source"]
    assert len(warnings) == 1
    assert "ReceiptHandleIsInvalid" in warnings[0].getMessage() + str(warnings[0].__dict__.get("codes"))


class _RefusingSqs:
    """A stand-in SQS client whose DeleteMessageBatch refuses chosen receipts with a chosen fault."""

    def __init__(self, refuse: dict[str, tuple[str, bool]]) -> None:
        self.refuse = refuse
        self.deleted: list[str] = []

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, str]]) -> dict[str, Any]:
        failed = [
            {
                "Id": e["Id"],
                "Code": self.refuse[e["ReceiptHandle"]][0],
                "SenderFault": self.refuse[e["ReceiptHandle"]][1],
            }
            for e in Entries
            if e["ReceiptHandle"] in self.refuse
        ]
        self.deleted += [e["ReceiptHandle"] for e in Entries if e["ReceiptHandle"] not in self.refuse]
        return {
            "Successful": [{"Id": e["Id"]} for e in Entries if e["ReceiptHandle"] not in self.refuse],
            "Failed": failed,
        }


def test_an_ack_refused_by_sqs_itself_names_only_the_refused_receipts() -> None:
    """A server-side refusal is worth retrying, but only for that receipt: the accepted ones are not re-sent."""
    from gcevents.adapters.sqs import SqsEventSource
    from gcevents.errors import AckIncompleteError

    client = _RefusingSqs({"r-2": ("InternalError", False), "r-3": ("ReceiptHandleIsInvalid", True)})
    source = SqsEventSource(client, "https://sqs.example/q")  # type: ignore[arg-type]
    with pytest.raises(AckIncompleteError) as raised:
        source.ack([f"r-{n}" for n in range(12)])
    assert raised.value.pending == ["r-2"]
    assert len(client.deleted) == 10


def test_the_receive_limit_is_the_redrive_policy_read_once_per_queue(sqs: Any, queues: dict[str, str]) -> None:
    """What the Lambda handler and the worker compare a record's receive count with before handing it back
    unattempted: the queue's maxReceiveCount (2 here); a queue without a redrive policy has none."""
    arn = sqs.get_queue_attributes(QueueUrl=queues["queue_url"], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    requeuer = SqsRequeuer(sqs)
    assert requeuer.receive_limit(RawRecord("x", source_arn=arn)) == 2
    assert SqsEventSource(sqs, queues["queue_url"]).receive_limit() == 2
    assert SqsEventSource(sqs, queues["dlq_url"]).receive_limit() is None
