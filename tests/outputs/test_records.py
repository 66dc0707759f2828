"""The bounded source-key part of the state is still a join-semilattice; the record is a function of the state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcevents.core import state as state_module
from gcevents.core.documents import derive, is_wrapped_up, pending_wrapups, version_of
from gcevents.core.state import SOURCES, SOURCES_TRUNCATED, join

keys = st.lists(st.sampled_from([f"k{n}" for n in range(8)]), max_size=6, unique=True)


def part(items: list[str]) -> dict[str, object]:
    return {SOURCES: sorted(items)[:3], **({SOURCES_TRUNCATED: True} if len(items) > 3 else {})}


@given(a=keys, b=keys, c=keys)
def test_bounded_sources_join_is_a_semilattice(a: list[str], b: list[str], c: list[str]) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(state_module, "MAX_SOURCE_KEYS", 3)
        x, y, z = part(a), part(b), part(c)
        assert join(x, y) == join(y, x)
        assert join(join(x, y), z) == join(x, join(y, z))
        assert join(x, x) == x
        union = set(a) | set(b) | set(c)
        joined = join(join(x, y), z)
        assert joined.get(SOURCES, []) == sorted(union)[:3]
        assert bool(joined.get(SOURCES_TRUNCATED)) == (len(union) > 3)


def _state(**participants: dict[str, object]) -> dict[str, object]:
    def reg(v: object) -> dict[str, object]:
        return {"value": v, "at": 1, "by": "k"}

    return {
        "startTime": 1_000,
        "endTime": 61_000,
        "mediaType": reg("VOICE"),
        "participants": {pid: {k: reg(v) for k, v in fields.items()} for pid, fields in participants.items()},
        SOURCES: ["a", "b"],
    }


def test_wrapups_durations_and_version() -> None:
    waiting = _state(
        c={"purpose": "customer"}, a1={"purpose": "agent", "interactingDurationMs": 100}, a2={"purpose": "user"}
    )
    assert pending_wrapups(waiting) == ["a1", "a2"]
    assert not is_wrapped_up(waiting)
    done = _state(
        c={"purpose": "customer", "interactingDurationMs": 999},
        a1={"purpose": "agent", "interactingDurationMs": 100, "wrapupCode": "Sale", "wrapupDurationMs": 7},
        a2={"purpose": "user", "interactingDurationMs": 50, "heldDurationMs": 5, "wrapupCode": "Sale"},
    )
    assert is_wrapped_up(done)
    content = derive("c1", done)
    assert content["durations"] == {"talkMs": 150, "holdMs": 5, "acwMs": 7}  # agents only
    assert content["wrapupCodes"] == ["Sale"]
    assert content["durationMs"] == 60_000
    assert content["sourceEventKeys"] == ["a", "b"]
    assert version_of(content) == version_of(derive("c1", dict(reversed(list(done.items())))))
    # A late event that only adds its key is not a new version; one that changes a fact is.
    assert version_of(content) == version_of(derive("c1", {**done, SOURCES: ["a", "b", "c"]}))
    recoded = _state(
        c={"purpose": "customer", "interactingDurationMs": 999},
        a1={"purpose": "agent", "interactingDurationMs": 100, "wrapupCode": "Sale", "wrapupDurationMs": 7},
        a2={"purpose": "user", "interactingDurationMs": 50, "heldDurationMs": 5, "wrapupCode": "No sale"},
    )
    assert version_of(content) != version_of(derive("c1", recoded))
    assert "lastEventKind" not in content
    assert all("lastEventKind" not in p for p in content["participants"])
