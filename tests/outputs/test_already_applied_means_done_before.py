"""Claim-free duplicates (BatchOutcome): an event reported DUPLICATE (already_applied) must be
one whose effect had happened before; an event that caused an effect now is PROCESSED."""

from __future__ import annotations

from collections import Counter

from gcevents.core.documents import COMPLETED
from gcevents.core.outputs import DERIVED
from gcevents.core.pipeline import ALREADY_APPLIED, Outcome
from gcevents.errors import TransientError
from gcevents.testing.sinks import RecordingSink

from .kit import lifecycles, make_kit


def test_a_retried_event_whose_derived_record_is_delivered_now_is_processed_not_already_applied() -> None:
    flows = lifecycles(1, seed=21)
    bodies = [e for events in flows.values() for e in events]
    down = [True]
    sink = RecordingSink(fail=lambda record: TransientError("503") if down[0] else None)
    kit = make_kit([(sink, DERIVED, ())])
    first = kit.run(bodies)
    retried = first.retries()
    assert retried  # the state was written, the completed record was not delivered
    assert sink.documents(COMPLETED) == []
    down[0] = False
    second = kit.run([r.record.text() for r in retried], prefix="retry", receive_count=2)  # SQS redelivers them
    assert Counter(d["conversationId"] for d in sink.documents(COMPLETED)) == dict.fromkeys(flows, 1)
    # The delivery happened in this run, caused by these events: not a re-send to no effect.
    assert [(r.outcome, r.reason) for r in second.results if r.reason == ALREADY_APPLIED] == []
    assert {r.outcome for r in second.results} == {Outcome.PROCESSED}
    # Run again: now everything was applied and delivered before.
    third = kit.run([r.record.text() for r in retried], prefix="again")
    assert {r.outcome for r in third.results} == {Outcome.DUPLICATE}
    assert any(r.reason == ALREADY_APPLIED for r in third.results)
