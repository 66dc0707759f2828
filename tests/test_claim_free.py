"""Claim-free events: an event that only self-guarding handlers want (the state projection, sinks) takes
no idempotency claim and leaves no COMPLETED mark; handlers with side effects keep exactly-once in effect."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from factories import BASE_MS, make_event, resend, sqs_batch
from gcevents.core.events import GenesysEvent, RawRecord, split_records
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import ALREADY_APPLIED, Outcome, Pipeline, PipelineSettings
from gcevents.core.projection import StateProjection
from gcevents.core.router import BatchOutcome, HandlerContext, Router, WorkItem
from gcevents.core.state import Observation, merge
from gcevents.errors import RateLimitedError, StoreUnavailableError
from gcevents.ports import ApplyResult, Claim, ClaimResult, Updates
from gcevents.testing.events import parse
from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink, MemoryEnricher, MemoryIdempotencyStore
from gcevents.testing.fakes import MemoryStateStore as StateStore

LIFECYCLE = ("customer.start", "flow.start", "acd.start", "user.start", "user.end", "customer.end", "acw")


class CountingStore(MemoryIdempotencyStore):
    def __init__(self) -> None:
        super().__init__()
        self.claimed: Counter[str] = Counter()
        self.completed_keys: list[str] = []

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
        self.claimed[key] += 1
        return super().claim(key, token, lease_until_ms, now_ms)

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        self.completed_keys.extend(c.key for c in claims)
        super().complete(claims, expires_at_ms)


def build(
    router: Router, state: Any, enricher: MemoryEnricher | None = None
) -> tuple[Pipeline, CountingStore, FakeClock]:
    clock, store = FakeClock(), CountingStore()
    router.add_batch(StateProjection(state))
    pipeline = Pipeline(
        idempotency=Idempotency(store, clock=clock, concurrency=4),
        dead_letters=MemoryDeadLetterSink(),
        router=router,
        enricher=enricher,
        settings=PipelineSettings(handler_concurrency=4),
        clock=clock,
    )
    return pipeline, store, clock


def records(events: Sequence[dict[str, Any]], receive_count: int = 1) -> list[RawRecord]:
    return split_records(sqs_batch(events, receive_count=receive_count))


def lifecycle(cid: str) -> list[dict[str, Any]]:
    return [make_event(kind, cid, event_time=BASE_MS + 1000 * i) for i, kind in enumerate(LIFECYCLE)]


def test_only_events_with_a_side_effect_handler_are_claimed_and_the_state_converges_anyway() -> None:
    router, effects, lock = Router(), [], threading.Lock()

    @router.on("v2.detail.events.conversation.{id}.acw")
    def crm(event: GenesysEvent, context: HandlerContext) -> None:
        with lock:
            effects.append(context.idempotency_key)

    state = StateStore()
    pipeline, store, clock = build(router, state)
    events = lifecycle("c-1") + lifecycle("c-2")
    report = pipeline.run(records(events), clock.now() + 60)
    assert set(report.counts()) == {"processed"}
    acw_keys = {parse(e).content_key for e in events if e["detail"]["topicName"].endswith(".acw")}
    assert set(store.claimed) == acw_keys  # two claims, not fourteen
    assert set(store.completed_keys) == acw_keys
    stored = {cid: state.get(cid) for cid in ("c-1", "c-2")}

    again = pipeline.run(records([resend(e) for e in reversed(events)]), clock.now() + 60)
    by_reason = Counter((r.outcome, r.reason) for r in again.results)
    # The side-effect events are duplicates by their COMPLETED marks; the rest ran again, claim-free, and the
    # projection found their conversations' states already holding all they carry: duplicates too.
    assert by_reason == {(Outcome.DUPLICATE, "already_processed"): 2, (Outcome.DUPLICATE, ALREADY_APPLIED): 12}
    assert set(store.claimed) == acw_keys
    assert sorted(effects) == sorted(acw_keys)
    for cid, item in stored.items():
        assert item is not None
        assert state.get(cid) == item  # same version: the merge changed nothing, nothing was written
        assert item.state == merge(
            None, [Observation(parse(e), None, True) for e in events if parse(e).conversation_id == cid]
        )


def test_a_batch_handler_that_does_not_guard_itself_brings_the_claim_back() -> None:
    class Tally:
        def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
            return {}

    router = Router()
    router.add_batch(StateProjection(StateStore()))
    topic = parse(make_event("customer.start", "c-1")).topic
    assert not router.needs_claim(topic)
    router.add_batch(Tally(), ("v2.detail.events.conversation.{id}.customer.*",))
    assert router.needs_claim(topic)
    assert not router.needs_claim(parse(make_event("acd.start", "c-1")).topic)
    router.on("v2.detail.events.conversation.{id}.acd.*")(lambda event, context: None)
    assert router.needs_claim(parse(make_event("acd.start", "c-1")).topic)


def test_events_of_enriched_kinds_are_claimed_and_enriched_the_others_run_claim_free() -> None:
    # An enriched event merges what analytics says when it runs: a duplicate run later could merge newer details
    # (a new version, a derived update), so it is claimed; without an enricher it runs claim-free like the others.
    details = {"conversationStart": "2025-11-24T16:00:00.000Z", "conversationEnd": "2025-11-24T16:05:00.000Z"}
    enricher = MemoryEnricher(details={"c-1": details})
    state = StateStore()
    pipeline, store, clock = build(Router(), state, enricher)
    events = lifecycle("c-1")
    report = pipeline.run(records(events), clock.now() + 60)
    assert set(report.counts()) == {"processed"}
    enriched = {parse(e).content_key for e in events if parse(e).kind in pipeline.settings.enrich_kinds}
    assert len(enriched) == 2
    assert set(store.claimed) == enriched
    assert set(store.completed_keys) == enriched
    assert enricher.requested == ["c-1"]
    item = state.get("c-1")
    assert item is not None
    assert item.state["enrichment"]["value"]["conversationEnd"] == details["conversationEnd"]


def test_a_claim_free_event_that_fails_is_retried_and_its_failure_is_recorded() -> None:
    class Down(StateStore):
        def apply(self, updates: Updates) -> ApplyResult:
            return ApplyResult(failed=dict.fromkeys(updates, StoreUnavailableError("state table throttled")))

    pipeline, store, clock = build(Router(), Down())
    event = make_event("customer.start", "c-9")
    (result,) = pipeline.run(records([event], receive_count=3), clock.now() + 60).results
    assert result.outcome is Outcome.RETRY
    failures = store.failures([parse(event).content_key])
    ((_, failure),) = failures.items()
    assert "state table throttled" in failure.error
    assert failure.attempts == 3
    # The note's claim is leased until "now": a later delivery claims nothing, so nothing blocks it.
    pipeline.router = Router()  # a healthy projection
    pipeline.router.add_batch(StateProjection(StateStore()))
    clock.advance(1)
    assert set(pipeline.run(records([event]), clock.now() + 60).counts()) == {"processed"}


def test_a_rate_limited_claim_free_event_leaves_no_failure_record() -> None:
    """It goes back as a new delayed message, never to maxReceiveCount: a FAILED note would be two wasted writes."""

    class Throttled(StateStore):
        def apply(self, updates: Updates) -> ApplyResult:
            return ApplyResult(failed=dict.fromkeys(updates, RateLimitedError("state table busy", retry_after=2.0)))

    pipeline, store, clock = build(Router(), Throttled())
    event = make_event("customer.start", "c-10")
    (result,) = pipeline.run(records([event]), clock.now() + 60).results
    assert (result.outcome, result.throttled) == (Outcome.RETRY, True)
    assert store.failures([parse(event).content_key]) == {}
    assert store.claimed == Counter()


def test_a_claim_free_resend_is_a_duplicate_when_a_handler_that_knows_saw_it_beside_one_that_cannot_tell() -> None:
    class Forwarder:  # self-guarding, but says nothing about what it had seen: a plain failures mapping
        guards_itself = True

        def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
            return {}

    router = Router()
    router.add_batch(Forwarder(), ("v2.detail.events.conversation.{id}.customer.*",))
    pipeline, store, clock = build(router, StateStore())
    events = lifecycle("c-1")
    assert set(pipeline.run(records(events), clock.now() + 60).counts()) == {"processed"}
    again = pipeline.run(records([resend(e) for e in events]), clock.now() + 60)
    assert {(r.outcome, r.reason) for r in again.results} == {(Outcome.DUPLICATE, ALREADY_APPLIED)}
    assert store.claimed == Counter()  # nothing claimed, either time


def test_a_handler_cannot_vouch_for_events_it_was_not_given() -> None:
    """A third-party handler that names keys beyond its items must not make another handler's event look applied."""

    class Boastful:  # wants customer.* only, but claims every key of the batch as applied
        guards_itself = True
        every_key: frozenset[str] = frozenset()

        def handle_batch(self, items: Sequence[WorkItem]) -> BatchOutcome:
            return BatchOutcome({}, self.every_key)

    class Forgetful:  # wants acd.*, reports nothing
        guards_itself = True

        def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
            return {}

    boastful = Boastful()
    router = Router()
    router.add_batch(boastful, ("v2.detail.events.conversation.{id}.customer.*",))
    router.add_batch(Forgetful(), ("v2.detail.events.conversation.{id}.acd.*",))
    clock, store = FakeClock(), CountingStore()
    pipeline = Pipeline(
        idempotency=Idempotency(store, clock=clock), dead_letters=MemoryDeadLetterSink(), router=router, clock=clock
    )
    events = [make_event("customer.start", "c-1"), make_event("acd.start", "c-1", event_time=BASE_MS + 5)]
    boastful.every_key = frozenset(parse(e).content_key for e in events)
    outcomes = {r.event.kind: r.outcome for r in pipeline.run(records(events), clock.now() + 60).results if r.event}
    assert outcomes == {"conversation.customer.start": Outcome.DUPLICATE, "conversation.acd.start": Outcome.PROCESSED}
