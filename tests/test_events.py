"""Envelope normalisation: delivery shapes, kinds, ids, times, rejections, content keys (plus hypothesis)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import (
    ALLOWED_PREFIX,
    BASE_MS,
    CONVERSATION_KINDS,
    QUEUE_ARN,
    SOURCE,
    make_event,
    resend,
    sqs_batch,
    sqs_record,
)
from gcevents.core.events import (
    MAX_EVENT_BYTES,
    GenesysEvent,
    RawRecord,
    Reason,
    Rejection,
    classify_topic,
    is_sqs_batch,
    parse_record,
    split_records,
)


def parse_one(payload: Any, allowed: tuple[str, ...] = ()) -> GenesysEvent | Rejection:
    records = split_records(payload)
    assert len(records) == 1
    return parse_record(records[0], allowed)


def event_of(payload: Any) -> GenesysEvent:
    parsed = parse_one(payload)
    assert isinstance(parsed, GenesysEvent), parsed
    return parsed


def rejection_of(text_or_obj: Any, allowed: tuple[str, ...] = ()) -> Rejection:
    parsed = parse_record(RawRecord(payload=text_or_obj, message_id="m-1"), allowed)
    assert isinstance(parsed, Rejection), parsed
    return parsed


# ------------------------------------------------------------------------------------------- delivery shapes
def test_sqs_batch_bodies_are_parsed_with_message_metadata() -> None:
    first, second = make_event("customer.start", "c-1"), make_event("customer.end", "c-2")
    batch = sqs_batch([first, second], receive_count=3)
    records = split_records(batch)
    assert is_sqs_batch(batch)
    assert [r.message_id for r in records] == [r["messageId"] for r in batch["Records"]]
    assert [r.receipt_handle for r in records] == [r["receiptHandle"] for r in batch["Records"]]
    assert all(r.receive_count == 3 and r.source_arn == QUEUE_ARN for r in records)
    assert all(isinstance(r.payload, str) for r in records)
    parsed = [parse_record(r) for r in records]
    assert [p.kind for p in parsed if isinstance(p, GenesysEvent)] == [
        "conversation.customer.start",
        "conversation.customer.end",
    ]
    assert parsed[0].message_id == batch["Records"][0]["messageId"]  # type: ignore[union-attr]


def test_one_eventbridge_event_is_one_record() -> None:
    event = make_event("acw", "c-9", userId="u-1", wrapupCode="w-1")
    records = split_records(event)
    assert not is_sqs_batch(event)
    assert len(records) == 1
    assert records[0].message_id is None
    assert records[0].receive_count == 1
    parsed = parse_record(records[0])
    assert isinstance(parsed, GenesysEvent)
    assert parsed.kind == "conversation.acw"
    assert parsed.body["wrapupCode"] == "w-1"


def test_list_of_events_is_one_record_each() -> None:
    events = [make_event("flow.start", f"c-{i}") for i in range(3)]
    records = split_records(events)
    assert not is_sqs_batch(events)
    parsed = [parse_record(r) for r in records]
    assert [p.conversation_id for p in parsed] == ["c-0", "c-1", "c-2"]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"ApproximateReceiveCount": "4"}, 4),
        ({"ApproximateReceiveCount": 2}, 2),
        ({"ApproximateReceiveCount": "lots"}, 1),
        ({"ApproximateReceiveCount": None}, 1),
        ({"ApproximateReceiveCount": float("inf")}, 1),
        ({"ApproximateReceiveCount": float("nan")}, 1),
        ({}, 1),
        ("not a mapping", 1),
    ],
)
def test_receive_count_from_attributes(attributes: Any, expected: int) -> None:
    record = sqs_record(make_event("acd.start"))
    record["attributes"] = attributes
    (raw,) = split_records({"Records": [record]})
    assert raw.receive_count == expected


def test_sqs_record_that_is_not_an_object_is_rejected_not_crashed() -> None:
    records = split_records({"Records": ["junk", 42]})
    assert [r.payload for r in records] == ["junk", 42]
    assert isinstance(parse_record(records[0]), Rejection)
    assert parse_record(records[1]).reason == Reason.NOT_AN_OBJECT  # type: ignore[union-attr]


# ------------------------------------------------------------------------------------------- kinds, ids, time
@pytest.mark.parametrize("kind", CONVERSATION_KINDS)
def test_every_conversation_kind(kind: str) -> None:
    event = event_of(make_event(kind, "conv-42", participant_id="part-1", session_id="sess-1", event_time=BASE_MS + 5))
    assert event.kind == f"conversation.{kind}"
    assert event.topic == f"v2.detail.events.conversation.conv-42.{kind}"
    assert (event.conversation_id, event.participant_id, event.session_id) == ("conv-42", "part-1", "sess-1")
    assert event.event_time == datetime.fromtimestamp((BASE_MS + 5) / 1000, tz=UTC)
    assert event.event_time.tzinfo is not None
    assert event.event_time.utcoffset() == timedelta(0)
    assert event.event_time_ms == BASE_MS + 5
    assert event.detail_type == f"v2.detail.events.conversation.{{id}}.{kind}"


def test_agent_state_kind() -> None:
    event = event_of(make_event("agent.state", "user-7"))
    assert event.kind == "agent.state"
    assert event.conversation_id is None
    assert classify_topic(event.topic) == ("agent.state", "user-7")


@pytest.mark.parametrize(
    "topic",
    [
        "v2.detail.events.conversation.c-1.unknown.kind",
        "v2.detail.events.conversation.c-1.customer.end.extra",
        "v2.detail.events.conversation..customer.end",
        "v2.detail.events.agent.u-1.presence",
        "v2.users.u-1.routingstatus",
        "v2.audits.entitytype.user.entityid.u-1",
        "raw:something.else",
    ],
)
def test_unknown_topics_pass_through_as_other(topic: str) -> None:
    event = event_of(make_event(topic, eventTime=BASE_MS, status="x"))
    assert event.kind == "other"
    assert event.topic == topic.removeprefix("raw:")


def test_conversation_id_falls_back_to_the_topic() -> None:
    raw = make_event("customer.end", "c-topic")
    del raw["detail"]["eventBody"]["conversationId"]
    event = event_of(raw)
    assert event.conversation_id == "c-topic"


def test_audit_event_with_iso_event_time() -> None:
    raw = make_event(
        "v2.audits.entitytype.user.entityid.u-1",
        eventTime="2024-05-29T16:26:40.123Z",
        action="UPDATE",
        entity={"id": "u-1"},
    )
    event = event_of(raw)
    assert event.kind == "other"
    assert event.event_time == datetime(2024, 5, 29, 16, 26, 40, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-29T18:26:40+02:00", datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)),
        ("2024-05-29T16:26:40", datetime(2024, 5, 29, 16, 26, 40, tzinfo=UTC)),
        (str(BASE_MS), datetime.fromtimestamp(BASE_MS / 1000, tz=UTC)),
    ],
)
def test_event_time_strings(value: str, expected: datetime) -> None:
    assert event_of(make_event("customer.end", event_time=value)).event_time == expected


def test_event_time_falls_back_to_detail_timestamp_then_envelope_time() -> None:
    raw = make_event("customer.end", event_time=None)
    raw["detail"]["timestamp"] = "2024-01-02T03:04:05.000Z"
    assert event_of(raw).event_time == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    del raw["detail"]["timestamp"]
    raw["time"] = "2024-01-02T03:04:06Z"
    assert event_of(raw).event_time == datetime(2024, 1, 2, 3, 4, 6, tzinfo=UTC)


def test_envelope_fields_are_kept() -> None:
    raw = make_event("customer.start", "c-1")
    event = event_of(raw)
    assert event.envelope_id == raw["id"]
    assert event.source == SOURCE
    assert event.body == raw["detail"]["eventBody"]


# ------------------------------------------------------------------------------------------------ rejections
def test_not_json_keeps_the_text() -> None:
    text = '{"detail": {"topicName": '
    rejection = rejection_of(text)
    assert rejection.reason == Reason.NOT_JSON
    assert rejection.record.text() == text
    assert rejection.record.message_id == "m-1"


def test_missing_body_is_not_json() -> None:
    assert rejection_of(None).reason == Reason.NOT_JSON


@pytest.mark.parametrize("text", ["[1, 2]", '"a string"', "42", "true", "null"])
def test_not_an_object(text: str) -> None:
    rejection = rejection_of(text)
    assert rejection.reason == Reason.NOT_AN_OBJECT
    assert rejection.record.text() == text


@pytest.mark.parametrize("detail", [None, "text", [1], 3])
def test_missing_detail(detail: Any) -> None:
    raw = make_event("customer.end")
    if detail is None:
        del raw["detail"]
    else:
        raw["detail"] = detail
    text = json.dumps(raw)
    rejection = rejection_of(text)
    assert rejection.reason == Reason.MISSING_DETAIL
    assert rejection.record.text() == text


@pytest.mark.parametrize("topic", [None, "", 7, ["v2"]])
def test_missing_topic(topic: Any) -> None:
    raw = make_event("customer.end")
    if topic is None:
        del raw["detail"]["topicName"]
    else:
        raw["detail"]["topicName"] = topic
    text = json.dumps(raw)
    rejection = rejection_of(text)
    assert rejection.reason == Reason.MISSING_TOPIC
    assert rejection.record.text() == text


@pytest.mark.parametrize("body", ["string", [1, 2], 5, None])
def test_body_not_object_keeps_topic_and_conversation(body: Any) -> None:
    raw = make_event("customer.end", "c-77")
    raw["detail"]["eventBody"] = body
    text = json.dumps(raw)
    rejection = rejection_of(text)
    assert rejection.reason == Reason.BODY_NOT_OBJECT
    assert rejection.topic == "v2.detail.events.conversation.c-77.customer.end"
    assert rejection.conversation_id == "c-77"
    assert rejection.record.text() == text


def test_too_large_keeps_the_text() -> None:
    raw = make_event("attributes", "c-1", attributes={"blob": "x" * MAX_EVENT_BYTES})
    text = json.dumps(raw)
    rejection = rejection_of(text)
    assert rejection.reason == Reason.TOO_LARGE
    assert rejection.record.text() == text


def test_just_under_the_limit_is_accepted() -> None:
    raw = make_event("attributes", "c-1", attributes={"blob": ""})
    padding = MAX_EVENT_BYTES - len(json.dumps(raw).encode())
    raw["detail"]["eventBody"]["attributes"]["blob"] = "y" * padding
    text = json.dumps(raw)
    assert len(text.encode()) == MAX_EVENT_BYTES
    assert isinstance(parse_record(RawRecord(payload=text)), GenesysEvent)


@pytest.mark.parametrize(
    "source",
    [
        None,
        "aws.partner/genesys.com/cloud/other-org/x",
        "evil.aws.partner/genesys.com/cloud/" + "4a1b",
        "",
    ],
)
def test_untrusted_source(source: str | None) -> None:
    raw = make_event("customer.end", "c-5")
    if source is None:
        del raw["source"]
    else:
        raw["source"] = source
    text = json.dumps(raw)
    rejection = rejection_of(text, (ALLOWED_PREFIX, "aws.partner/genesys.com/cloud/second-org/"))
    assert rejection.reason == Reason.UNTRUSTED_SOURCE
    assert rejection.conversation_id == "c-5"
    assert rejection.record.text() == text


def test_allow_list_accepts_any_listed_prefix_and_empty_list_allows_all() -> None:
    raw = make_event("customer.end")
    raw["source"] = "aws.partner/genesys.com/cloud/second-org/suffix"
    assert isinstance(parse_one(raw, (ALLOWED_PREFIX, "aws.partner/genesys.com/cloud/second-org/")), GenesysEvent)
    assert isinstance(parse_one(raw, ()), GenesysEvent)


@pytest.mark.parametrize(
    "value", ["not a time", True, -5, float("inf"), [], {}, "", "\u00b2\u00b3", "99999999999999999999"]
)
def test_no_usable_time(value: Any) -> None:
    raw = make_event("customer.end", event_time=None, eventTime=value)
    del raw["detail"]["timestamp"]
    del raw["time"]
    rejection = rejection_of(json.dumps(raw))
    assert rejection.reason == Reason.BAD_EVENT_TIME


def test_dict_payload_text_is_json() -> None:
    raw = {"detail": "nope", "n": 1}
    rejection = rejection_of(raw)
    assert json.loads(rejection.record.text()) == raw


# ---------------------------------------------------------------------------------------------- content keys
def test_content_key_stable_under_a_new_envelope() -> None:
    original = make_event(
        "customer.end", "c-1", participant_id="p-1", session_id="s-1", event_time=BASE_MS, disconnectType="client"
    )
    again = resend(original, account="999999999999", region="eu-west-1")
    again["detail"]["metadata"]["CorrelationId"] = "other"
    again["detail"]["timestamp"] = "2031-01-01T00:00:00.000Z"
    assert event_of(original).content_key == event_of(again).content_key


@pytest.mark.parametrize(
    "change",
    [
        {"event_time": BASE_MS + 1},
        {"participant_id": "p-2"},
        {"session_id": "s-2"},
        {"kind": "customer.start"},
        {"conversation_id": "c-2"},
    ],
)
def test_content_key_differs_when_identity_differs(change: dict[str, Any]) -> None:
    args: dict[str, Any] = {
        "kind": "customer.end",
        "conversation_id": "c-1",
        "participant_id": "p-1",
        "session_id": "s-1",
        "event_time": BASE_MS,
    }
    base = event_of(make_event(**args)).content_key
    assert event_of(make_event(**{**args, **change})).content_key != base


def test_content_key_of_other_topics_is_the_canonical_body() -> None:
    one = make_event("v2.users.u-1.presence", eventTime="2024-01-01T00:00:00Z", a=1, b={"x": [1, 2]})
    two = make_event("v2.users.u-1.presence", b={"x": [1, 2]}, a=1, eventTime="2024-01-01T00:00:00Z")
    three = make_event("v2.users.u-1.presence", eventTime="2024-01-01T00:00:00Z", a=2, b={"x": [1, 2]})
    assert event_of(one).content_key == event_of(resend(two)).content_key
    assert event_of(one).content_key != event_of(three).content_key


# ------------------------------------------------------------------------------------------------ hypothesis
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
anything = json_values | st.integers(min_value=-(10**30), max_value=10**30)
topics = st.sampled_from(
    [
        "v2.detail.events.conversation.c-1.customer.end",
        "v2.detail.events.agent.u-1.state",
        "v2.audits.x",
        "v2.detail.events.conversation.c-1.",
    ]
) | st.text(max_size=40)
times = (
    st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.none()
    | st.booleans()
    | st.sampled_from(
        ["2024-01-01T00:00:00Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "\u0663\u0664", "\u00b2"]
    )
)
bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "eventTime": times,
            "conversationId": anything,
            "participantId": anything,
            "sessionId": anything,
            "userId": anything,
        },
    )
    | anything
)
details = (
    st.fixed_dictionaries({}, optional={"topicName": topics | anything, "eventBody": bodies, "timestamp": times})
    | anything
)
envelopes = st.fixed_dictionaries(
    {}, optional={"detail": details, "source": st.just(SOURCE) | anything, "id": anything, "time": times}
)
sqs_like = st.fixed_dictionaries(
    {
        "Records": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "body": envelopes.map(json.dumps) | st.text(max_size=50) | anything,
                    "messageId": anything,
                    "receiptHandle": anything,
                    "eventSourceARN": anything,
                    "attributes": st.fixed_dictionaries({}, optional={"ApproximateReceiveCount": anything}) | anything,
                },
            )
            | anything,
            max_size=4,
        )
    }
)


def _parse_all(payload: Any) -> list[GenesysEvent | Rejection]:
    records = split_records(payload)
    parsed = [parse_record(r, (ALLOWED_PREFIX,)) for r in records] + [parse_record(r) for r in records]
    for item in parsed:
        assert isinstance(item, GenesysEvent | Rejection)
        assert isinstance(item.record.text(), str)
        if isinstance(item, GenesysEvent):
            assert item.event_time.tzinfo is not None
            assert len(item.content_key) == 40
    return parsed


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_never_raises(value: Any) -> None:
    _parse_all(value)
    _parse_all(sqs_batch([json.dumps(value)]))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_raises(text: str) -> None:
    _parse_all(text)
    _parse_all(sqs_batch([text]))


@settings(max_examples=400, deadline=None)
@given(envelopes | st.lists(envelopes, max_size=3) | sqs_like)
def test_envelope_shaped_values_never_raise(payload: Any) -> None:
    _parse_all(payload)
    # And the same through JSON text, as SQS would deliver it (NaN/inf survive Python's json module).
    _parse_all(sqs_batch([json.dumps(payload)]))


identity = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(CONVERSATION_KINDS),
        "conversation_id": st.text("abc123-", min_size=1, max_size=8),
        "participant_id": st.text("abc123-", min_size=1, max_size=8),
        "session_id": st.text("abc123-", min_size=1, max_size=8),
        "event_time": st.integers(min_value=0, max_value=4_102_444_800_000),
    }
)


@settings(max_examples=200, deadline=None)
@given(
    identity,
    st.uuids(),
    st.text(max_size=10),
    st.sampled_from(["us-east-1", "eu-west-1"]),
    st.dictionaries(st.sampled_from(["mediaType", "direction", "queueId"]), st.text(max_size=5)),
)
def test_content_key_ignores_the_envelope(
    ids: dict[str, Any], new_id: Any, account: str, region: str, extra: Any
) -> None:
    original = make_event(**ids)
    again = resend(original, id=str(new_id), account=account, region=region, time="2001-01-01T00:00:00Z")
    again["detail"]["eventBody"].update(extra)  # envelope-level and non-identity changes
    assert event_of(original).content_key == event_of(again).content_key


@settings(max_examples=200, deadline=None)
@given(identity, identity)
def test_content_key_differs_for_different_identities(a: dict[str, Any], b: dict[str, Any]) -> None:
    key_a, key_b = event_of(make_event(**a)).content_key, event_of(make_event(**b)).content_key
    assert (key_a == key_b) == (a == b)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from([*CONVERSATION_KINDS, "agent.state"]),
    event_time=times | anything,
    fields=st.dictionaries(
        st.sampled_from(["conversationId", "participantId", "sessionId", "userId", "mediaType"]), anything, max_size=3
    ),
    detail_timestamp=times,
    envelope_time=times,
    receive_count=anything | st.floats() | st.text(max_size=5),
)
def test_real_envelopes_with_random_field_values_never_raise(
    kind: str, event_time: Any, fields: dict[str, Any], detail_timestamp: Any, envelope_time: Any, receive_count: Any
) -> None:
    """Close to real traffic, so every field reaches the code that reads it (the allow-list passes)."""
    raw = make_event(kind, "c-1", event_time=None, eventTime=event_time, **fields)
    raw["detail"]["timestamp"] = detail_timestamp
    raw["time"] = envelope_time
    _parse_all(raw)
    record = sqs_record(json.dumps(raw))
    record["attributes"]["ApproximateReceiveCount"] = receive_count
    (raw_record,) = split_records({"Records": [record]})
    assert raw_record.receive_count >= 1
    _parse_all({"Records": [record]})
