"""Text no UTF-8 store can hold (lone surrogates) and text a terminal obeys (control characters)
costs the one record that carries it, never its batch.

The decision: an event whose identifying fields (topic, conversationId, participantId, sessionId) are not strings of
Unicode scalar values is rejected at parse time with reason `invalid_text`; a record whose text itself is not UTF-8
is rejected with `not_utf8`. Any other text is stored as it is (state items are escaped JSON), and every sink keeps
a dead letter's body byte for byte whatever it holds, its labels escaped."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import BASE_MS, make_event, sqs_batch
from gcevents.adapters.sqlite import SqliteDatabase, SqliteDeadLetterSink, SqliteStateStore
from gcevents.config import Config, StoreSpec
from gcevents.core.events import GenesysEvent, RawRecord, Reason, Rejection, parse_record
from gcevents.core.pipeline import PipelineSettings
from gcevents.core.router import Router
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import Runtime, build_runtime
from gcevents.ports import DeadLetter
from gcevents.testing.fakes import MemoryDeadLetterSink, MemoryStateStore
from gcevents.text import is_scalar, original_bytes, printable, storable

surrogates = st.integers(0xD800, 0xDFFF).map(chr)
controls = st.sampled_from(["\x00", "\x1b[31m", "\n", "\r", "\x7f", "\x9b", "\u202e", "\ufeff"])
hostile = st.lists(st.text(st.characters() | surrogates, max_size=4) | controls, max_size=4).map("".join)


def sqlite_runtime(path: Path, router: Router | None = None) -> Runtime:
    db = str(path)
    config = Config(
        idempotency_store=StoreSpec("sqlite", db),
        state_store=StoreSpec("sqlite", db),
        dead_letters=StoreSpec("sqlite", db),
        pipeline=PipelineSettings(deadline_margin=0.0, handler_concurrency=2),
        claim_concurrency=2,
    )
    return build_runtime(config, router=router)


# ------------------------------------------------------------------------------------------------ the repro
def test_a_lone_surrogate_costs_one_record_not_the_batch_on_sqlite(tmp_path: Path) -> None:
    """On main: UnicodeEncodeError in `SqliteStateStore._load` failed every record of the batch, and the dead-letter
    sink refused the one letter, so nothing was dead-lettered and every good event ran again on each receive."""
    runs: Counter[str] = Counter()
    router = Router()
    router.add("*", lambda event, ctx: runs.update([ctx.idempotency_key]))
    runtime = sqlite_runtime(tmp_path / "g.db", router)
    good = [make_event("customer.start", f"c-{n}", event_time=BASE_MS + n) for n in range(6)]
    bad_body = json.dumps(make_event("customer.end", "c-bad")).replace('"c-bad"', '"c-\\ud800"', 1)
    batch = sqs_batch([*good[:3], bad_body, *good[3:]])

    response = process_invocation(runtime, batch, None)

    assert response == {"batchItemFailures": []}
    assert runtime.state_store is not None
    assert all(runtime.state_store.get(f"c-{n}") is not None for n in range(6))
    (letter,) = [s.letter for s in runtime.dead_letters.scan(10)]
    assert letter.reason == Reason.INVALID_TEXT
    assert "conversationId" in letter.message
    assert "U+D800" in letter.message
    assert letter.body == bad_body  # the original text, byte for byte
    assert sum(runs.values()) == 6
    assert process_invocation(runtime, batch, None) == {"batchItemFailures": []}  # a redelivery: nothing new runs
    assert sum(runs.values()) == 6


def test_control_characters_in_ids_round_trip_through_sqlite(tmp_path: Path) -> None:
    """Control characters are valid text: kept as they are (and escaped only where a terminal shows them)."""
    runtime = sqlite_runtime(tmp_path / "c.db")
    cid = "c-\x1b[2J\x00\u202e-x"
    response = process_invocation(runtime, sqs_batch([make_event("customer.start", cid)]), None)
    assert response == {"batchItemFailures": []}
    assert runtime.state_store is not None
    item = runtime.state_store.get(cid)
    assert item is not None
    assert item.conversation_id == cid


@pytest.mark.parametrize("field", ["conversationId", "participantId", "sessionId", "topicName"])
def test_identifying_fields_must_be_unicode_text(field: str) -> None:
    event = make_event("customer.end", "c-1")
    if field == "topicName":
        event["detail"]["topicName"] += "\udfff"
    else:
        event["detail"]["eventBody"][field] = "x\udfff"
    rejection = parse_record(RawRecord(event))
    assert isinstance(rejection, Rejection)
    assert rejection.reason == Reason.INVALID_TEXT
    assert field in rejection.message
    assert "U+DFFF" in rejection.message
    assert all(is_scalar(label) for label in (rejection.topic or "", rejection.conversation_id or ""))


def test_other_fields_may_hold_any_text() -> None:
    event = parse_record(RawRecord(make_event("attributes", "c-1", attributes={"k\ud800": "\udc00\x1b"})))
    assert isinstance(event, GenesysEvent)
    assert event.body["attributes"] == {"k\ud800": "\udc00\x1b"}


def test_text_that_is_not_utf8_is_rejected_with_the_byte_named() -> None:
    raw = json.dumps(make_event("customer.end", "c-1")).encode()[:40] + b"\xff" + b"}"
    for payload in (raw, raw.decode("utf-8", "surrogateescape")):
        rejection = parse_record(RawRecord(payload))
        assert isinstance(rejection, Rejection)
        assert rejection.reason == Reason.NOT_UTF8
        assert "0xff" in rejection.message
        assert original_bytes(rejection.record.text()) == raw  # recoverable from the letter's body


# ------------------------------------------------------------------------------------------------ properties
@st.composite
def hostile_events(draw: st.DrawFn) -> Any:
    """A valid envelope with hostile text in any field: ids, topic, body values and keys, envelope fields."""
    event = make_event(draw(st.sampled_from(["customer.start", "customer.end", "attributes", "acw"])), "c-1")
    body = event["detail"]["eventBody"]
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.sampled_from(["conversationId", "participantId", "sessionId", "topic", "body", "envelope"]))
        text = draw(hostile)
        if where == "topic":
            event["detail"]["topicName"] = f"v2.detail.events.conversation.{text}.customer.end"
        elif where == "body":
            body[draw(hostile)] = text
        elif where == "envelope":
            event[draw(st.sampled_from(["id", "source", "detail-type", "account"]))] = text
        else:
            body[where] = text
    return event


@pytest.fixture(scope="module")
def shared_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    return sqlite_runtime(tmp_path_factory.mktemp("hostile") / "p.db")


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(events=st.lists(hostile_events(), min_size=1, max_size=5), as_text=st.booleans())
def test_any_text_in_any_field_never_fails_a_batch_on_sqlite(
    shared_sqlite: Runtime, events: list[Any], as_text: bool
) -> None:
    """JSON-encoded (an SQS body: the escapes are ASCII) or as objects (a direct invoke: the strings themselves
    hold the surrogates): every record is processed, a duplicate, or dead-lettered with a reason; none retried."""
    payload = sqs_batch(json.dumps(e) for e in events) if as_text else events
    runtime = shared_sqlite
    before = len(list(runtime.dead_letters.scan(100_000)))
    response = process_invocation(runtime, payload, None)
    if as_text:
        assert response == {"batchItemFailures": []}
    else:
        assert response["retry"] == 0
        assert response["records"] == len(events)
    letters = [s.letter for s in runtime.dead_letters.scan(100_000)][before:]
    assert all(letter.reason for letter in letters)
    originals = {json.dumps(e) for e in events} | {RawRecord(e).text() for e in events}
    assert all(letter.body in originals for letter in letters)  # byte for byte what was delivered


@given(st.lists(st.tuples(hostile, hostile, hostile, hostile), min_size=1, max_size=4))
@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_dead_letter_sink_keeps_any_body_and_escapes_labels(
    tmp_path: Path, fields: list[tuple[str, str, str, str]]
) -> None:
    sinks = [SqliteDeadLetterSink(SqliteDatabase(tmp_path / "dl.db")), MemoryDeadLetterSink()]
    letters = [DeadLetter(reason, message, body, topic, topic) for reason, message, body, topic in fields]
    for sink in sinks:
        before = len(list(sink.scan(100_000)))
        sink.send(letters)
        back = [s.letter for s in sink.scan(100_000)][before:]
        assert [x.body for x in back] == [x.body for x in letters]
        assert all(is_scalar(x.reason + x.message + (x.topic or "")) for x in back if sink is sinks[0])
        assert [x.message for x in back] == [storable(x.message) if sink is sinks[0] else x.message for x in letters]


def test_state_stores_fail_one_conversation_for_an_id_no_store_can_key() -> None:
    for store in (MemoryStateStore(), SqliteStateStore(":memory:")):
        event = parse_record(RawRecord(make_event("customer.start", "c-ok")))
        result = store.apply({"c-\ud800": [event], "c-ok": [event]})  # type: ignore[list-item]
        assert set(result.written) == {"c-ok"}
        assert getattr(result.failed["c-\ud800"], "reason", None) == "invalid_text"
        assert store.get("c-\ud800") is None


def test_printable_escapes_what_a_terminal_would_obey() -> None:
    assert printable("c-\x1b[2J\x00\u202e\ud800-ok") == "c-\\x1b[2J\\x00\\u202e\\ud800-ok"
    assert printable("plain-ÄÖ-日本") == "plain-ÄÖ-日本"


# ------------------------------------------------------------------------------------------------ on moto (slow)
def test_a_lone_surrogate_costs_one_record_on_dynamodb_and_sqs(boto_client: Any, unique_name: str) -> None:
    """On main the event was retried forever on DynamoDB (botocore cannot encode the key)."""
    from gcevents.adapters.dynamodb import create_idempotency_table
    from gcevents.adapters.dynamodb.state import create_state_table
    from gcevents.adapters.sqs import create_queues

    dynamodb, sqs = boto_client("dynamodb"), boto_client("sqs")
    create_idempotency_table(dynamodb, f"{unique_name}-idem")
    create_state_table(dynamodb, f"{unique_name}-state")
    dlq = create_queues(sqs, unique_name)["dlq_url"]
    config = Config(
        idempotency_store=StoreSpec("dynamodb", f"{unique_name}-idem"),
        state_store=StoreSpec("dynamodb", f"{unique_name}-state"),
        dead_letters=StoreSpec("sqs", dlq),
        pipeline=PipelineSettings(deadline_margin=0.0, handler_concurrency=2),
        claim_concurrency=2,
    )
    runtime = build_runtime(config, clients={"dynamodb": dynamodb, "sqs": sqs})
    odd = "c-\x1b[2J\x00\u202e-x"
    bad_body = json.dumps(make_event("customer.end", "c-bad")).replace('"c-bad"', '"c-\\udfff"', 1)
    as_object = make_event("customer.end", "c-obj", participant_id="p-\ud800")  # a direct invoke's own strings

    assert process_invocation(runtime, sqs_batch([make_event("customer.start", odd), bad_body]), None) == {
        "batchItemFailures": []
    }
    assert process_invocation(runtime, [as_object], None)["dead_lettered"] == 1

    assert runtime.state_store is not None
    item = runtime.state_store.get(odd)
    assert item is not None
    assert item.conversation_id == odd
    letters = sorted((s.letter for s in runtime.dead_letters.scan(10)), key=lambda x: x.body)
    assert [x.reason for x in letters] == [Reason.INVALID_TEXT] * 2
    assert {x.body for x in letters} == {bad_body, RawRecord(as_object).text()}


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.tuples(hostile, hostile, hostile, hostile), min_size=1, max_size=3))
def test_the_sqs_dead_letter_queue_keeps_any_body(boto_client: Any, fields: list[tuple[str, str, str, str]]) -> None:
    from gcevents.adapters.sqs import SqsDeadLetterSink

    sqs = boto_client("sqs")
    url = sqs.create_queue(QueueName="hostile-" + uuid.uuid4().hex)["QueueUrl"]
    sink = SqsDeadLetterSink(sqs, url)
    letters = [DeadLetter(reason or "r", message, body, topic, topic, topic) for reason, message, body, topic in fields]
    sink.send(letters)
    back = [s.letter for s in sink.scan(10)]
    assert sorted(x.body for x in back) == sorted(x.body for x in letters)  # byte for byte, base64 where needed
    assert all(is_scalar(x.message + (x.topic or "") + (x.conversation_id or "")) for x in back)
