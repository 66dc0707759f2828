"""The Lambda path with outputs on AWS parts (moto): DynamoDB idempotency and state, the grace timer as a delayed
SQS message that comes back through the handler, the derived record to the test-kit receiver."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from factories import sqs_batch
from gcevents.adapters.dynamodb import create_idempotency_table
from gcevents.adapters.dynamodb.state import create_state_table
from gcevents.config import Config
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.testing import LambdaContext
from gcevents.testing.sinks import WebhookReceiver

from .kit import lifecycles

SECRET = "whsec-lambda"


def test_a_missing_wrapup_completes_through_a_delayed_timer_on_sqs(boto_client: Any, unique_name: str) -> None:
    dynamodb, sqs = boto_client("dynamodb"), boto_client("sqs")
    create_idempotency_table(dynamodb, f"{unique_name}-idem")
    create_state_table(dynamodb, f"{unique_name}-state")
    queue = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    ((cid, events),) = lifecycles(1, seed=40).items()
    without_wrapup = [e for e in events if not e["detail"]["topicName"].endswith(("acw", "wrapup"))]
    with WebhookReceiver(SECRET) as receiver:
        env = {
            "GCEVENTS_IDEMPOTENCY_STORE": f"dynamodb:{unique_name}-idem",
            "GCEVENTS_STATE_STORE": f"dynamodb:{unique_name}-state",
            "GCEVENTS_DLQ": "memory",
            "GCEVENTS_SINKS": f"webhook:{receiver.url}",
            "GCEVENTS_WEBHOOK_SECRET": SECRET,
            "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
            "GCEVENTS_CHECK_QUEUE": f"sqs:{queue}",
            "GCEVENTS_COMPLETION_GRACE": "1",
        }
        runtime = build_runtime(Config.from_env(env))
        context = LambdaContext(30.0)
        random.Random(1).shuffle(without_wrapup)
        assert process_invocation(runtime, sqs_batch(without_wrapup), context) == {"batchItemFailures": []}
        assert receiver.snapshot() == []
        messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5, MaxNumberOfMessages=10)["Messages"]
        bodies = [m["Body"] for m in messages]
        assert {json.loads(b)["detail"]["eventBody"]["conversationId"] for b in bodies} == {cid}
        assert process_invocation(runtime, sqs_batch(bodies), context) == {"batchItemFailures": []}
        (received,) = receiver.snapshot()
        assert received.type == "conversation.completed"
        assert received.document["conversation"]["wrapupComplete"] is False
        assert process_invocation(runtime, sqs_batch(events), context) == {"batchItemFailures": []}
        assert [r.type for r in receiver.snapshot()] == ["conversation.completed", "conversation.updated"]


@pytest.mark.slow  # a real HTTP receiver
def test_a_grace_of_zero_completes_at_the_end_without_a_timer_queue(tmp_path: Any) -> None:
    ((cid, events),) = lifecycles(1, seed=41).items()
    ended = [e for e in events if not e["detail"]["topicName"].endswith(("acw", "wrapup"))]
    with WebhookReceiver(SECRET) as receiver:
        env = {
            "GCEVENTS_DB": str(tmp_path / "g.db"),
            "GCEVENTS_SINKS": f"webhook:{receiver.url}",
            "GCEVENTS_WEBHOOK_SECRET": SECRET,
            "GCEVENTS_COMPLETION_GRACE": "0",
            "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
        }
        runtime = build_runtime(Config.from_env(env))
        process_invocation(runtime, sqs_batch(ended), LambdaContext(30.0))
        assert [r.document["conversationId"] for r in receiver.of_type("conversation.completed")] == [cid]
