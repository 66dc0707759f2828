"""Builders for exact Genesys Cloud EventBridge envelopes (the shape `gcevents.testing.workload.envelope` documents)
and SQS event-source-mapping batches."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

ORG_ID = "4a1b2c3d-0000-4000-8000-00000000abcd"
SOURCE = f"aws.partner/genesys.com/cloud/{ORG_ID}/gcevents-test"
ALLOWED_PREFIX = f"aws.partner/genesys.com/cloud/{ORG_ID}/"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:gcevents-events"
BASE_MS = 1_717_000_000_000  # 2024-05-29T16:26:40Z

CONVERSATION_KINDS = (
    "acd.start", "acd.end", "acw", "attributes", "contact", "customer.start", "customer.end",
    "flow.start", "flow.end", "flow.outcome", "outbound", "user.start", "user.end",
    "voicemail.start", "voicemail.end", "wrapup",
)  # fmt: skip


def topic_for(kind: str, entity_id: str) -> str:
    """`customer.end`/`conversation.customer.end` -> the concrete topic; `agent.state` -> the agent topic."""
    kind = kind.removeprefix("conversation.")
    if kind == "agent.state":
        return f"v2.detail.events.agent.{entity_id}.state"
    return f"v2.detail.events.conversation.{entity_id}.{kind}"


def make_event(
    kind: str,
    conversation_id: str = "c-1",
    participant_id: str | None = "p-1",
    session_id: str | None = "s-1",
    event_time_ms: int | str | None = BASE_MS,
    *,
    envelope: Mapping[str, Any] | None = None,
    **body: Any,
) -> dict[str, Any]:
    """An EventBridge event exactly as the Genesys Cloud integration delivers it.

    `kind` is `customer.end` (or `conversation.customer.end`), `agent.state`, or a full topic starting with
    `v2.` or `raw:` (then the body is taken as given). `envelope` overrides envelope fields (id, source, time, ...)."""
    if kind.startswith("v2.") or kind.startswith("raw:"):
        kind = kind.removeprefix("raw:")
        topic = kind
        pattern = kind
        event_body: dict[str, Any] = dict(body)
    else:
        topic = topic_for(kind, conversation_id)
        pattern = topic_for(kind, "{id}")
        event_body = {"eventTime": event_time_ms}
        if kind == "agent.state":
            event_body["userId"] = conversation_id
        else:
            event_body.update(conversationId=conversation_id, mediaType="VOICE", direction="INBOUND")
            if participant_id is not None:
                event_body["participantId"] = participant_id
            if session_id is not None:
                event_body["sessionId"] = session_id
        if event_time_ms is None:
            del event_body["eventTime"]
        event_body.update(body)
    when = datetime.fromtimestamp(
        (event_time_ms if isinstance(event_time_ms, int) else BASE_MS) / 1000, tz=UTC
    ).strftime("%Y-%m-%dT%H:%M:%SZ")
    event: dict[str, Any] = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": pattern,
        "source": SOURCE,
        "account": "123456789012",
        "time": when,
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "topicName": topic,
            "version": "2",
            "eventBody": event_body,
            "metadata": {"CorrelationId": str(uuid.uuid4())},
            "timestamp": when.replace("Z", ".000Z"),
        },
    }
    event.update(envelope or {})
    return event


def resend(event: Mapping[str, Any], **envelope: Any) -> dict[str, Any]:
    """The same Genesys event re-put: a new AWS envelope id, time (and anything else given)."""
    copy = json.loads(json.dumps(event))
    copy["id"] = str(uuid.uuid4())
    copy["time"] = "2030-01-01T00:00:00Z"
    copy.update(envelope)
    return dict(copy)


def sqs_record(event_or_text: Any, *, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
    body = event_or_text if isinstance(event_or_text, str) else json.dumps(event_or_text)
    return {
        "messageId": message_id or str(uuid.uuid4()),
        "receiptHandle": "rh-" + uuid.uuid4().hex,
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": "1717000000000",
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": "1717000000001",
        },
        "messageAttributes": {},
        "md5OfBody": "0" * 32,
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": "us-east-1",
    }


def sqs_batch(events_or_texts: Iterable[Any], *, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event-source-mapping event: dicts are JSON-encoded into `body`, strings are used as they are."""
    return {"Records": [sqs_record(item, receive_count=receive_count) for item in events_or_texts]}
