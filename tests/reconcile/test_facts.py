"""Pure: gaps between an analytics document and a state, and the facts that repair them. The facts reconcile
rebuilds from a conversation's analytics share their fact keys with the conversation's real events, whatever
milliseconds analytics put on the segments."""

from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gcevents.core.events import FACT_KINDS, GenesysEvent, RawRecord, parse_record
from gcevents.core.state import merge
from gcevents.ops.facts import MISSING_WRAPUP, NOT_ENDED, UNKNOWN, find_gap, repair_facts
from gcevents.testing.workload import conversation_lifecycle, lifecycle_analytics

START_MS = 1_764_000_000_000


def lifecycle(seed: int) -> list[dict[str, Any]]:
    return conversation_lifecycle(f"c-{seed}", START_MS, random.Random(seed))


def parsed(envelopes: list[dict[str, Any]]) -> list[GenesysEvent]:
    events = [parse_record(RawRecord(json.dumps(e))) for e in envelopes]
    assert all(isinstance(e, GenesysEvent) for e in events)
    return events  # type: ignore[return-value]


def state_of(envelopes: list[dict[str, Any]]) -> dict[str, Any]:
    return merge(None, parsed(envelopes))


def kinds(envelopes: list[dict[str, Any]]) -> list[str]:
    return [e["detail"]["topicName"].split(".", 5)[5] for e in envelopes]  # v2.detail.events.conversation.<id>.<kind>


@settings(max_examples=25)
@given(st.integers(min_value=0, max_value=10_000))
def test_rebuilt_facts_share_their_fact_keys_with_the_real_events_and_differ_in_time(seed: int) -> None:
    events = lifecycle(seed)
    document = lifecycle_analytics(events)
    facts = parsed(repair_facts(document, None, checked_at_ms=START_MS + 10**7))
    real = [e for e in parsed(events) if e.kind in FACT_KINDS]
    assert sorted(f.fact_key or "" for f in facts) == sorted(e.fact_key or "" for e in real)
    assert all(f.reconciled for f in facts)
    assert not any(e.reconciled for e in real)
    # Analytics times are not the events' to the millisecond: the content keys mostly differ, the fact keys never.
    assert {f.content_key for f in facts} != {e.content_key for e in real}


def test_an_unknown_conversation_gets_every_fact_of_every_session() -> None:
    document = lifecycle_analytics(lifecycle(1))
    gap = find_gap(document, None)
    assert gap is not None
    assert gap.kinds == (UNKNOWN,)
    facts = repair_facts(document, None, checked_at_ms=START_MS)
    assert sorted(kinds(facts)) == sorted(["customer.start", "customer.end", "user.start", "user.end", "acw"])
    state = state_of(facts)
    assert find_gap(document, state) is None  # the rebuilt facts close the gap
    agent = next(p for p in state["participants"].values() if p["purpose"]["value"] == "agent")
    assert agent["wrapupCode"]["value"] == lifecycle(1)[-1]["detail"]["eventBody"]["wrapupCode"]  # the final code


def test_a_conversation_without_its_end_gets_only_the_end() -> None:
    events = [e for e in lifecycle(2) if not e["detail"]["topicName"].endswith(".customer.end")]
    document = lifecycle_analytics(lifecycle(2))
    state = state_of(events)
    gap = find_gap(document, state)
    assert gap is not None
    assert gap.kinds == (NOT_ENDED,)
    assert kinds(repair_facts(document, state, checked_at_ms=START_MS)) == ["customer.end"]


def test_a_missing_wrapup_gets_the_acw_of_that_agent_only() -> None:
    events = [e for e in lifecycle(3) if not e["detail"]["topicName"].endswith((".acw", ".wrapup"))]
    document = lifecycle_analytics(lifecycle(3))
    state = state_of(events)
    gap = find_gap(document, state)
    assert gap is not None
    assert gap.kinds == (MISSING_WRAPUP,)
    agent = next(e for e in events if e["detail"]["topicName"].endswith(".user.start"))
    assert gap.participants == (agent["detail"]["eventBody"]["participantId"],)
    assert kinds(repair_facts(document, state, checked_at_ms=START_MS)) == ["acw"]


def test_a_complete_conversation_has_no_gap_and_an_ongoing_one_is_not_asked_about() -> None:
    events = lifecycle(4)
    assert find_gap(lifecycle_analytics(events), state_of(events)) is None
    ongoing = lifecycle_analytics(events, ended=False)
    assert "conversationEnd" not in ongoing  # the query's `conversationEnd exists` filter leaves it out


def test_odd_documents_give_no_facts_and_never_raise() -> None:
    odd: list[dict[str, Any]] = [
        {"conversationId": "c", "conversationEnd": "2025-01-01T00:00:00Z"},
        {"conversationId": "c", "participants": "nope"},
        {
            "conversationId": "c",
            "participants": [
                1,
                {"purpose": "agent"},
                {"participantId": "p", "purpose": "agent", "sessions": [{"segments": "x"}, 7]},
            ],
        },
        {
            "conversationId": "c",
            "participants": [
                {
                    "participantId": "p",
                    "purpose": "customer",
                    "sessions": [
                        {"sessionId": "s", "segments": [{"segmentStart": "not a time"}, {"segmentType": "wrapup"}]}
                    ],
                }
            ],
        },
    ]
    for document in odd:
        assert repair_facts(document, None, checked_at_ms=0) == []
        assert find_gap(document, {"endTime": 1}) is None


def test_a_conversation_without_a_customer_is_never_reported_not_ended() -> None:
    """Agent to agent: the state's end is the customer's, which such a conversation never has."""
    document = lifecycle_analytics(lifecycle(5))
    document["participants"] = [p for p in document["participants"] if p["purpose"] != "customer"]
    facts = repair_facts(document, None, checked_at_ms=START_MS)
    assert sorted(kinds(facts)) == ["acw", "user.end", "user.start"]
    assert find_gap(document, state_of(facts)) is None  # repaired, though no customer.end can ever come
