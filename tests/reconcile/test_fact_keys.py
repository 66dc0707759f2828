"""The fact key in the pipeline: a reconciled fact and the real event of the same once-per-session fact are applied
once, in any order, any batching, concurrently; a failure gives the fact key back. What is not exact (a prompt real
event does not claim the fact key) is shown too, with the rule that keeps reconcile away from it."""

from __future__ import annotations

import copy
import json
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gcevents.core.events import RECONCILE_SOURCE, GenesysEvent, RawRecord, parse_record
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import FACT_APPLIED, BatchReport, Outcome, Pipeline, PipelineSettings
from gcevents.core.router import HandlerContext, Router
from gcevents.errors import TransientError
from gcevents.ops.reconcile import LEASE_BOUND, RECONCILE_LEASE, SKEW_MARGIN, ReconcileOptions, pipeline_runner
from gcevents.ports import Claim, ClaimStatus
from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink, MemoryIdempotencyStore

EVENT_MS = 1_764_000_000_000
KINDS = ("customer.start", "customer.end", "user.start", "user.end", "acw")


def real(kind: str, n: int = 0, at: int = EVENT_MS) -> dict[str, Any]:
    body = {"conversationId": "c-1", "participantId": f"p-{n}", "sessionId": f"s-{n}", "eventTime": at + n}
    return {
        "source": "aws.partner/genesys.com/cloud/org/x",
        "detail-type": kind,
        "detail": {"topicName": f"v2.detail.events.conversation.c-1.{kind}", "eventBody": body},
    }


def rebuilt(kind: str, n: int = 0, skew_ms: int = 437) -> dict[str, Any]:
    """The same fact as reconcile rebuilds it: analytics' time, our source, marked."""
    event = copy.deepcopy(real(kind, n))
    event["source"] = RECONCILE_SOURCE
    event["detail"]["eventBody"]["eventTime"] += skew_ms
    event["detail"]["reconciled"] = {"from": "analytics"}
    return event


class Harness:
    def __init__(self, *, now: float = EVENT_MS / 1000 + 3600, fact_keys_after: float = 600.0) -> None:
        self.clock = FakeClock(now)
        self.store = MemoryIdempotencyStore()
        self.effects: Counter[tuple[str, str]] = Counter()
        self.fail: set[str] = set()
        router = Router()
        router.on("*")(self.handle)
        self.pipeline = Pipeline(
            idempotency=Idempotency(self.store, clock=self.clock),
            dead_letters=MemoryDeadLetterSink(),
            router=router,
            clock=self.clock,
            settings=PipelineSettings(fact_keys_after=fact_keys_after),
        )

    def handle(self, event: GenesysEvent, ctx: HandlerContext) -> None:
        fact = (event.kind, event.participant_id or "")
        if fact in self.fail:
            raise TransientError("downstream unavailable")
        self.effects[fact] += 1
        assert ctx.fact_key == event.fact_key
        assert ctx.reconciled == event.reconciled

    def run(self, *events: dict[str, Any]) -> BatchReport:
        records = [RawRecord(json.dumps(e), f"m-{n}") for n, e in enumerate(events)]
        return self.pipeline.run(records, deadline=self.clock.now() + 60)


def outcomes(report: BatchReport) -> list[str]:
    return [r.reason if r.outcome is Outcome.DUPLICATE else r.outcome.value for r in report.results]


def test_a_late_real_event_after_its_rebuilt_fact_is_a_duplicate() -> None:
    h = Harness()
    assert outcomes(h.run(rebuilt("customer.end"))) == ["processed"]
    assert outcomes(h.run(real("customer.end"))) == [FACT_APPLIED]
    assert h.effects == {("conversation.customer.end", "p-0"): 1}


def test_a_rebuilt_fact_after_its_late_real_event_is_a_duplicate() -> None:
    h = Harness()
    assert outcomes(h.run(real("acw"))) == ["processed"]
    assert outcomes(h.run(rebuilt("acw"))) == [FACT_APPLIED]
    assert h.effects == {("conversation.acw", "p-0"): 1}


def test_two_copies_of_a_fact_in_one_batch_take_turns() -> None:
    h = Harness()
    report = h.run(real("user.end"), rebuilt("user.end"))
    assert outcomes(report) == ["processed", "retry"]
    assert outcomes(h.run(rebuilt("user.end"))) == [FACT_APPLIED]
    assert sum(h.effects.values()) == 1


def test_a_fact_held_elsewhere_is_retried_and_then_found_applied() -> None:
    """Reconcile beside live processing: the live batch holds the fact key while its handlers run."""
    h = Harness()
    parsed = parse_record(RawRecord(json.dumps(real("customer.end"))))
    assert isinstance(parsed, GenesysEvent)
    assert parsed.fact_key is not None
    now_ms = int(h.clock.now() * 1000)
    assert h.store.claim(parsed.fact_key, "live", now_ms + 30_000, now_ms).status is ClaimStatus.CLAIMED
    report = h.run(rebuilt("customer.end"))
    assert (report.results[0].outcome, report.results[0].reason) == (Outcome.RETRY, "in_progress_elsewhere")
    assert 0 < (report.results[0].retry_after or 0) <= 30
    h.store.complete([Claim(parsed.fact_key, "live")], now_ms + 10**9)  # the live event was applied
    assert outcomes(h.run(rebuilt("customer.end"))) == [FACT_APPLIED]
    assert h.effects == {}  # the live batch's effects are its own; the rebuilt copy had none


def test_a_failed_handler_gives_the_fact_key_back_so_a_later_copy_applies_it() -> None:
    h = Harness()
    h.fail.add(("conversation.customer.end", "p-0"))
    assert outcomes(h.run(rebuilt("customer.end"))) == ["retry"]
    h.fail.clear()
    assert outcomes(h.run(real("customer.end"))) == ["processed"]  # the real one, late: nothing held it back
    assert outcomes(h.run(rebuilt("customer.end"))) == [FACT_APPLIED]
    assert h.effects == {("conversation.customer.end", "p-0"): 1}


@settings(max_examples=30)
@given(
    st.lists(
        st.tuples(st.sampled_from(KINDS), st.integers(0, 2), st.booleans(), st.integers(-900, 900)),
        min_size=1,
        max_size=14,
    ),
    st.randoms(use_true_random=False),
    st.integers(1, 5),
)
def test_any_order_and_batching_of_real_and_rebuilt_copies_applies_each_fact_once(
    copies: list[tuple[str, int, bool, int]], rng: Any, batch: int
) -> None:
    """Late real events (re-sent, maybe) and rebuilt facts with analytics' times, shuffled, in batches, retried."""
    h = Harness()
    events = [rebuilt(kind, n, skew) if is_rebuilt else real(kind, n) for kind, n, is_rebuilt, skew in copies]
    rng.shuffle(events)
    pending = events
    for _ in range(10):
        retry: list[dict[str, Any]] = []
        for start in range(0, len(pending), batch):
            report = h.run(*pending[start : start + batch])
            retry += [json.loads(r.record.text()) for r in report.results if r.outcome is Outcome.RETRY]
        pending = retry
        if not pending:
            break
    assert not pending
    facts = {(f"conversation.{kind}", f"p-{n}") for kind, n, _, _ in copies}
    assert h.effects == dict.fromkeys(facts, 1)


def test_prompt_real_events_do_not_claim_the_fact_key_which_is_why_reconcile_waits() -> None:
    """Not exact on its own: a real event processed within GCEVENTS_FACT_KEYS_AFTER of its time skips the fact key
    (no extra write in steady state), so a rebuilt copy arriving beside it would run too. Reconcile never builds
    one that young: it only applies facts older than that + the longest lease + a skew margin, by when the prompt
    event has finished and its state shows the fact (so no copy is rebuilt) or failed and been retried late."""
    h = Harness(now=EVENT_MS / 1000 + 5)  # five seconds after the event: prompt
    first = h.run(real("customer.end")).results[0]
    assert first.outcome is Outcome.PROCESSED
    assert first.event is not None
    assert h.store.completed([first.event.fact_key or ""], 0) == set()  # not claimed: no extra write
    assert outcomes(h.run(rebuilt("customer.end"))) == ["processed"]  # the case reconcile's age rule excludes
    assert h.effects[("conversation.customer.end", "p-0")] == 2
    options = ReconcileOptions(start=None, end=None, fact_keys_after=600.0)  # type: ignore[arg-type]
    assert options.min_fact_age() == 600.0 + LEASE_BOUND + SKEW_MARGIN
    # With GCEVENTS_FACT_KEYS_AFTER=0 every real event claims its fact key: exact whatever the timing, one more
    # conditional write for half of a conversation's events.
    exact = Harness(now=EVENT_MS / 1000 + 5, fact_keys_after=0.0)
    assert outcomes(exact.run(real("customer.end"))) == ["processed"]
    assert outcomes(exact.run(rebuilt("customer.end"))) == [FACT_APPLIED]
    assert ReconcileOptions(start=None, end=None, fact_keys_after=0.0).min_fact_age() == 0.0  # type: ignore[arg-type]


def test_a_live_event_racing_a_reconcile_waits_only_as_long_as_the_reconcile_runs() -> None:
    """Reconcile racing live traffic: the real late event meets the fact key the reconcile holds (its handler is
    running). It is told to look again within the reconcile's short, renewed lease, not the 900 s run deadline;
    once the reconcile has finished, the real event is a duplicate at once."""
    h = Harness()
    live: list[BatchReport] = []
    handle = h.handle

    def racing(event: GenesysEvent, ctx: HandlerContext) -> None:
        if event.reconciled and not live:
            live.append(h.run(real("customer.end")))  # the live pipeline, same store, while the fact is held
        handle(event, ctx)

    router = Router()
    router.on("*")(racing)
    h.pipeline.router = router
    runner = pipeline_runner(h.pipeline, MemoryDeadLetterSink(), max_attempts=1)
    analytics = {"c-1": {"conversationId": "c-1"}}  # what the reconcile read: no Genesys call
    outcomes_, _ = runner([RawRecord(json.dumps(rebuilt("customer.end")), "reconcile:1")], analytics)
    assert outcomes_ == {"processed": 1}
    met = live[0].results[0]
    assert (met.outcome, met.reason) == (Outcome.RETRY, "in_progress_elsewhere")
    assert 0 < (met.retry_after or 0) <= RECONCILE_LEASE + h.pipeline.idempotency.skew_margin
    assert outcomes(h.run(real("customer.end"))) == [FACT_APPLIED]  # settled when the reconcile finished
    assert h.effects == {("conversation.customer.end", "p-0"): 1}
