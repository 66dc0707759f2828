"""conversation.completed / conversation.updated on memory ports: exactly once per conversation and sink, in any
order, under re-sends and failures; the grace timer; raw routes."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Sequence

from hypothesis import given, settings
from hypothesis import strategies as st

from gcevents.core.documents import COMPLETED, RAW_EVENT, UPDATED, ConversationDocument
from gcevents.core.events import TIMER_KIND, GenesysEvent, RawRecord, parse_record
from gcevents.core.outputs import DERIVED, timer_due, timer_message
from gcevents.core.pipeline import Outcome
from gcevents.errors import PermanentError, RateLimitedError, TransientError
from gcevents.ports import OutboundRecord
from gcevents.testing.sinks import RecordingSink

from .kit import expected_version, lifecycles, make_kit, resend

WRAP_KINDS = ("acw", "wrapup")


class ListScheduler:
    def __init__(self) -> None:
        self.messages: list[tuple[str, float]] = []

    def schedule(self, messages: Sequence[tuple[str, float]]) -> None:
        self.messages.extend(messages)

    def take(self) -> list[str]:
        bodies, self.messages = [b for b, _ in self.messages], []
        return bodies


def _kind(event: dict) -> str:
    return event["detail"]["topicName"].split(".", 5)[-1]


@settings(max_examples=50)
@given(seed=st.integers(0, 10**6), conversations=st.integers(1, 3), resends=st.integers(0, 12), cuts=st.integers(0, 6))
def test_any_order_duplication_and_batching_gives_one_completed_with_the_same_final_version(
    seed: int, conversations: int, resends: int, cuts: int
) -> None:
    rng = random.Random(seed)
    flows = lifecycles(conversations, seed)
    unique = [e for events in flows.values() for e in events]
    stream = unique + [resend(rng.choice(unique), rng) for _ in range(resends)]
    rng.shuffle(stream)
    points = sorted(rng.randrange(0, len(stream) + 1) for _ in range(cuts))
    sink = RecordingSink()
    kit = make_kit([(sink, DERIVED, ())])
    for start, end in zip([0, *points], [*points, len(stream)], strict=True):
        if end > start:
            kit.run_until_settled(stream[start:end])
    documents = sink.documents()
    assert Counter(d["conversationId"] for d in documents if d["type"] == COMPLETED) == dict.fromkeys(flows, 1)
    assert all(count == 1 for count in Counter(d["id"] for d in documents).values())  # no version twice
    for cid, events in flows.items():
        mine = [d for d in documents if d["conversationId"] == cid]
        assert mine[0]["type"] == COMPLETED
        assert all(d["type"] == UPDATED for d in mine[1:])
        assert mine[-1]["version"] == expected_version(cid, events)  # the same final version, whatever the order


def test_rerunning_the_same_input_delivers_nothing_new() -> None:
    flows = lifecycles(3, seed=1)
    bodies = [e for events in flows.values() for e in events]
    sink = RecordingSink()
    kit = make_kit([(sink, DERIVED, ())])
    kit.run(bodies)
    first = len(sink.delivered)
    assert first == 3
    report = kit.run([resend(e, random.Random(2)) for e in bodies])
    # Only the projection wants these events: most run claim-free and are found already applied; the once-per-session
    # ones are late here and claim their (applied) fact keys. All duplicates, nothing delivered.
    assert report.counts() == {"duplicate": len(bodies)}
    assert len(sink.delivered) == first


def test_the_record_carries_participants_durations_wrapups_and_source_keys() -> None:
    ((cid, events),) = lifecycles(1, seed=3).items()
    sink = RecordingSink()
    make_kit([(sink, DERIVED, ())]).run(events)
    (document,) = sink.documents(COMPLETED)
    record = ConversationDocument.from_document(document)
    assert record.id == f"{cid}:{record.version}"
    assert record.wrapup_complete
    assert record.media_type in {"VOICE", "CHAT", "CALLBACK"}
    assert record.direction == "INBOUND"
    purposes = Counter(p.purpose for p in record.participants)
    assert purposes == {"customer": 1, "agent": 1}
    agent = next(p for p in record.participants if p.purpose == "agent")
    assert agent.user_id
    assert agent.queue_id
    assert agent.wrapup_code
    assert record.wrapup_codes == (agent.wrapup_code,)
    assert record.talk_ms
    assert record.acw_ms
    assert record.duration_ms
    assert len(record.source_event_keys) == len(events)
    assert sink.delivered[0].key == record.id


def test_a_late_event_after_completion_goes_out_as_updated_with_a_new_version() -> None:
    ((cid, events),) = lifecycles(1, seed=4).items()
    late = [e for e in events if _kind(e) == "flow.start"]
    sink = RecordingSink()
    kit = make_kit([(sink, DERIVED, ())])
    kit.run([e for e in events if e not in late])
    kit.run(late)
    first, second = sink.documents()
    assert (first["type"], second["type"]) == (COMPLETED, UPDATED)
    assert first["version"] != second["version"]
    assert second["version"] == expected_version(cid, events)


def test_a_failed_delivery_is_retried_with_its_events_and_then_delivered_once() -> None:
    flows = lifecycles(2, seed=5)
    failures = iter([TransientError("down"), RateLimitedError("slow down", retry_after=3.0)])
    sink = RecordingSink(fail=lambda record: next(failures, None))
    kit = make_kit([(sink, DERIVED, ())])
    report = kit.run([e for events in flows.values() for e in events])
    retried = report.retries()
    assert retried
    assert any(r.retry_after == 3.0 for r in retried)
    kit.run_until_settled([r.record.text() for r in retried])
    assert Counter(d["conversationId"] for d in sink.documents(COMPLETED)) == dict.fromkeys(flows, 1)
    assert not kit.dead_letters.letters


def test_one_sink_down_does_not_deliver_twice_to_the_healthy_one() -> None:
    flows = lifecycles(2, seed=6)
    healthy = RecordingSink("memory:healthy")
    down = [True]
    flaky = RecordingSink("memory:flaky", fail=lambda record: TransientError("503") if down[0] else None)
    kit = make_kit([(healthy, DERIVED, ()), (flaky, DERIVED, ())])
    report = kit.run([e for events in flows.values() for e in events])
    down[0] = False
    kit.run_until_settled([r.record.text() for r in report.retries()])
    for sink in (healthy, flaky):
        assert Counter(d["conversationId"] for d in sink.documents(COMPLETED)) == dict.fromkeys(flows, 1)
        assert all(n == 1 for n in Counter(r.key for r in sink.delivered).values())


def test_a_permanent_rejection_dead_letters_the_inputs_and_a_redrive_delivers() -> None:
    ((cid, events),) = lifecycles(1, seed=7).items()
    refuse = [True]

    def fail(record: OutboundRecord) -> Exception | None:
        return PermanentError("webhook:crm answered 422: bad field", reason="sink_rejected") if refuse[0] else None

    sink = RecordingSink(fail=fail)
    kit = make_kit([(sink, DERIVED, ())])
    report = kit.run(events)
    letters = kit.dead_letters.letters
    assert letters
    assert {letter.reason for letter in letters} == {"sink_rejected"}
    assert "422" in letters[0].message
    assert report.counts()["dead_lettered"] == len(letters)
    refuse[0] = False
    kit.run([letter.body for letter in letters])  # a redrive
    assert [d["type"] for d in sink.documents()] == [COMPLETED]
    assert sink.documents()[0]["conversationId"] == cid


def test_without_a_wrapup_a_timer_completes_the_conversation_after_the_grace() -> None:
    ((_cid, events),) = lifecycles(1, seed=8).items()
    scheduler = ListScheduler()
    sink = RecordingSink()
    kit = make_kit([(sink, DERIVED, ())], grace=600, scheduler=scheduler)
    kit.run([e for e in events if _kind(e) not in WRAP_KINDS])
    assert sink.delivered == []
    ((_body, delay),) = scheduler.messages
    assert delay == 600
    kit.clock.advance(100)
    kit.run(scheduler.take())  # early (SQS would not deliver it early; a longer grace re-schedules): waits again
    assert sink.delivered == []
    ((_, delay),) = scheduler.messages
    assert delay == 500
    kit.clock.advance(500)
    report = kit.run(scheduler.take())
    assert report.counts() == {"processed": 1}
    (document,) = sink.documents()
    assert document["type"] == COMPLETED
    assert document["conversation"]["wrapupComplete"] is False
    kit.run([e for e in events if _kind(e) in WRAP_KINDS])  # the wrap-up comes after all
    assert [d["type"] for d in sink.documents()] == [COMPLETED, UPDATED]
    assert sink.documents()[-1]["conversation"]["wrapupComplete"] is True
    assert scheduler.messages == []


def test_a_timer_for_a_delivered_or_unknown_conversation_does_nothing() -> None:
    ((cid, events),) = lifecycles(1, seed=9).items()
    sink = RecordingSink()
    kit = make_kit([(sink, DERIVED, ())], scheduler=ListScheduler())
    kit.run(events)
    now_ms = int(kit.clock.now() * 1000)
    report = kit.run([timer_message(cid, now_ms, now_ms), timer_message("unknown", now_ms, now_ms + 1)])
    assert report.counts() == {"processed": 2}
    assert len(sink.delivered) == 1


def test_a_timer_keeps_its_wire_names_so_timers_in_flight_still_parse() -> None:
    """Timers queued by an older release (called checks then) are still waiting on deployed queues."""
    body = json.loads(timer_message("c-1", 2_000, 1_000))
    assert body["detail-type"] == "gcevents.check"
    assert body["detail"]["topicName"] == "gcevents.check.c-1"
    event = parse_record(RawRecord(json.dumps(body)))
    assert isinstance(event, GenesysEvent)
    assert (event.kind, event.conversation_id, timer_due(event)) == (TIMER_KIND, "c-1", 2_000)


def test_a_route_for_updates_only_skips_the_first_version() -> None:
    ((_cid, events),) = lifecycles(1, seed=10).items()
    late = [e for e in events if _kind(e) == "flow.start"]
    sink = RecordingSink()
    kit = make_kit([(sink, frozenset({UPDATED}), ())])
    kit.run([e for e in events if e not in late])
    assert sink.delivered == []
    kit.run(late)
    assert [d["type"] for d in sink.documents()] == [UPDATED]


def test_raw_routes_deliver_each_unique_selected_event_once() -> None:
    flows = lifecycles(2, seed=12)
    bodies = [e for events in flows.values() for e in events]
    rng = random.Random(1)
    raw = RecordingSink()
    kit = make_kit(
        [
            (
                raw,
                frozenset(),
                ("v2.detail.events.conversation.{id}.acw", "v2.detail.events.conversation.{id}.customer.*"),
            )
        ]
    )
    kit.run(bodies + [resend(e, rng) for e in bodies[:5]])
    again = kit.run([resend(e, rng) for e in bodies])
    assert again.counts() == {"duplicate": len(bodies)}  # delivered before, or already in the state
    kinds = Counter(_kind(d["event"]) for d in raw.documents(RAW_EVENT))
    assert kinds == {"acw": 2, "customer.start": 2, "customer.end": 2}
    assert all(n == 1 for n in Counter(r.key for r in raw.delivered).values())
    document = raw.documents()[0]
    assert document["id"] == raw.delivered[0].key
    assert document["topic"] == raw.delivered[0].topic
    assert json.dumps(document["event"]["detail"]).startswith("{")


def test_a_resend_is_a_duplicate_only_when_every_sink_had_it_before() -> None:
    flows = lifecycles(1, seed=14)
    bodies = [e for events in flows.values() for e in events]
    acw = ("v2.detail.events.conversation.{id}.acw",)
    steady, flaky = RecordingSink(), RecordingSink(sink_name="memory:flaky")
    flaky.fail = lambda record: TransientError("flaky sink down")
    kit = make_kit([(steady, frozenset(), acw), (flaky, frozenset(), acw)])
    first = kit.run(bodies)
    assert {(r.outcome, r.event.kind if r.event else "") for r in first.results if r.outcome is Outcome.RETRY} == {
        (Outcome.RETRY, "conversation.acw")
    }
    flaky.fail = None
    rng = random.Random(3)
    second = kit.run([resend(e, rng) for e in bodies])
    outcomes = {r.event.kind: r.outcome for r in second.results if r.event is not None}
    assert outcomes.pop("conversation.acw") is Outcome.PROCESSED  # the steady sink had it, the flaky one not yet
    assert set(outcomes.values()) == {Outcome.DUPLICATE}
    assert kit.run([resend(e, rng) for e in bodies]).counts() == {"duplicate": len(bodies)}
    assert len(steady.documents(RAW_EVENT)) == len(flaky.documents(RAW_EVENT)) == 1


def test_outcomes_stay_one_per_record_with_outputs_on() -> None:
    flows = lifecycles(2, seed=13)
    bodies = [e for events in flows.values() for e in events]
    report = make_kit([(RecordingSink(), DERIVED, ())]).run(bodies)
    assert report.counts() == {Outcome.PROCESSED.value: len(bodies)}
