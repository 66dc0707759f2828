"""The pure merge: a join-semilattice, so order, batching and duplicates cannot change the result."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gcevents.core.state import (
    Observation,
    _first_register,
    _last_register,
    _register_order,
    delta,
    join,
    merge,
    view,
)

from .helpers import BASE_MS, build, event_specs, make_event, shuffled_batches

states = event_specs(max_size=4).map(lambda specs: merge(None, [build(s, "c1") for s in specs]))


@given(states, states)
def test_join_is_commutative(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert join(a, b) == join(b, a)


@given(states, states, states)
def test_join_is_associative(a: dict[str, Any], b: dict[str, Any], c: dict[str, Any]) -> None:
    assert join(join(a, b), c) == join(a, join(b, c))


@given(states)
def test_join_is_idempotent(a: dict[str, Any]) -> None:
    assert join(a, a) == a


@given(event_specs(), st.lists(st.integers(0, 20), max_size=10), st.randoms(), st.integers(0, 5))
def test_any_order_duplicates_and_batching_converge(
    specs: list[Any], duplicates: list[int], rng: random.Random, cuts: int
) -> None:
    observations = [build(s, "c1") for s in specs]
    expected = merge(None, observations)
    state: dict[str, Any] = {}
    for batch in shuffled_batches(observations, duplicates, rng, cuts):
        state = merge(state, batch)
    assert state == expected


def test_an_older_event_does_not_overwrite_a_newer_one() -> None:
    newer = make_event("wrapup", at=BASE_MS + 5000, wrapupCode="sale")
    older = make_event("acw", at=BASE_MS + 1000, wrapupCode="no-sale", userId="u1")
    state = merge(merge(None, [newer]), [older])
    participant = state["participants"]["p1"]
    assert participant["wrapupCode"] == {"value": "sale", "at": BASE_MS + 5000, "by": newer.content_key}
    assert participant["userId"]["value"] == "u1"  # the older event still fills what nothing newer set
    assert state["lastEvent"]["value"] == "wrapup"


def test_conversation_parts_follow_their_semantics() -> None:
    events = [
        make_event("customer.start", at=BASE_MS + 1000, mediaType="VOICE", direction="inbound"),
        make_event("user.start", "c1", "p2", at=BASE_MS + 2000, direction="outbound", userId="u1"),
        make_event("customer.end", at=BASE_MS + 9000, disconnectType="client", interactingDurationMs=8000),
        make_event("acw", "c1", "p2", at=BASE_MS + 12000, wrapupCode="sale", wrapupDurationMs=3000.0),
    ]
    state = merge(None, reversed(events))
    assert state["direction"]["value"] == "inbound"  # originating direction: the earliest event's
    assert state["startTime"] == BASE_MS + 1000
    assert state["endTime"] == BASE_MS + 9000  # the customer hanging up, not the later wrap-up
    assert state["lastEvent"]["value"] == "acw"
    customer, agent = state["participants"]["p1"], state["participants"]["p2"]
    assert customer["purpose"]["value"] == "customer"
    assert customer["disconnectType"]["value"] == "client"
    assert customer["endTime"] == BASE_MS + 9000
    assert agent["purpose"]["value"] == "agent"
    assert agent["wrapupDurationMs"]["value"] == 3000  # integral floats are stored as ints
    assert isinstance(agent["wrapupDurationMs"]["value"], int)

    flat = view("c1", state)
    assert flat["startTime"] == "2023-11-14T22:13:21.000Z"
    assert [p["participantId"] for p in flat["participants"]] == ["p1", "p2"]
    assert flat["participants"][1]["wrapupCode"] == "sale"


def test_equal_stamps_with_different_values_still_join_deterministically() -> None:
    a = make_event("wrapup", wrapupCode="a")
    b = make_event("wrapup", wrapupCode="b")
    assert a.content_key == b.content_key  # same kind/participant/session/time: same content key
    assert merge(None, [a, b]) == merge(None, [b, a])


def test_untracked_events_imply_nothing() -> None:
    agent_state = make_event("state", "user-1", None, session_id=None, routingStatus="IDLE")
    assert agent_state.kind == "agent.state"
    assert delta(Observation(agent_state)) == {}
    assert merge(None, [agent_state]) == {}


def test_enrichment_keeps_a_summary_and_prefers_complete_analytics() -> None:
    details = {
        "conversationStart": "2023-11-14T22:13:20.000Z",
        "originatingDirection": "inbound",
        "divisionIds": ["d2", "d1"],
        "participants": [{"purpose": "customer", "sessions": [{"mediaType": "voice"}]}, {"purpose": "agent"}],
        "huge": "x" * 1000,
    }
    complete = {**details, "conversationEnd": "2023-11-14T22:20:00.000Z"}
    early = Observation(make_event("customer.end", at=BASE_MS + 1000), complete)
    late = Observation(make_event("wrapup", at=BASE_MS + 9000), details)  # analytics lagging behind
    state = merge(None, [late, early])
    assert state["enrichment"]["value"] == {
        "conversationStart": "2023-11-14T22:13:20.000Z",
        "conversationEnd": "2023-11-14T22:20:00.000Z",
        "originatingDirection": "inbound",
        "divisionIds": ["d1", "d2"],
        "participantCount": 2,
        "mediaType": "voice",
    }


def test_merge_does_not_modify_its_input() -> None:
    first = merge(None, [make_event("customer.start")])
    snapshot = repr(first)
    merge(first, [make_event("customer.end", at=BASE_MS + 1), make_event("attributes", attributes={"k": "v"})])
    assert repr(first) == snapshot


registers = st.fixed_dictionaries(
    {
        "at": st.integers(0, 3),
        "by": st.sampled_from(["a", "b"]),
        "value": st.one_of(st.integers(0, 2), st.text(max_size=2)),
    },
    optional={"rank": st.integers(0, 1)},
)


@given(registers, registers)
def test_register_order_is_computed_lazily_but_unchanged(a: dict[str, Any], b: dict[str, Any]) -> None:
    """The join compares stamps first and the values' canonical JSON only on a tie: the same order as the key."""
    assert _last_register(a, b) is max(a, b, key=_register_order)
    assert _first_register(a, b) is min(a, b, key=_register_order)
