"""One contract, every adapter (memory, SQLite, DynamoDB on moto): see conftest.make_store."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcevents.core import state_store as store_module
from gcevents.core.state import merge, stored_view
from gcevents.core.state_store import OptimisticStateStore
from gcevents.errors import GcEventsError
from gcevents.testing.fakes import FakeClock

from .helpers import BASE_MS, build, event_specs, make_event, shuffled_batches

MakeStore = Callable[..., OptimisticStateStore]


def test_get_of_an_unknown_conversation_is_none(make_store: MakeStore) -> None:
    assert make_store().get("nope") is None


def test_apply_writes_one_item_per_conversation(make_store: MakeStore) -> None:
    clock = FakeClock(1_700_000_100.0)
    store = make_store(clock=clock, ttl_days=7)
    result = store.apply(
        {
            "c1": [
                make_event("customer.start", "c1", mediaType="VOICE"),
                make_event("customer.end", "c1", at=BASE_MS + 1),
            ],
            "c2": [make_event("user.start", "c2", userId="u1")],
        }
    )
    assert set(result.written) == {"c1", "c2"}
    assert not result.failed
    item = store.get("c1")
    assert item is not None
    assert item.version == 1
    assert item.updated_at_ms == 1_700_000_100_000
    assert item.ttl == 1_700_000_100 + 7 * 86400
    assert item.state["mediaType"]["value"] == "VOICE"
    assert item.state["lastEvent"]["value"] == "customer.end"
    assert stored_view(item)["updatedAt"] == "2023-11-14T22:15:00.000Z"


def test_an_older_event_never_overwrites_a_newer_one(make_store: MakeStore) -> None:
    store = make_store()
    store.apply({"c1": [make_event("wrapup", at=BASE_MS + 5000, wrapupCode="sale")]})
    result = store.apply({"c1": [make_event("wrapup", at=BASE_MS + 1000, session_id="s0", wrapupCode="old")]})
    item = store.get("c1")
    assert item is not None
    assert item.state["participants"]["p1"]["wrapupCode"]["value"] == "sale"
    assert item.state["lastEvent"]["at"] == BASE_MS + 5000
    assert result.written  # the older event still moved startTime back: a real change, one write


def test_reapplying_the_same_events_does_not_write(make_store: MakeStore) -> None:
    store = make_store()
    events = [make_event("customer.start"), make_event("customer.end", at=BASE_MS + 10)]
    store.apply({"c1": events})
    again = store.apply({"c1": list(reversed(events))})
    assert again.unchanged == {"c1"}
    assert not again.written
    item = store.get("c1")
    assert item is not None
    assert item.version == 1


def test_list_is_newest_first_with_since_and_limit(make_store: MakeStore) -> None:
    clock = FakeClock(1_700_000_000.0)
    store = make_store(clock=clock)
    for index in range(4):
        store.apply({f"c{index}": [make_event("customer.start", f"c{index}")]})
        clock.advance(60)
    listed = store.list(limit=10)
    assert [i.conversation_id for i in listed] == ["c3", "c2", "c1", "c0"]
    assert [i.conversation_id for i in store.list(limit=2)] == ["c3", "c2"]
    since = datetime.fromtimestamp(1_700_000_060, tz=UTC)
    assert [i.conversation_id for i in store.list(since=since)] == ["c3", "c2", "c1"]


def test_a_failing_conversation_does_not_fail_the_batch(make_store: MakeStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store = make_store()

    def merge_failing_for_bad(state: Any, events: Any) -> Any:
        events = list(events)
        if events[0].conversation_id == "bad":
            raise ValueError("boom")
        return merge(state, events)

    monkeypatch.setattr(store_module, "merge", merge_failing_for_bad)
    result = store.apply({"good": [make_event("customer.start", "good")], "bad": [make_event("customer.start", "bad")]})
    assert set(result.written) == {"good"}
    assert isinstance(result.failed["bad"], ValueError)
    assert store.get("bad") is None
    assert store.get("good") is not None


def test_concurrent_writers_lose_no_update(make_store: MakeStore) -> None:
    """Every writer reads the same (missing) item before anyone writes: all but one must lose the
    conditional write, re-merge and retry. The final item must hold every writer's events."""
    writers = 6
    stores = [make_store(max_attempts=writers + 2) for _ in range(writers)]
    barrier = threading.Barrier(writers)
    for store in stores:
        original = store._load
        first = threading.local()

        def load_in_lockstep(ids: Any, original: Any = original, first: Any = first) -> Any:
            loaded = original(ids)
            if not getattr(first, "done", False):
                first.done = True
                barrier.wait(timeout=30)
            return loaded

        store._load = load_in_lockstep  # type: ignore[method-assign]

    events = [
        [
            make_event("attributes", "c1", f"p{w}", at=BASE_MS + w, attributes={f"k{w}": w}),
            make_event("user.start", "c1", f"p{w}"),
        ]
        for w in range(writers)
    ]
    results: list[Any] = [None] * writers

    def run(w: int) -> None:
        results[w] = stores[w].apply({"c1": events[w]})

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None and not r.failed for r in results), results
    item = stores[0].get("c1")
    assert item is not None
    assert item.state == merge(None, [e for batch in events for e in batch])
    assert item.version == writers  # one successful write per writer, none lost


STORE_SETTINGS = {
    "memory": settings(
        max_examples=100,
        deadline=None,
        suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture],
    ),
    "sqlite": settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture],
    ),
    "dynamodb": settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture],
    ),
}


def test_any_order_duplicates_and_batching_converge(make_store: MakeStore, request: pytest.FixtureRequest) -> None:
    store = make_store()
    backend = request.node.callspec.params["make_store"]

    @STORE_SETTINGS[backend]
    @given(
        event_specs(),
        st.lists(st.integers(0, 20), max_size=8),
        st.randoms(use_true_random=False),
        st.integers(0, 4),
    )
    def converge(specs: list[Any], duplicates: list[int], rng: random.Random, cuts: int) -> None:
        cid = "c-" + uuid.uuid4().hex  # fresh conversation per example: the store outlives examples
        observations = [build(s, cid) for s in specs]
        for batch in shuffled_batches(observations, duplicates, rng, cuts):
            result = store.apply({cid: batch})
            assert not result.failed, result.failed
        item = store.get(cid)
        assert item is not None
        assert item.state == merge(None, observations)

    converge()


def test_errors_are_gcevents_errors_reported_per_conversation(make_store: MakeStore) -> None:
    """A store that cannot be reached reports every conversation as failed, with a transient error."""
    store = make_store()

    def unreachable(ids: Any) -> Any:
        from gcevents.errors import StoreUnavailableError

        raise StoreUnavailableError("down")

    store._load = unreachable  # type: ignore[method-assign]
    result = store.apply({"c1": [make_event("customer.start")], "c2": [make_event("customer.start", "c2")]})
    assert set(result.failed) == {"c1", "c2"}
    assert all(isinstance(e, GcEventsError) for e in result.failed.values())


def test_delete_erases_one_conversation_and_only_it(make_store: MakeStore) -> None:
    store = make_store()
    store.apply({"c1": [make_event("customer.start", "c1")], "c2": [make_event("customer.start", "c2")]})
    assert store.delete("c1") is True
    assert store.get("c1") is None
    assert store.get("c2") is not None
    assert store.delete("c1") is False  # erasure is idempotent
    store.apply({"c1": [make_event("customer.end", "c1", at=BASE_MS + 1)]})  # a later event starts a new item
    item = store.get("c1")
    assert item is not None
    assert "startTime" in item.state
    assert item.version == 1
