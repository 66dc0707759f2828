"""StateProjection as the router's batch handler, alone and inside the real pipeline."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from gcevents.core.events import RawRecord
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import Outcome, Pipeline, PipelineSettings
from gcevents.core.projection import StateProjection
from gcevents.core.router import BatchHandler, BatchOutcome, HandlerContext, Router, WorkItem
from gcevents.core.state import stored_view
from gcevents.errors import StoreUnavailableError
from gcevents.ports import ApplyResult
from gcevents.testing.fakes import MemoryDeadLetterSink, MemoryEnricher, MemoryIdempotencyStore, MemoryStateStore

from .helpers import BASE_MS, envelope, make_event

CONTEXT = HandlerContext(enrichment=None, deadline=0.0, idempotency_key="", services={})


def item(event: Any, enrichment: Mapping[str, Any] | None = None) -> WorkItem:
    return WorkItem(event, HandlerContext(enrichment, 0.0, event.content_key, {}))


def test_is_a_batch_handler() -> None:
    handler: BatchHandler = StateProjection(MemoryStateStore())
    assert handler.handle_batch([]) == BatchOutcome()


def test_groups_by_conversation_and_writes_each_once() -> None:
    store = MemoryStateStore()
    events = [make_event("customer.start", f"c{c}", at=BASE_MS + e) for c in range(3) for e in range(4)]
    keys = frozenset(e.content_key for e in events)
    assert StateProjection(store).handle_batch([item(e) for e in events]) == BatchOutcome(first_seen=keys)
    for c in range(3):
        stored = store.get(f"c{c}")
        assert stored is not None
        assert stored.version == 1
    # Again, with one new event for c0: every state recorded the keys of its events, c0's included.
    end = make_event("customer.end", "c0", at=BASE_MS + 99)
    outcome = StateProjection(store).handle_batch([item(e) for e in [*events, end]])
    assert outcome == BatchOutcome(already_applied=keys, first_seen=frozenset({end.content_key}))


def test_agent_state_and_other_events_succeed_without_a_write() -> None:
    store = MemoryStateStore()
    agent = make_event("state", "user-1", None, session_id=None, routingStatus="IDLE")
    assert StateProjection(store).handle_batch([item(agent)]) == BatchOutcome()  # not known as applied either
    assert store.list() == []


def test_enrichment_reaches_the_state() -> None:
    store = MemoryStateStore()
    event = make_event("customer.end")
    StateProjection(store).handle_batch([item(event, {"conversationEnd": "2023-11-14T22:20:00Z"})])
    stored = store.get("c1")
    assert stored is not None
    assert stored_view(stored)["enrichment"] == {"conversationEnd": "2023-11-14T22:20:00Z"}


class _FailingFor(MemoryStateStore):
    def __init__(self, bad: str) -> None:
        super().__init__()
        self.bad = bad

    def apply(self, updates: Any) -> ApplyResult:
        result = super().apply({k: v for k, v in updates.items() if k != self.bad})
        result.failed[self.bad] = StoreUnavailableError("throttled")
        return result


def test_a_conversation_failure_maps_to_its_events_content_keys() -> None:
    bad = [make_event("customer.start", "bad"), make_event("customer.end", "bad", at=BASE_MS + 1)]
    good = make_event("customer.start", "good")
    errors = StateProjection(_FailingFor("bad")).handle_batch([item(e) for e in [*bad, good]]).failures
    assert set(errors) == {e.content_key for e in bad}
    assert all(isinstance(e, StoreUnavailableError) for e in errors.values())


def test_a_store_that_raises_fails_only_the_projected_events() -> None:
    class Broken(MemoryStateStore):
        def apply(self, updates: Any) -> ApplyResult:
            raise RuntimeError("bug")

    conversation = make_event("customer.start")
    agent = make_event("state", "user-1", None, session_id=None)
    errors = StateProjection(Broken()).handle_batch([item(conversation), item(agent)]).failures
    assert set(errors) == {conversation.content_key}


def test_in_the_pipeline_failures_are_retried_and_the_rest_processed() -> None:
    store = _FailingFor("bad")
    router = Router()
    router.add_batch(StateProjection(store))
    pipeline = Pipeline(
        idempotency=Idempotency(MemoryIdempotencyStore()),
        dead_letters=MemoryDeadLetterSink(),
        router=router,
        enricher=MemoryEnricher(details={"good": {"conversationEnd": "2023-11-14T22:20:00Z", "participants": []}}),
        settings=PipelineSettings(lag_retries=0),
    )
    records = [
        RawRecord(
            json.dumps(envelope("customer.end", cid, {"eventTime": BASE_MS, "conversationId": cid})),
            f"m-{cid}",
        )
        for cid in ("good", "bad")
    ]
    report = pipeline.run(records, deadline=time.time() + 60)
    outcomes = {r.record.message_id: r.outcome for r in report.results}
    assert outcomes == {"m-good": Outcome.PROCESSED, "m-bad": Outcome.RETRY}
    stored = store.get("good")
    assert stored is not None
    assert stored_view(stored)["enrichment"] == {"conversationEnd": "2023-11-14T22:20:00Z", "participantCount": 0}
