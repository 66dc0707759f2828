"""Envelope normalisation: every delivery shape -> records -> typed `GenesysEvent`s or `Rejection`s.

Pure functions, no I/O. Nothing here may raise on input data: whatever arrives is either an event or a
rejection with a reason and the original text, so the pipeline can dead-letter it and lose nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gcevents.core import topics
from gcevents.core.types import RawRecord as RawRecord  # the delivery shape, carried by the ports
from gcevents.text import first_surrogate, is_scalar, storable

MAX_EVENT_BYTES = 256 * 1024  # EventBridge's own PutEvents entry limit

# The kinds and prefixes live in `core.topics`, the one list shared with `gcevents connect` and the template.
CONVERSATION_KINDS = frozenset(topics.CONVERSATION_KINDS)
# gcevents' own completion timer (`gcevents.core.outputs`): a delayed message that asks the pipeline to look at a
# conversation again when its wrap-up grace period ends. It carries no trust: it only triggers an evaluation of
# the stored state, so it passes the source allow-list.
# On the wire it is still called a check (its detail-type and topic): messages in flight and stacks deployed
# before the rename must keep parsing, so only the code's names changed.
TIMER_KIND = "gcevents.check"
TIMER_TOPIC_PREFIX = "gcevents.check."
# Facts that happen once per participant session. Besides its content key, such an event has a *fact key* without
# the time: a fact reconstructed from analytics by `gcevents reconcile` (segment times need not equal the event's
# eventTime to the millisecond) and the real event share it, so whichever the pipeline applies first is the only
# one applied (`Pipeline._claim_facts`; docs/operations.md has the guarantee).
FACT_KINDS = frozenset(
    {
        "conversation.customer.start",
        "conversation.customer.end",
        "conversation.user.start",
        "conversation.user.end",
        "conversation.acw",
    }
)
# `gcevents reconcile` marks the events it synthesizes: `source` is this, and `detail.reconciled` says from what.
RECONCILE_SOURCE = "gcevents.reconcile"


class Reason:
    """Dead-letter reasons of the core. Strings, so they travel as SQS message attributes and SQLite columns. A
    handler's `PermanentError` brings its own reason (default "handler_rejected"); the SQS redrive policy's is
    "max_receive_count"."""

    NOT_JSON = "not_json"
    NOT_AN_OBJECT = "not_an_object"
    MISSING_DETAIL = "missing_detail"
    MISSING_TOPIC = "missing_topic"
    BODY_NOT_OBJECT = "body_not_object"
    TOO_LARGE = "too_large"
    BAD_EVENT_TIME = "bad_event_time"
    UNTRUSTED_SOURCE = "untrusted_source"
    UNRECOGNISED_PAYLOAD = "unrecognised_payload"
    RETRIES_EXHAUSTED = "retries_exhausted"
    NOT_UTF8 = "not_utf8"  # the record's text itself is not valid UTF-8 / Unicode (undecodable bytes)
    INVALID_TEXT = "invalid_text"  # an identifying field (topic, ids) is not a string of Unicode scalar values


# Fields that become keys, URLs and labels in every store: they must be text UTF-8 can encode. Other fields
# may hold anything JSON can (the stores keep it as escaped JSON).
_IDENTIFYING = ("conversationId", "participantId", "sessionId")


@dataclass(frozen=True, slots=True)
class GenesysEvent:
    topic: str
    kind: str  # "conversation.customer.end", "agent.state" or "other"
    event_time: datetime  # timezone-aware UTC
    body: Mapping[str, Any]
    content_key: str
    conversation_id: str | None
    participant_id: str | None
    session_id: str | None
    envelope_id: str | None
    source: str | None
    detail_type: str | None
    record: RawRecord = field(repr=False, compare=False)
    reconciled: bool = False  # synthesized by `gcevents reconcile` from analytics (`detail.reconciled`)
    fact_key: str | None = None  # once-per-session kinds (FACT_KINDS): shared with a reconciled copy of the fact

    @property
    def message_id(self) -> str | None:
        return self.record.message_id

    @property
    def event_time_ms(self) -> int:
        return int(self.event_time.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class Rejection:
    """An input that cannot become an event. Always dead-lettered (acknowledged, never retried)."""

    reason: str
    message: str
    record: RawRecord = field(repr=False)
    topic: str | None = None
    conversation_id: str | None = None


def rejection_key(rejection: Rejection) -> str:
    """A content key for what cannot become an event: its reason, its message id (SQS: the same message, however
    often delivered; none for a direct invoke) and its exact text. A re-delivery of the same malformed record then
    finds its dead letter already written; another message, even with the same text, gets its own letter."""
    identity = f"rejected|{rejection.reason}|{rejection.record.message_id or ''}|{rejection.record.text()}"
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def split_records(payload: Any) -> list[RawRecord]:
    """Recognise the delivery shape: SQS ESM batch, a list of events (Pipes / bus batching), or one event."""
    if isinstance(payload, Mapping):
        records = payload.get("Records")
        if isinstance(records, list):
            return [_sqs_record(r) for r in records]
        return [RawRecord(payload=payload)]
    if isinstance(payload, list):
        return [RawRecord(payload=item) for item in payload]
    return [RawRecord(payload=payload)]


def is_sqs_batch(payload: Any) -> bool:
    return isinstance(payload, Mapping) and isinstance(payload.get("Records"), list)


def _sqs_record(record: Any) -> RawRecord:
    if not isinstance(record, Mapping):
        return RawRecord(payload=record)
    attributes = record.get("attributes")
    count = attributes.get("ApproximateReceiveCount") if isinstance(attributes, Mapping) else None
    try:
        receive_count = max(1, int(count)) if count is not None else 1
    except (TypeError, ValueError, OverflowError):  # OverflowError: a JSON 1e999 is float('inf')
        receive_count = 1
    message_id = record.get("messageId")
    receipt = record.get("receiptHandle")
    arn = record.get("eventSourceARN")
    return RawRecord(
        payload=record.get("body"),
        message_id=message_id if isinstance(message_id, str) else None,
        receipt_handle=receipt if isinstance(receipt, str) else None,
        receive_count=receive_count,
        source_arn=arn if isinstance(arn, str) else None,
    )


def parse_record(record: RawRecord, allowed_sources: Sequence[str] = ()) -> GenesysEvent | Rejection:
    """Turn one raw record into an event or a rejection. Total: never raises on data."""
    payload = record.payload
    if isinstance(payload, str | bytes):
        text = _text_of(payload)
        if isinstance(text, UnicodeDecodeError) or not is_scalar(text):
            return Rejection(Reason.NOT_UTF8, _not_utf8_message(payload, text), record)
        payload = text
        size = len(payload.encode("utf-8"))
        if size > MAX_EVENT_BYTES:
            return Rejection(Reason.TOO_LARGE, f"event is {size} bytes, limit {MAX_EVENT_BYTES}", record)
        try:
            payload = json.loads(payload)
        except (ValueError, RecursionError) as exc:
            return Rejection(Reason.NOT_JSON, f"body is not JSON: {storable(str(exc)[:200])}", record)
    elif payload is None:
        return Rejection(Reason.NOT_JSON, "record has no body", record)
    if not isinstance(payload, Mapping):
        if isinstance(payload, list | str | int | float | bool) or payload is None:
            return Rejection(Reason.NOT_AN_OBJECT, f"event is a JSON {_json_type(payload)}, not an object", record)
        return Rejection(Reason.UNRECOGNISED_PAYLOAD, f"unrecognised payload {type(payload).__name__}", record)
    return _parse_envelope(payload, record, allowed_sources)


def _text_of(payload: str | bytes) -> str | UnicodeDecodeError:
    if isinstance(payload, str):
        return payload
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc


def _not_utf8_message(payload: str | bytes, text: str | UnicodeDecodeError) -> str:
    """Where the text stops being UTF-8. The dead letter keeps the original bytes (`RawRecord.text`)."""
    if isinstance(text, UnicodeDecodeError):
        return f"body is not UTF-8: byte 0x{text.object[text.start]:02x} at byte offset {text.start}"
    offset = first_surrogate(text) or 0
    char = ord(text[offset])
    what = f" (the undecodable byte 0x{char - 0xDC00:02x})" if 0xDC80 <= char <= 0xDCFF else ""
    return f"body is not valid Unicode text: lone surrogate U+{char:04X}{what} at offset {offset}"


def _parse_envelope(
    envelope: Mapping[str, Any], record: RawRecord, allowed_sources: Sequence[str]
) -> GenesysEvent | Rejection:
    detail = envelope.get("detail")
    if not isinstance(detail, Mapping):
        why = "event has no 'detail' object" if detail is None else "'detail' is not an object"
        return Rejection(Reason.MISSING_DETAIL, why, record)
    topic = detail.get("topicName")
    if not isinstance(topic, str) or not topic:
        return Rejection(Reason.MISSING_TOPIC, "detail has no 'topicName' string", record)
    kind, topic_id = classify_topic(topic)
    body = detail.get("eventBody")
    conversation_id = _str_or_none(body.get("conversationId")) if isinstance(body, Mapping) else None
    if conversation_id is None and (kind == TIMER_KIND or _id_is_conversation(kind)):
        conversation_id = topic_id
    # Labels of a rejection are stored and shown: escaped, whatever the input held.
    labels = (storable(topic), storable(conversation_id) if conversation_id else None)
    if not isinstance(body, Mapping):
        return Rejection(Reason.BODY_NOT_OBJECT, "detail.eventBody is missing or not an object", record, *labels)
    invalid = _invalid_text(topic, body)
    if invalid is not None:
        return Rejection(Reason.INVALID_TEXT, invalid, record, *labels)
    source = _str_or_none(envelope.get("source"))
    trusted = kind == TIMER_KIND or (source and source.startswith(tuple(allowed_sources)))
    if allowed_sources and not trusted:
        return Rejection(Reason.UNTRUSTED_SOURCE, f"source {source!r} is not in the allow-list", record, *labels)
    event_time = _event_time(body, detail, envelope)
    if event_time is None:
        return Rejection(Reason.BAD_EVENT_TIME, "no usable eventTime/timestamp/time", record, *labels)
    participant_id = _str_or_none(body.get("participantId"))
    session_id = _str_or_none(body.get("sessionId"))
    marker = detail.get("reconciled")
    return GenesysEvent(
        topic=topic,
        kind=kind,
        event_time=event_time,
        body=body,
        content_key=content_key(kind, topic, topic_id, body, conversation_id, participant_id, session_id),
        conversation_id=conversation_id,
        participant_id=participant_id,
        session_id=session_id,
        envelope_id=_str_or_none(envelope.get("id")),
        source=source,
        detail_type=_str_or_none(envelope.get("detail-type")),
        record=record,
        reconciled=marker is True or (isinstance(marker, Mapping) and bool(marker)),
        fact_key=fact_key(kind, conversation_id, participant_id, session_id),
    )


def _invalid_text(topic: str, body: Mapping[str, Any]) -> str | None:
    """Why an identifying field cannot be stored as text, or None. A lone surrogate (a JSON `\\ud800` escape)
    is a valid Python string that no UTF-8 store accepts: rejecting the one event beats failing its batch.
    Control characters are valid text: they are kept (and escaped wherever they are shown)."""
    fields = [("detail.topicName", topic)]
    fields += [(f"detail.eventBody.{name}", value) for name in _IDENTIFYING if isinstance(value := body.get(name), str)]
    for name, value in fields:
        offset = first_surrogate(value)
        if offset is not None:
            return f"{name} is not valid Unicode text: lone surrogate U+{ord(value[offset]):04X} at offset {offset}"
    return None


def _id_is_conversation(kind: str) -> bool:
    family = topics.family_of(kind)
    return family is not None and family.id_is_conversation


def classify_topic(topic: str) -> tuple[str, str | None]:
    """`v2.detail.events.conversation.<id>.customer.end` -> ("conversation.customer.end", "<id>")."""
    if topic.startswith(TIMER_TOPIC_PREFIX) and len(topic) > len(TIMER_TOPIC_PREFIX):
        return TIMER_KIND, topic[len(TIMER_TOPIC_PREFIX) :]
    return topics.classify(topic)


def content_key(
    kind: str,
    topic: str,
    topic_id: str | None,
    body: Mapping[str, Any],
    conversation_id: str | None,
    participant_id: str | None,
    session_id: str | None,
) -> str:
    """A key that survives re-sends under new envelope ids: Genesys has no event id, so identity is content.

    Known detail events are identified by what they are about and when; anything else by its canonical body.
    """
    raw_time = body.get("eventTime")
    subject = conversation_id or topic_id or _str_or_none(body.get("userId"))
    family = topics.family_of(kind)
    by_event = family is not None and not family.identified_by_body
    if by_event and subject and isinstance(raw_time, int | str) and not isinstance(raw_time, bool):
        identity = "|".join((kind, subject, participant_id or "", session_id or "", str(raw_time)))
    else:
        try:
            canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        except (TypeError, ValueError):  # non-string keys from a hand-made invoke: JSON input cannot have them
            canonical = repr(sorted(body.items(), key=repr))
        identity = topic + "|" + canonical
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def fact_key(kind: str, conversation_id: str | None, participant_id: str | None, session_id: str | None) -> str | None:
    """`fact|kind|conversation|participant|session` for a once-per-session kind with all three ids, else None.

    No time in it: the customer's session ends once, whatever millisecond analytics and the event put on it."""
    if kind not in FACT_KINDS or not (conversation_id and participant_id and session_id):
        return None
    identity = "|".join(("fact", kind, conversation_id, participant_id, session_id))
    return hashlib.sha256(identity.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def _event_time(body: Mapping[str, Any], detail: Mapping[str, Any], envelope: Mapping[str, Any]) -> datetime | None:
    for candidate in (body.get("eventTime"), detail.get("timestamp"), envelope.get("time")):
        parsed = _to_datetime(candidate)
        if parsed is not None:
            return parsed
    return None


_MAX_EPOCH_MS = 253_402_300_799_000  # 9999-12-31T23:59:59Z


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not 0 <= value <= _MAX_EPOCH_MS or value != value:  # NaN check without math import
            return None
        return datetime.fromtimestamp(value / 1000, tz=UTC)  # detail events: epoch milliseconds
    if isinstance(value, str) and value:
        text = value.strip()
        if text.isdecimal():  # not isdigit(): "²" is a digit that int() rejects
            return _to_datetime(int(text)) if len(text) < 20 else None
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
        except (ValueError, OverflowError):
            return None
    return None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_type(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"
