"""Events as they arrive: Genesys Cloud detail events in their exact EventBridge envelope, re-sends of them, and the
SQS batches that carry them to Lambda.

The one place the envelope shape is written down; the tests, the synthetic workload (`gcevents.testing.workload`)
and users' own tests all build events here, so a change in what Genesys sends is made once.

    from gcevents.testing import event, resend, sqs_batch

    acw = event("acw", "c-1", wrapupCode="Sale")      # a whole acw event, every usual field filled in
    again = resend(acw)                                # the same Genesys event, put again: a new envelope id
    lambda_input = sqs_batch([acw, again])             # what the event source mapping hands the function
"""

from __future__ import annotations

import copy
import enum
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from gcevents.core import topics
from gcevents.core.events import GenesysEvent, RawRecord, parse_record
from gcevents.core.state import PURPOSE_BY_KIND
from gcevents.core.times import iso_z, parse_iso

ORG_ID = "4a1b2c3d-0000-4000-8000-00000000abcd"
SOURCE = f"aws.partner/genesys.com/cloud/{ORG_ID}/gcevents-test"
# What `GCEVENTS_ALLOWED_SOURCES` holds in a deployment of this org (the template sets it from `OrgId`).
ALLOWED_PREFIX = f"aws.partner/genesys.com/cloud/{ORG_ID}/"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:gcevents-events"
BASE_MS = 1_717_000_000_000  # 2024-05-29T16:26:40Z: the default event time, so built events are reproducible

# Every kind `event` builds: the conversation detail kinds by their topic suffix, then the other families' kinds
# (`agent.state`, `user.presence`), all from the topic families' table (`gcevents.core.topics`).
_OTHER_KINDS = {f.kind(s): k for f in topics.FAMILIES if f is not topics.CONVERSATION for s, k in f.kinds.items()}
KINDS: tuple[str, ...] = (*topics.CONVERSATION_KINDS, *_OTHER_KINDS)

# The fields Genesys sends for each kind besides the common ones (conversationId, participantId, sessionId,
# eventTime, mediaType, direction), with plausible values: an event built with no fields given looks like a real one.
TYPICAL_FIELDS: Mapping[str, Mapping[str, Any]] = {
    **{suffix: kind.example for suffix, kind in topics.CONVERSATION.kinds.items()},
    **{name: kind.example for name, kind in _OTHER_KINDS.items()},
}


def _full_kind(kind: str) -> str:
    return kind if kind in _OTHER_KINDS else f"conversation.{kind.removeprefix('conversation.')}"


# When each kind happens in a conversation built with defaults, in ms after BASE_MS: the lifecycle's order
# (customer, IVR, queue, agent, wrap-up), agreeing with TYPICAL_FIELDS' durations (12 s in queue, 180 s talking,
# 25 s of after-call work), so that events built with defaults merge into a conversation that adds up.
LIFECYCLE_MS: Mapping[str, int] = {
    "customer.start": 0,
    "outbound": 500,
    "contact": 1_000,
    "flow.start": 2_000,
    "attributes": 3_000,
    "flow.outcome": 4_000,
    "flow.end": 5_000,
    "acd.start": 8_000,
    "acd.end": 20_000,
    "user.start": 20_500,
    "voicemail.start": 21_000,
    "voicemail.end": 51_000,
    "user.end": 200_500,
    "customer.end": 201_000,
    "acw": 225_500,
    "wrapup": 226_000,
    "agent.state": 227_000,
    "user.presence": 228_000,
}


class _Default(enum.Enum):
    BY_KIND = "by kind"


# `event()`'s default participant and time: the kind's own (see `default_participant`, LIFECYCLE_MS).
BY_KIND = _Default.BY_KIND


def default_participant(kind: str) -> str:
    """One participant per purpose, as a real conversation has: `p-customer`, `p-agent`, `p-acd`, `p-ivr`, ...
    (contact and attribute events are the customer's). A customer and an agent built with defaults stay two."""
    return f"p-{PURPOSE_BY_KIND.get(kind, 'customer')}"


def topic_for(kind: str, entity_id: str) -> str:
    """`acw` (or `conversation.acw`) -> `v2.detail.events.conversation.<id>.acw`; `agent.state` -> the agent topic."""
    return topics.topic_of(_full_kind(kind), entity_id)


def pattern_of(topic: str) -> str:
    """The subscribed pattern EventBridge puts in `detail-type`: the topic with its id segment as a literal `{id}`.
    Topics of other families (audits, presence) are returned as they are."""
    for family in topics.FAMILIES:
        if topic.startswith(family.prefix):
            _, dot, rest = topic[len(family.prefix) :].partition(".")
            return f"{family.prefix}{{id}}{dot}{rest}"
    return topic


def wrap(
    topic: str,
    body: Mapping[str, Any],
    *,
    source: str = SOURCE,
    detail_type: str | None = None,
    envelope_id: str | None = None,
    correlation_id: str | None = None,
) -> dict[str, Any]:
    """An EventBridge event exactly as the Genesys Cloud integration delivers it: the AWS envelope (`id` minted by
    AWS per put, `detail-type` the subscribed pattern with a literal `{id}`) around `detail` = {topicName, version,
    eventBody, metadata, timestamp}. `body` is the `eventBody`, taken as given."""
    when = _sent_at(body.get("eventTime"))
    return {
        "version": "0",
        "id": envelope_id or str(uuid.uuid4()),
        "detail-type": detail_type or pattern_of(topic),
        "source": source,
        "account": "123456789012",
        "time": iso_z(when, "seconds"),
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "topicName": topic,
            "version": "2",
            "eventBody": dict(body),
            "metadata": {"CorrelationId": correlation_id or str(uuid.uuid4())},
            "timestamp": iso_z(when),
        },
    }


def _sent_at(event_time: Any) -> datetime:
    """When the envelope says the event was put: its eventTime, or BASE_MS for one that is not a usable time
    (tests send hostile ones on purpose)."""
    try:
        return datetime.fromtimestamp((event_time if type(event_time) is int else BASE_MS) / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(BASE_MS / 1000, tz=UTC)


def event(
    kind: str,
    conversation_id: str = "c-1",
    *,
    participant_id: str | _Default | None = BY_KIND,
    session_id: str | None = "s-1",
    event_time: int | datetime | str | _Default | None = BY_KIND,
    envelope: Mapping[str, Any] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A Genesys Cloud event in its EventBridge envelope, as the integration delivers it.

    `kind` is a topic suffix (`acw`, `customer.end`, ... — see `KINDS`; `conversation.` in front is allowed) or
    `agent.state` (then `conversation_id` is the user id), with the kind's usual fields filled in
    (`TYPICAL_FIELDS`). `fields` are eventBody fields by their Genesys names (`wrapupCode="Sale"`); a field given
    as None is left out, as Genesys leaves out what it does not know. `participant_id`: by default the kind's
    purpose's own (`default_participant`). `event_time`: epoch milliseconds (what Genesys sends), a datetime, a
    string (sent as it is) or None (no eventTime); by default the kind's moment in a conversation starting at
    BASE_MS (`LIFECYCLE_MS`), so default events ascend in lifecycle order. A full topic as `kind`
    (`v2.audits...`, `v2.users.u-1.presence`, or anything after `raw:`) sends exactly `fields` as the body.
    `envelope` overrides envelope fields (`source`, `id`, `time`, ...)."""
    _check_field_names(fields)
    if kind.startswith(("v2.", "raw:")):
        topic = kind.removeprefix("raw:")
        built = wrap(topic, fields)
    else:
        kind = kind.removeprefix("conversation.")
        if kind not in TYPICAL_FIELDS:
            raise ValueError(f"unknown event kind {kind!r}; one of {', '.join(KINDS)} or a full topic")
        participant = default_participant(kind) if participant_id is BY_KIND else participant_id
        when = BASE_MS + LIFECYCLE_MS[kind] if event_time is BY_KIND else event_time
        body = _common_fields(kind, conversation_id, participant, session_id, when)
        body.update(TYPICAL_FIELDS[kind])
        body.update(fields)
        built = wrap(topic_for(kind, conversation_id), {k: v for k, v in body.items() if v is not None})
    built.update(envelope or {})
    return built


def _check_field_names(fields: Mapping[str, Any]) -> None:
    """Genesys body fields are camelCase: a snake_case name is a misspelt keyword (`event_time_ms=` for
    `event_time=`), which would otherwise land silently in the body and leave every event at BASE_MS."""
    wrong = sorted(name for name in fields if "_" in name)
    if wrong:
        raise TypeError(
            f"event(): {', '.join(wrong)} are not Genesys field names (camelCase); keywords are "
            "participant_id, session_id, event_time and envelope"
        )


def _common_fields(
    kind: str,
    entity_id: str,
    participant_id: str | None,
    session_id: str | None,
    event_time: int | datetime | str | None,
) -> dict[str, Any]:
    when = int(event_time.timestamp() * 1000) if isinstance(event_time, datetime) else event_time
    family = topics.family_of(_full_kind(kind))
    if family is not None and not family.id_is_conversation:  # a user's topic: the id is the user's
        return {"eventTime": when, "userId": entity_id}
    return {
        "eventTime": when,
        "conversationId": entity_id,
        "participantId": participant_id,
        "sessionId": session_id,
        "mediaType": "VOICE",
        "direction": "INBOUND",
    }


def resend(event: Mapping[str, Any], **envelope: Any) -> dict[str, Any]:
    """The same Genesys event put on the bus again (Genesys re-sends for up to four days when EventBridge was
    unreachable): the same `detail`, a new AWS envelope `id` and a later `time`. gcevents must treat it as the
    event it already processed; `envelope` overrides further envelope fields."""
    again = copy.deepcopy(dict(event))
    again["id"] = str(uuid.uuid4())
    sent = parse_iso(again.get("time"))
    again["time"] = iso_z(sent + timedelta(minutes=5), "seconds") if sent else "2030-01-01T00:00:00Z"
    again.update(envelope)
    return again


def sqs_record(event_or_text: Any, *, receive_count: int = 1, message_id: str | None = None) -> dict[str, Any]:
    """One record of an SQS event-source-mapping batch: a dict is JSON-encoded into `body`, a string is the body as
    it is (malformed input included). `receive_count` > 1 is a redelivery."""
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
    """What the SQS event source mapping passes the Lambda function: `{"Records": [...]}`, one per item."""
    return {"Records": [sqs_record(item, receive_count=receive_count) for item in events_or_texts]}


def parse(event_or_text: Mapping[str, Any] | str, allowed_sources: Sequence[str] = ()) -> GenesysEvent:
    """The `GenesysEvent` the pipeline makes of an envelope (or its JSON text): what a handler is called with.
    Raises ValueError with the dead-letter reason when the pipeline would reject it instead."""
    parsed = parse_record(RawRecord(payload=event_or_text), allowed_sources)
    if not isinstance(parsed, GenesysEvent):
        raise ValueError(f"{parsed.reason}: {parsed.message}")
    return parsed
