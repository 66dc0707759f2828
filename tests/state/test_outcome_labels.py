"""Exact outcome labels (issue 20, item 4): a first-seen event is never DUPLICATE, a re-send (same content key seen
before) is never PROCESSED, whatever the order, the batching, the store, and however many events a conversation has
(the state keeps a bounded set of the content keys it saw: `state.MAX_SOURCE_KEYS`)."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcevents.core import state as state_model
from gcevents.core.events import GenesysEvent, RawRecord, split_records
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import ALREADY_APPLIED, SUPERSEDED, Outcome, Pipeline, PipelineSettings
from gcevents.core.projection import StateProjection
from gcevents.core.router import HandlerContext, Router
from gcevents.core.state_store import OptimisticStateStore
from gcevents.core.topics import CONVERSATION_KINDS
from gcevents.testing.events import BASE_MS, event, resend, sqs_batch
from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink, MemoryIdempotencyStore

MakeStore = Callable[..., OptimisticStateStore]
EXAMPLES = {"memory": 60, "sqlite": 25, "dynamodb": 6}


def build(store: OptimisticStateStore, router: Router | None = None) -> tuple[Pipeline, MemoryIdempotencyStore]:
    clock, keys = FakeClock(), MemoryIdempotencyStore()
    router = router or Router()
    router.add_batch(StateProjection(store))
    pipeline = Pipeline(
        idempotency=Idempotency(keys, clock=clock, concurrency=4),
        dead_letters=MemoryDeadLetterSink(),
        router=router,
        settings=PipelineSettings(handler_concurrency=2),
        clock=clock,
    )
    return pipeline, keys


def run(pipeline: Pipeline, events: Sequence[dict[str, Any]], cuts: Sequence[int]) -> Counter[str]:
    """Every event once through the pipeline, in batches cut at `cuts`: outcome -> count (nothing may retry)."""
    counts: Counter[str] = Counter()
    bounds = [0, *sorted({c % (len(events) + 1) for c in cuts}), len(events)]
    for start, end in itertools.pairwise(bounds):
        if start == end:
            continue
        records: list[RawRecord] = split_records(sqs_batch(list(events[start:end])))
        report = pipeline.run(records, pipeline.clock.now() + 600)
        counts.update(report.counts())
    assert Outcome.RETRY.value not in counts, counts
    return counts


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(unique events, what the queue delivers: them and re-sends of some, shuffled)."""
    unique: list[dict[str, Any]] = []
    for c in range(draw(st.integers(1, 3))):
        for n in range(draw(st.integers(1, 9))):
            kind = draw(st.sampled_from(CONVERSATION_KINDS))
            participant = draw(st.sampled_from(("p-customer", "p-agent")))
            at = BASE_MS + draw(st.integers(0, 600)) * 1000 + n  # + n: distinct content keys within a conversation
            unique.append(event(kind, f"c-{c}", participant_id=participant, session_id=participant, event_time=at))
    resent = [resend(e) for e in draw(st.lists(st.sampled_from(unique), max_size=8))]
    delivered = unique + resent
    draw(st.randoms(use_true_random=False)).shuffle(delivered)
    return unique, delivered


@pytest.mark.parametrize("bound", [state_model.MAX_SOURCE_KEYS, 3], ids=["bound_default", "bound_3"])
def test_processed_counts_unique_events_and_duplicate_counts_resends(
    make_store: MakeStore, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, bound: int
) -> None:
    """Once through: processed == unique events, duplicate == re-sends. Again: every record a duplicate. With a
    bound of 3, conversations overflow the state's set of seen keys: the labels stay exact."""
    monkeypatch.setattr(state_model, "MAX_SOURCE_KEYS", bound)
    store = make_store()
    backend = request.node.callspec.params["make_store"]

    @settings(
        max_examples=EXAMPLES[backend],
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(deliveries(), st.lists(st.integers(0, 200), max_size=4), st.lists(st.integers(0, 200), max_size=4))
    def exact(drawn: tuple[list[dict[str, Any]], list[dict[str, Any]]], cuts: list[int], again: list[int]) -> None:
        unique, delivered = drawn
        pipeline, _ = build(store)
        tag = random.Random(repr(delivered)).getrandbits(64)  # fresh conversations per example: the store outlives it
        delivered = [_retag(e, tag) for e in delivered]
        first = run(pipeline, delivered, cuts)
        assert (first["processed"], first["duplicate"]) == (len(unique), len(delivered) - len(unique))
        second = run(pipeline, delivered, again)
        assert (second["processed"], second["duplicate"]) == (0, len(delivered))

    exact()


def _retag(envelope: dict[str, Any], tag: int) -> dict[str, Any]:
    """The same delivery with its conversation id made unique to one hypothesis example."""
    detail = envelope["detail"]
    cid = detail["eventBody"]["conversationId"]
    new = f"{cid}-{tag:x}"
    body = {**detail["eventBody"], "conversationId": new}
    return {**envelope, "detail": {**detail, "topicName": detail["topicName"].replace(cid, new), "eventBody": body}}


def lifecycle(cid: str) -> list[dict[str, Any]]:
    kinds = ("customer.start", "flow.start", "acd.start", "user.start", "user.end", "customer.end", "acw", "wrapup")
    return [
        event(
            kind,
            cid,
            participant_id="p-a" if kind.startswith(("user", "acw", "wrapup")) else "p-c",
            event_time=BASE_MS + 1000 * n,
        )
        for n, kind in enumerate(kinds)
    ]


def test_the_start_arriving_last_is_processed_and_its_resend_a_duplicate(make_store: MakeStore) -> None:
    pipeline, _ = build(make_store())
    events = lifecycle("c-late-start")
    assert run(pipeline, events[1:], []) == Counter(processed=7)
    late = pipeline.run(split_records(sqs_batch([events[0]])), pipeline.clock.now() + 600)
    again = pipeline.run(split_records(sqs_batch([resend(events[0])])), pipeline.clock.now() + 600)
    assert [r.outcome for r in late.results] == [Outcome.PROCESSED]
    assert [(r.outcome, r.reason) for r in again.results] == [(Outcome.DUPLICATE, ALREADY_APPLIED)]


def test_an_event_that_changed_nothing_is_superseded_not_a_duplicate(make_store: MakeStore) -> None:
    pipeline, _ = build(make_store())
    later = event("flow.end", "c-s", participant_id="p-c", event_time=BASE_MS + 9000, flowId="f")
    older = event("flow.end", "c-s", participant_id="p-c", event_time=BASE_MS + 1000, flowId="f")
    start = event("customer.start", "c-s", participant_id="p-c", event_time=BASE_MS)
    run(pipeline, [start, later], [])  # the older flow.end below says nothing these two did not
    report = pipeline.run(split_records(sqs_batch([older])), pipeline.clock.now() + 600)
    assert [(r.outcome, r.reason) for r in report.results] == [(Outcome.PROCESSED, SUPERSEDED)]


def test_events_the_state_does_not_record_are_labelled_by_a_mark(make_store: MakeStore) -> None:
    """An agent-state event only the projection wants: the projection records nothing of it, so the pipeline decides
    with a COMPLETED mark (first time PROCESSED, re-send DUPLICATE)."""
    pipeline, keys = build(make_store())
    agent = event("agent.state", "u-1", systemPresence="AVAILABLE")
    first = pipeline.run(split_records(sqs_batch([agent])), pipeline.clock.now() + 600)
    second = pipeline.run(split_records(sqs_batch([resend(agent)])), pipeline.clock.now() + 600)
    assert [r.outcome for r in first.results + second.results] == [Outcome.PROCESSED, Outcome.DUPLICATE]
    key = first.results[0].event.content_key if first.results[0].event else ""
    assert keys.completed([key], int(pipeline.clock.now() * 1000)) == {key}


def test_a_side_effect_handler_beside_the_projection_keeps_claimed_labels(make_store: MakeStore) -> None:
    router, calls = Router(), []

    @router.on("v2.detail.events.conversation.{id}.acw")
    def acw(e: GenesysEvent, ctx: HandlerContext) -> None:
        calls.append(ctx.idempotency_key)

    pipeline, _ = build(make_store(), router)
    events = lifecycle("c-h")
    first = run(pipeline, events, [3])
    second = run(pipeline, [resend(e) for e in events], [5])
    assert (first, second) == (Counter(processed=8), Counter(duplicate=8))
    assert len(calls) == 1


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.integers(0, 40), min_size=1, max_size=30),
    st.lists(st.integers(1, 6), min_size=1, max_size=10),
    st.integers(1, 6),
)
def test_seen_keys_never_calls_a_seen_key_new_nor_a_new_key_seen(
    times: list[int], sizes: list[int], bound: int
) -> None:
    """The pure rule behind the labels, at any bound: `seen` holds only keys joined before, `new` none of them; a
    key joined before that is not `seen` was reported unrecorded by an earlier write (so it has its mark); nothing
    is undecided while the state holds every key."""
    original = state_model.MAX_SOURCE_KEYS
    state_model.MAX_SOURCE_KEYS = bound
    try:
        observations = [
            state_model.Observation(_parsed("flow.end", BASE_MS + t * 1000), None, True) for t in times
        ]  # repeated times: re-sends (same content key)
        stored: dict[str, Any] = {}
        joined: set[str] = set()
        marked: set[str] = set()
        at = 0
        for size in sizes * 4:
            batch = observations[at : at + size]
            if not batch:
                break
            at += size
            merged = state_model.merge(stored, batch)
            seen = state_model.seen_keys(stored, merged, batch)
            keys = {o.event.content_key for o in batch}
            assert seen.seen <= joined
            assert not seen.new & joined
            assert (keys & joined) - seen.seen <= marked
            assert seen.seen | seen.new <= keys
            assert seen.superseded <= seen.new
            if not stored.get(state_model.SOURCES_TRUNCATED):
                assert seen.seen | seen.new == keys
            kept = set(merged.get(state_model.SOURCES, ()))
            assert seen.unrecorded == (set(stored.get(state_model.SOURCES, ())) | keys) - kept
            joined |= keys
            marked |= seen.unrecorded
            assert kept <= joined
            assert (kept == joined) != bool(merged.get(state_model.SOURCES_TRUNCATED))
            stored = merged
    finally:
        state_model.MAX_SOURCE_KEYS = original


def _parsed(kind: str, at: int) -> GenesysEvent:
    from gcevents.testing.events import parse

    return parse(event(kind, "c-pure", participant_id="p-c", event_time=at))
