"""Claim-free events beside claimed ones: a side-effect handler on a topic the state
projection also wants stays exactly-once in effect; a claim-free event that keeps failing still tells `dlq inspect`
why; reconciled facts and late real events apply once, with no second derived record; the test kit decides claims
as production does."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from factories import Crash
from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.adapters.sqlite.idempotency import SqliteIdempotencyStore
from gcevents.core.documents import COMPLETED
from gcevents.core.events import RECONCILE_SOURCE, GenesysEvent, RawRecord
from gcevents.core.idempotency import Idempotency
from gcevents.core.outputs import DERIVED, ConversationOutputs, Deliveries, OutputSettings, Route
from gcevents.core.pipeline import FACT_APPLIED, BatchReport, Outcome, Pipeline, PipelineSettings
from gcevents.core.projection import StateProjection
from gcevents.core.router import HandlerContext, Router, WorkItem
from gcevents.errors import StoreUnavailableError, TransientError
from gcevents.ops.dlq import MAX_RECEIVE_COUNT, explain_exhausted
from gcevents.ports import ApplyResult, Claim, DeadLetter, IdempotencyStore, Updates
from gcevents.testing import BASE_MS, event, parse, resend, run
from gcevents.testing.fakes import (
    FakeClock,
    MemoryDeadLetterSink,
    MemoryEnricher,
    MemoryIdempotencyStore,
    MemoryStateStore,
)
from gcevents.testing.sinks import RecordingSink

ON_TIME = BASE_MS / 1000 + 60  # a minute after the events: nothing is late, the projection's events run claim-free
LATE = BASE_MS / 1000 + 3600  # an hour after: once-per-session events claim their fact keys
KINDS = ("customer.start", "acd.start", "user.start", "user.end", "customer.end", "acw")


class CrashingStore(MemoryIdempotencyStore):
    def __init__(self) -> None:
        super().__init__()
        self.crash_on_complete = False

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        if self.crash_on_complete and any(not c.key.startswith("out:") for c in claims):
            self.crash_on_complete = False
            raise Crash
        super().complete(claims, expires_at_ms)


class FlakyState(MemoryStateStore):
    """Fails every write of a conversation while it is in `down`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.down: set[str] = set()

    def apply(self, updates: Updates) -> ApplyResult:
        failed = {cid: StoreUnavailableError("state table throttled") for cid in updates if cid in self.down}
        result = super().apply({cid: obs for cid, obs in updates.items() if cid not in failed})
        return ApplyResult(
            written=result.written,
            current=result.current,
            unchanged=result.unchanged,
            failed={**result.failed, **failed},
            keys=result.keys,
        )


class Setup:
    def __init__(
        self, *, now: float = ON_TIME, store: IdempotencyStore | None = None, side_effects: bool = True
    ) -> None:
        self.clock = FakeClock(now)
        self.store = store if store is not None else CrashingStore()
        self.state = FlakyState(clock=self.clock)
        self.sink = RecordingSink()
        self.effects: Counter[str] = Counter()
        self.fail_next: set[str] = set()  # content keys whose next handler call fails (before its effect)
        self._lock = threading.Lock()
        idempotency = Idempotency(self.store, clock=self.clock, skew_margin=5.0)
        out = OutputSettings(grace_seconds=0)
        deliveries = Deliveries(idempotency, clock=self.clock, settings=out)
        router = Router()
        if side_effects:
            router.on("v2.detail.events.conversation.{id}.acw", "v2.detail.events.conversation.{id}.customer.end")(
                self.crm
            )
        outputs = ConversationOutputs([Route(self.sink, "s0", DERIVED)], deliveries, settings=out, clock=self.clock)
        router.add_batch(StateProjection(self.state, outputs))
        self.pipeline = Pipeline(
            idempotency=idempotency,
            dead_letters=MemoryDeadLetterSink(),
            router=router,
            clock=self.clock,
            settings=PipelineSettings(handler_concurrency=2),
        )

    def crm(self, event: GenesysEvent, ctx: HandlerContext) -> None:
        with self._lock:
            if ctx.idempotency_key in self.fail_next:
                self.fail_next.discard(ctx.idempotency_key)
                raise TransientError("CRM unavailable")
            self.effects[ctx.idempotency_key] += 1

    def run(self, bodies: Sequence[Mapping[str, Any]], receive_count: int = 1) -> BatchReport:
        records = [
            RawRecord(json.dumps(b), f"m-{i}-{random.random()}", f"r-{i}", receive_count=receive_count)
            for i, b in enumerate(bodies)
        ]
        return self.pipeline.run(records, deadline=self.clock.now() + 60)

    def settle(self, bodies: Sequence[Mapping[str, Any]], rounds: int = 6) -> list[BatchReport]:
        reports, pending = [], list(bodies)
        for attempt in range(1, rounds + 1):
            report = self.run(pending, attempt)
            reports.append(report)
            pending = [json.loads(r.record.text()) for r in report.results if r.outcome is Outcome.RETRY]
            if not pending:
                return reports
            self.clock.advance(1)
        raise AssertionError(f"not settled: {reports[-1].retry_reasons()}")


def lifecycle(cid: str) -> list[dict[str, Any]]:
    events = []
    for n, kind in enumerate(KINDS):
        agent = kind.startswith(("user.", "acw"))
        events.append(
            event(
                kind,
                cid,
                participant_id="p-agent" if agent else "p-cust",
                session_id="s-agent" if agent else "s-cust",
                event_time=BASE_MS + 1000 * n,
                **({"wrapupCode": "Sale"} if kind == "acw" else {}),
            )
        )
    return events


# ---------------------------------------------------------------------------------- 1. side effects + projection
@pytest.mark.parametrize("seed", range(6))
def test_a_side_effect_handler_beside_the_projection_runs_once_per_event_whatever_the_delivery(seed: int) -> None:
    rng = random.Random(seed)
    setup = Setup()
    flows = {cid: lifecycle(cid) for cid in ("c-1", "c-2")}
    unique = [e for events in flows.values() for e in events]
    sides = ("conversation.acw", "conversation.customer.end")
    wanted = {parse(e).content_key for e in unique if parse(e).kind in sides}
    setup.fail_next = set(rng.sample(sorted(wanted), 2))  # their first call fails: retried, then applied once
    stream = unique + [resend(rng.choice(unique)) for _ in range(6)] + rng.choices(unique, k=4)  # re-sends, copies
    rng.shuffle(stream)
    at = 0
    while at < len(stream):
        size = rng.randint(1, 6)
        setup.settle(stream[at : at + size])
        at += size
    assert setup.effects == dict.fromkeys(wanted, 1)
    documents = setup.sink.documents()
    assert Counter(d["conversationId"] for d in documents if d["type"] == COMPLETED) == dict.fromkeys(flows, 1)
    assert all(n == 1 for n in Counter(d["id"] for d in documents).values())
    # Everything again, re-sent: the side-effect events are duplicates by their claims, the others run again and
    # the projection finds them already applied.
    report = setup.run([resend(e) for e in unique])
    for result in report.results:
        assert result.event is not None
        expected = "already_processed" if result.event.content_key in wanted else "already_applied"
        assert (result.outcome, result.reason) == (Outcome.DUPLICATE, expected), result.event.kind
    assert setup.effects == dict.fromkeys(wanted, 1)
    assert len(setup.sink.documents()) == len(documents)


def test_a_crash_between_the_side_effect_and_its_completed_mark_holds_the_event_off_until_the_lease_ends() -> None:
    setup = Setup()
    acw = lifecycle("c-1")[-1]
    key = parse(acw).content_key
    assert isinstance(setup.store, CrashingStore)
    setup.store.crash_on_complete = True
    with pytest.raises(Crash):
        setup.run([acw])
    assert setup.effects == {key: 1}
    # SQS redelivers it, and Genesys re-sends it, while the lease (to the crashed run's deadline) still holds.
    setup.clock.advance(30)
    report = setup.run([acw, resend(acw)])
    assert [r.outcome for r in report.results] == [Outcome.RETRY, Outcome.RETRY]
    assert report.results[0].reason == "in_progress_elsewhere"
    assert setup.effects == {key: 1}


def test_a_projection_failure_of_a_claimed_event_releases_its_claim_and_a_claim_free_sibling_is_retried_too() -> None:
    setup = Setup()
    events = lifecycle("c-1")
    setup.state.down.add("c-1")
    report = setup.run(events)
    assert {r.outcome for r in report.results} == {Outcome.RETRY}
    assert setup.sink.documents() == []
    setup.state.down.clear()
    setup.clock.advance(1)
    setup.settle(events)
    (completed,) = setup.sink.documents()
    assert completed["type"] == COMPLETED
    # The side-effect handler ran before the projection failed, and ran again with the retry: documented
    # (HandlerContext: handlers are idempotent on `idempotency_key`); its claim did not block the retry.
    assert set(setup.effects.values()) == {2}


# -------------------------------------------------------------------------- 3. failures say why, claim-free too
def test_a_claim_free_event_that_keeps_failing_is_explained_by_dlq_inspect_after_max_receive_count(
    tmp_path: Path,
) -> None:
    store = SqliteIdempotencyStore(SqliteDatabase(tmp_path / "idem.db"))
    setup = Setup(store=store, side_effects=False)
    start = lifecycle("c-9")[0]
    setup.state.down.add("c-9")
    for receive_count in range(1, 6):  # maxReceiveCount 5, a visibility timeout apart
        (result,) = setup.run([start], receive_count).results
        assert result.outcome is Outcome.RETRY
        assert result.event is not None
        assert not setup.pipeline.router.needs_claim(result.event.topic)
        setup.clock.advance(30)
    letter = DeadLetter(MAX_RECEIVE_COUNT, "", json.dumps(start))
    (explained,) = explain_exhausted([letter], store)
    assert "state table throttled" in explained.message
    assert "after 5 attempts" in explained.message
    # Once the cause is gone a redrive processes it: the failure record holds nothing off.
    setup.state.down.clear()
    (result,) = setup.run([start]).results
    assert result.outcome is Outcome.PROCESSED
    assert setup.state.get("c-9") is not None


# ----------------------------------------------------------------------------- 4. reconcile, projection only
def rebuilt(real: Mapping[str, Any], skew_ms: int = 437) -> dict[str, Any]:
    fact = json.loads(json.dumps(real))
    fact["source"] = RECONCILE_SOURCE
    fact["id"] = "reconciled-" + fact["id"]
    fact["detail"]["eventBody"]["eventTime"] += skew_ms
    fact["detail"]["reconciled"] = {"from": "analytics"}
    return fact


@pytest.mark.parametrize("order", ["reconciled_first", "real_first", "same_batch"])
def test_a_reconciled_fact_and_its_late_real_event_apply_once_with_one_derived_record(order: str) -> None:
    setup = Setup(now=LATE, side_effects=False)
    events = lifecycle("c-1")
    end = next(e for e in events if e["detail"]["topicName"].endswith("customer.end"))
    others = [e for e in events if e is not end]
    setup.settle(others)  # the stream lost customer.end
    assert setup.sink.documents() == []
    fact = rebuilt(end)
    first, second = (fact, end) if order != "real_first" else (end, fact)
    if order == "same_batch":
        setup.settle([first, second])
    else:
        setup.settle([first])
        state = setup.state.get("c-1")
        (report,) = setup.settle([second])
        (result,) = report.results
        assert (result.outcome, result.reason) == (Outcome.DUPLICATE, FACT_APPLIED)
        assert setup.state.get("c-1") == state  # not merged a second time
    (document,) = setup.sink.documents()
    assert document["type"] == COMPLETED
    item = setup.state.get("c-1")
    assert item is not None
    applied = {parse(fact).content_key, parse(end).content_key} & set(item.state["sources"])
    assert len(applied) == 1
    # Both re-sent later, and the reconcile re-run: nothing new.
    setup.clock.advance(600)
    setup.settle([resend(end), fact, *[resend(e) for e in others]])
    assert len(setup.sink.documents()) == 1
    assert setup.state.get("c-1") == item


# ---------------------------------------------------------------------------------------------- 5. the kit
class Audit:
    """A user's own self-guarding batch handler (its writes are idempotent)."""

    guards_itself = True

    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
        self.seen.extend(item.event.content_key for item in items)
        return {}


def test_the_test_kit_decides_claims_as_production_does() -> None:
    router = Router()
    audit = Audit()
    router.add_batch(audit, ("v2.detail.events.conversation.{id}.acd.*",))
    queued = event("acd.start", "c-1")
    assert not router.needs_claim(parse(queued).topic)
    # Production runs a re-send of a claim-free event again (`Pipeline`): so must `run`. The handler cannot tell a
    # re-send, so the pipeline's mark does: the re-send is a duplicate all the same.
    result = run(router, [queued, resend(queued)], batch_size=1)
    assert [o.outcome for o in result.outcomes] == ["processed", "duplicate"]
    assert audit.seen == [parse(queued).content_key] * 2
    # A handler with side effects on the same topic brings the claim back, in the kit as in production.
    router.on("v2.detail.events.conversation.{id}.acd.start")(lambda event, ctx: None)
    assert router.needs_claim(parse(queued).topic)
    result = run(router, [queued, resend(queued)], batch_size=1)
    assert [o.outcome for o in result.outcomes] == ["processed", "duplicate"]


# ------------------------------------------------------------------------------------ 6. enriched kinds, re-sent
@pytest.mark.parametrize("later", [5.0, 3600.0], ids=["sqs_redelivery", "genesys_resend_hours_later"])
def test_a_duplicate_of_an_enriched_event_changes_nothing_even_when_analytics_moved_on(later: float) -> None:
    """What an enriched event merges depends on when it runs (the analytics read): a second run is not the first
    one again. A duplicate must stay a duplicate, not re-read analytics, merge newer details and send an update."""
    setup = Setup(side_effects=False)
    enricher = MemoryEnricher(
        details={"c-1": {"conversationStart": "2025-11-24T16:00:00.000Z", "participants": [{}, {}]}}
    )
    setup.pipeline.enricher = enricher
    events = lifecycle("c-1")
    setup.settle(events)
    (completed,) = setup.sink.documents()
    assert completed["type"] == COMPLETED
    state = setup.state.get("c-1")
    calls = enricher.calls
    # Analytics completes the conversation afterwards (it lags the events).
    enricher.details = {
        "c-1": {
            "conversationStart": "2025-11-24T16:00:00.000Z",
            "conversationEnd": "2025-11-24T16:05:00.000Z",
            "participants": [{}, {}, {}],
        }
    }
    setup.clock.advance(later)
    end = next(e for e in events if e["detail"]["topicName"].endswith("customer.end"))
    acw = events[-1]
    for copy in (end, resend(end), acw, resend(acw)):
        (report,) = setup.settle([copy])
        assert report.results[0].outcome in (Outcome.PROCESSED, Outcome.DUPLICATE)
    assert setup.state.get("c-1") == state
    assert len(setup.sink.documents()) == 1
    assert enricher.calls == calls
