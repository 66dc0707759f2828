"""`gcevents.handler` end to end against moto: DynamoDB idempotency, SQS dead letters, partial batch failures."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import gcevents
from factories import ALLOWED_PREFIX, BASE_MS, make_event, resend, sqs_batch, sqs_record
from gcevents.adapters.dynamodb import DynamoDbIdempotencyStore, create_idempotency_table
from gcevents.adapters.sqs import SqsDeadLetterSink, create_queues
from gcevents.core.events import GenesysEvent, parse_record, split_records
from gcevents.entrypoints import lambda_handler
from gcevents.errors import TransientError
from gcevents.testing import LambdaContext

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def env(
    aws: str, boto_client: Any, unique_name: str, monkeypatch: pytest.MonkeyPatch, app: ModuleType
) -> Iterator[dict[str, Any]]:
    dynamodb, sqs = boto_client("dynamodb"), boto_client("sqs")
    create_idempotency_table(dynamodb, unique_name)
    queues = create_queues(sqs, unique_name, visibility_timeout=30)
    for name in list(__import__("os").environ):
        if name.startswith(("GCEVENTS_", "GENESYS_")):
            monkeypatch.delenv(name)
    # configure_logging replaces the root handlers (right in Lambda); keep pytest's log capture intact here.
    monkeypatch.setattr(lambda_handler, "configure_logging", lambda *args, **kwargs: None)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "gcevents-test")
    monkeypatch.setenv("GCEVENTS_IDEMPOTENCY_STORE", f"dynamodb:{unique_name}")
    monkeypatch.setenv("GCEVENTS_DLQ", f"sqs:{queues['dlq_url']}")
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    monkeypatch.setenv("GCEVENTS_ALLOWED_SOURCES", ALLOWED_PREFIX)
    monkeypatch.setenv("GCEVENTS_HANDLERS", "tests.fixtures.lambda_app:router")
    monkeypatch.setenv("GCEVENTS_DEADLINE_MARGIN", "2")
    lambda_handler.reset_runtime()
    yield {
        "dynamodb": dynamodb,
        "sqs": sqs,
        "table": unique_name,
        "dlq": SqsDeadLetterSink(sqs, queues["dlq_url"]),
        **queues,
    }
    lambda_handler.reset_runtime()


def key_of(event: dict[str, Any]) -> str:
    parsed = parse_record(split_records(event)[0])
    assert isinstance(parsed, GenesysEvent)
    return parsed.content_key


def dead_letters(dlq: SqsDeadLetterSink, expected: int) -> list[Any]:
    found: list[Any] = []
    for _ in range(10):
        found.extend(dlq.receive(max_messages=10, visibility_timeout=60))
        if len(found) >= expected:
            break
    return found


def test_sqs_batch_through_the_handler(env: dict[str, Any], app: ModuleType) -> None:
    start = make_event("customer.start", "c-1", event_time=BASE_MS)
    end = make_event("customer.end", "c-2", event_time=BASE_MS + 5, disconnectType="client")
    agent = make_event("agent.state", "u-1", systemPresence="AVAILABLE")
    failing = make_event("customer.end", "c-fail")
    untrusted = make_event("customer.end", "c-evil", envelope={"source": "aws.partner/genesys.com/cloud/other-org/x"})
    body_not_object = make_event("acw", "c-3")
    body_not_object["detail"]["eventBody"] = ["not", "an", "object"]
    bodies: list[Any] = [
        start,
        end,
        resend(end),
        agent,
        failing,
        "{not json",
        untrusted,
        resend(start),
        body_not_object,
        "[]",
    ]
    app.FAIL_TRANSIENTLY["c-fail"] = None
    batch = sqs_batch(bodies)
    ids = [r["messageId"] for r in batch["Records"]]

    result = gcevents.handler(batch, LambdaContext())

    assert result == {"batchItemFailures": [{"itemIdentifier": ids[4]}]}
    assert Counter(k for k, _, _ in app.EFFECTS) == Counter({key_of(start): 1, key_of(end): 1, key_of(agent): 1})
    assert {kind for _, _, kind in app.EFFECTS} == {
        "conversation.customer.start",
        "conversation.customer.end",
        "agent.state",
    }
    letters = dead_letters(env["dlq"], 4)
    by_reason = {s.letter.reason: s.letter for s in letters}
    assert sorted(by_reason) == ["body_not_object", "not_an_object", "not_json", "untrusted_source"]
    assert by_reason["not_json"].body == "{not json"
    assert by_reason["not_json"].message_id == ids[5]
    assert json.loads(by_reason["untrusted_source"].body) == untrusted
    assert by_reason["untrusted_source"].conversation_id == "c-evil"
    assert by_reason["body_not_object"].topic == "v2.detail.events.conversation.c-3.acw"
    assert by_reason["not_an_object"].body == "[]"
    store = DynamoDbIdempotencyStore(env["dynamodb"], env["table"])
    assert store.completed([key_of(e) for e in (start, end, agent, failing)], int(time.time() * 1000)) == {
        key_of(start),
        key_of(end),
        key_of(agent),
    }

    # The same batch again (e.g. a redelivery): no new effects, the failing one is still reported.
    again = gcevents.handler(batch, LambdaContext())
    assert again == {"batchItemFailures": [{"itemIdentifier": ids[4]}]}
    assert len(app.EFFECTS) == 3

    # The downstream recovers: the redelivered record is processed once.
    app.FAIL_TRANSIENTLY.clear()
    retry = {"Records": [dict(batch["Records"][4], attributes={"ApproximateReceiveCount": "3"})]}
    assert gcevents.handler(retry, LambdaContext()) == {"batchItemFailures": []}
    assert gcevents.handler(retry, LambdaContext()) == {"batchItemFailures": []}
    assert Counter(k for k, _, _ in app.EFFECTS)[key_of(failing)] == 1
    assert len(app.EFFECTS) == 4


def test_retry_after_pushes_redelivery_out_on_the_real_queue(env: dict[str, Any], app: ModuleType) -> None:
    sqs, url = env["sqs"], env["queue_url"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for event in (make_event("customer.end", "c-ok"), make_event("customer.end", "c-429")):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(event))
    messages: list[dict[str, Any]] = []
    for _ in range(10):
        messages += sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=1, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if len(messages) == 2:
            break
    assert len(messages) == 2
    records = [
        {
            "messageId": m["MessageId"],
            "receiptHandle": m["ReceiptHandle"],
            "body": m["Body"],
            "attributes": m["Attributes"],
            "eventSource": "aws:sqs",
            "eventSourceARN": arn,
        }
        for m in messages
    ]
    app.FAIL_TRANSIENTLY["c-429"] = 120.0
    result = gcevents.handler({"Records": records}, LambdaContext())
    failed = [m["MessageId"] for m in messages if "c-429" in m["Body"]]
    assert result == {"batchItemFailures": [{"itemIdentifier": failed[0]}]}
    for m in messages:  # acknowledge the processed one as Lambda would, so only the retried one remains
        if m["MessageId"] not in failed:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    # Hidden for Retry-After (>= 120 s), far beyond the 1 s receive visibility: not back within a short wait.
    assert (attrs["ApproximateNumberOfMessages"], attrs["ApproximateNumberOfMessagesNotVisible"]) == ("0", "1")
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", []) == []


def test_a_rate_limited_record_goes_back_as_a_new_delayed_message(env: dict[str, Any], app: ModuleType) -> None:
    """A 429 spends no receive: the record is re-sent (DelaySeconds = its Retry-After plus jitter) and left out of
    batchItemFailures, so the mapping deletes the original and the copy starts with a fresh receive count."""
    sqs, url = env["sqs"], env["queue_url"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    body = json.dumps(make_event("customer.end", "c-throttled"))
    sqs.send_message(QueueUrl=url, MessageBody=body)
    (message,) = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, MessageSystemAttributeNames=["All"])["Messages"]
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {**message["Attributes"], "ApproximateReceiveCount": "4"},
        "eventSource": "aws:sqs",
        "eventSourceARN": arn,
    }
    app.RATE_LIMITED["c-throttled"] = 5.0
    assert gcevents.handler({"Records": [record]}, LambdaContext()) == {"batchItemFailures": []}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])  # what the mapping does on success
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attrs["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    assert app.EFFECTS == []
    app.RATE_LIMITED.clear()
    copies: list[dict[str, Any]] = []
    for _ in range(15):  # Retry-After 5 s plus up to 5 s of jitter
        copies += sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MessageSystemAttributeNames=["All"]).get(
            "Messages", []
        )
        if copies:
            break
    (copy,) = copies
    assert copy["Body"] == body
    assert copy["Attributes"]["ApproximateReceiveCount"] == "1"  # a fresh count: the 429 cost no receive


def test_direct_eventbridge_event(env: dict[str, Any], app: ModuleType) -> None:
    event = make_event("customer.end", "c-direct")
    summary = gcevents.handler(event, LambdaContext())
    assert summary["records"] == 1
    assert summary["processed"] == 1
    assert summary["retry"] == 0
    duplicate = gcevents.handler(resend(event), LambdaContext())
    assert duplicate["duplicate"] == 1
    assert duplicate["processed"] == 0
    assert len(app.EFFECTS) == 1


def test_direct_event_with_a_transient_failure_raises(env: dict[str, Any], app: ModuleType) -> None:
    app.FAIL_TRANSIENTLY["c-flaky"] = 30.0
    with pytest.raises(TransientError) as info:
        gcevents.handler(make_event("customer.end", "c-flaky"), LambdaContext())
    assert isinstance(info.value, lambda_handler.RetryBatchError)
    assert info.value.retry_after == 30.0
    assert app.EFFECTS == []


def test_list_input(env: dict[str, Any], app: ModuleType) -> None:
    events: list[Any] = [make_event("flow.start", "c-a"), make_event("flow.end", "c-a"), "garbage-not-an-event"]
    summary = gcevents.handler(events, LambdaContext())
    assert summary["records"] == 3
    assert (summary["processed"], summary["dead_lettered"], summary["retry"]) == (2, 1, 0)
    assert summary["dead_letter_reasons"] == {"not_json": 1}  # a string item is taken as JSON text
    assert len(app.EFFECTS) == 2

    app.FAIL_TRANSIENTLY["c-b"] = None
    mixed = [make_event("flow.start", "c-b"), make_event("flow.start", "c-c"), resend(events[0])]
    with pytest.raises(lambda_handler.RetryBatchError):
        gcevents.handler(mixed, LambdaContext())
    assert [cid for _, cid, _ in app.EFFECTS] == ["c-a", "c-a", "c-c"]
    app.FAIL_TRANSIENTLY.clear()
    summary = gcevents.handler(mixed, LambdaContext())  # Lambda's async retry: only the failed one runs now
    assert (summary["processed"], summary["duplicate"]) == (1, 2)
    assert [cid for _, cid, _ in app.EFFECTS] == ["c-a", "c-a", "c-c", "c-b"]


def test_near_the_deadline_nothing_starts(env: dict[str, Any], app: ModuleType) -> None:
    batch = sqs_batch([make_event("customer.end", "c-late")])
    result = gcevents.handler(batch, LambdaContext(1.0))  # margin is 2 s
    assert result == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    assert app.EFFECTS == []


def test_record_without_message_id_fails_the_whole_batch(env: dict[str, Any], app: ModuleType) -> None:
    app.FAIL_TRANSIENTLY["c-x"] = None
    record = sqs_record(make_event("customer.end", "c-x"))
    del record["messageId"]
    with pytest.raises(lambda_handler.RetryBatchError):
        gcevents.handler({"Records": [record]}, LambdaContext())


def test_runtime_is_built_once_per_container(env: dict[str, Any], app: ModuleType) -> None:
    first = lambda_handler.get_runtime()
    assert lambda_handler.get_runtime() is first
    assert first.state_store is None  # GCEVENTS_STATE_STORE=off: no projection
    assert first.pipeline.router.batch_handlers() == []
    lambda_handler.reset_runtime()
    assert lambda_handler.get_runtime() is not first


def test_with_a_state_store_the_batch_still_settles(
    env: dict[str, Any], app: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "memory")
    lambda_handler.reset_runtime()
    events = [make_event("customer.start", "c-s"), make_event("customer.end", "c-s", event_time=BASE_MS + 9)]
    result = gcevents.handler(sqs_batch(events), LambdaContext())
    assert result == {"batchItemFailures": []}
    assert len(app.EFFECTS) == 2
    assert lambda_handler.get_runtime().state_store is not None


def test_retries_and_dead_letters_are_logged_one_warning_each(
    env: dict[str, Any], app: ModuleType, caplog: pytest.LogCaptureFixture
) -> None:
    app.FAIL_TRANSIENTLY["c-retry"] = None
    batch = sqs_batch([make_event("customer.end", "c-ok"), make_event("customer.end", "c-retry"), "not json"])
    with caplog.at_level("WARNING", logger="gcevents"):
        gcevents.handler(batch, LambdaContext())
    warnings = sorted((r.getMessage(), getattr(r, "reason", None)) for r in caplog.records if r.name == "gcevents")
    assert [message for message, _ in warnings] == ["dead_lettered", "retry"]
    assert warnings[0][1] == "not_json"
