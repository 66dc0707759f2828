"""The batch algorithm on memory fakes: dedupe, idempotency, failure classification, deadline, enrichment, order."""

from __future__ import annotations

import json
import threading
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import BASE_MS, make_event, resend, sqs_batch, sqs_record
from gcevents.core.events import GenesysEvent, RawRecord, Reason, parse_record, split_records
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import BatchReport, Outcome, Pipeline, PipelineSettings
from gcevents.core.router import HandlerContext, Router, WorkItem
from gcevents.errors import PermanentError, RateLimitedError, StoreUnavailableError, TransientError
from gcevents.ports import Claim, ClaimResult, ClaimStatus, DeadLetter, Failure
from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink, MemoryEnricher, MemoryIdempotencyStore

ANY_TOPIC = "*"


class RecordingStore(MemoryIdempotencyStore):
    """Counts calls per hook, to prove what the pipeline asks the store."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []

    def completed(self, keys: Sequence[str], now_ms: int) -> set[str]:
        self.calls.append(("completed", list(keys)))
        return super().completed(keys, now_ms)

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
        self.calls.append(("claim", key))
        return super().claim(key, token, lease_until_ms, now_ms)

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        self.calls.append(("complete", [c.key for c in claims]))
        super().complete(claims, expires_at_ms)

    def release(self, claim: Claim, failure: Failure | None = None) -> None:
        self.calls.append(("release", claim.key))
        super().release(claim, failure)

    def names(self) -> Counter[str]:
        return Counter(name for name, _ in self.calls)


class FailingSink:
    def __init__(self) -> None:
        self.attempts = 0

    def send(self, letters: Sequence[DeadLetter]) -> None:
        self.attempts += 1
        raise TransientError("sqs down")


@dataclass
class Harness:
    pipeline: Pipeline
    store: RecordingStore
    sink: MemoryDeadLetterSink
    clock: FakeClock
    effects: list[GenesysEvent] = field(default_factory=list)

    def run(self, payload: Any, *, deadline_in: float = 300.0) -> BatchReport:
        records = payload if _is_records(payload) else split_records(payload)
        report = self.pipeline.run(records, self.clock.now() + deadline_in)
        assert len(report.results) == len(records)
        assert all(r.record is rec for r, rec in zip(report.results, records, strict=True))
        return report


def _is_records(payload: Any) -> bool:
    return isinstance(payload, list) and all(isinstance(r, RawRecord) for r in payload)


def harness(
    handler: Callable[[GenesysEvent, HandlerContext], None] | None = None,
    *,
    enricher: Any = None,
    sink: Any = None,
    settings_: PipelineSettings | None = None,
    router: Router | None = None,
) -> Harness:
    clock = FakeClock()
    store = RecordingStore()
    memory_sink = MemoryDeadLetterSink()
    router = router or Router()
    h = Harness(
        pipeline=Pipeline(
            idempotency=Idempotency(store, clock=clock, concurrency=4),
            dead_letters=sink or memory_sink,
            router=router,
            enricher=enricher,
            settings=settings_ or PipelineSettings(handler_concurrency=4),
            clock=clock,
        ),
        store=store,
        sink=memory_sink,
        clock=clock,
    )
    lock = threading.Lock()

    def record(event: GenesysEvent, context: HandlerContext) -> None:
        if handler is not None:
            handler(event, context)
        with lock:
            h.effects.append(event)

    router.add(ANY_TOPIC, record)
    return h


def outcomes(report: BatchReport) -> list[str]:
    return [r.outcome.value for r in report.results]


# ------------------------------------------------------------------------------------- malformed, twice
def test_a_malformed_record_delivered_twice_is_dead_lettered_once() -> None:
    """A rejection has a content key, so a redelivery writes no second dead letter: a hash of its reason, message
    id and exact text: a re-delivery finds the letter written, while
    another message with the same text still gets its own."""
    h = harness()
    bad = sqs_record("{not json")
    first = h.run({"Records": [bad, bad, sqs_record("{other"), sqs_record("{not json")]})
    assert outcomes(first) == ["dead_lettered", "duplicate", "dead_lettered", "dead_lettered"]
    assert first.results[1].reason == "in_batch"
    again = h.run({"Records": [dict(bad, receiptHandle="rh-2"), sqs_record(make_event("acw", "c-1"))]})
    assert outcomes(again) == ["duplicate", "processed"]
    assert again.results[0].reason == "already_dead_lettered"
    assert [x.body for x in h.sink.letters] == ["{not json", "{other", "{not json"]
    direct = [h.run(["{no id"]) for _ in range(2)]  # a direct invoke retried by Lambda: the text is the identity
    assert [outcomes(r) for r in direct] == [["dead_lettered"], ["duplicate"]]


def test_a_malformed_record_is_never_lost_to_its_dedupe() -> None:
    """The sink fails: every copy is retried and the claim given back, so the next delivery writes the letter.
    The idempotency store fails: the letter is written anyway (at worst twice, never not at all)."""
    failing = FailingSink()
    h = harness(sink=failing)
    broken = sqs_record("{broken")
    report = h.run({"Records": [broken, broken]})  # delivered twice in one batch
    assert outcomes(report) == ["retry", "retry"]
    h.pipeline.dead_letters = h.sink  # the sink is back
    assert outcomes(h.run({"Records": [broken]})) == ["dead_lettered"]

    class Down(MemoryIdempotencyStore):
        def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
            raise StoreUnavailableError("throttled")

    down = harness()
    down.pipeline.idempotency = Idempotency(Down(), clock=down.clock)
    twice = sqs_record("{x")
    assert outcomes(down.run({"Records": [twice, twice]})) == ["dead_lettered", "duplicate"]
    assert [x.body for x in down.sink.letters] == ["{x"]


# ------------------------------------------------------------------------------------------------- dedupe
def test_in_batch_duplicates_are_folded_before_any_io() -> None:
    h = harness()
    events = [make_event("customer.end", f"c-{i}") for i in range(3)]
    batch = sqs_batch([events[0], resend(events[0]), events[1], events[2], resend(events[1]), resend(events[0])])
    report = h.run(batch)
    assert outcomes(report) == ["processed", "duplicate", "processed", "processed", "duplicate", "duplicate"]
    assert {r.reason for r in report.results if r.outcome is Outcome.DUPLICATE} == {"in_batch"}
    assert len(h.effects) == 3
    # One batched read of the 3 unique keys, 3 claims, one batched completion: the duplicates cost nothing.
    assert h.store.names() == Counter({"completed": 1, "claim": 3, "complete": 1})
    (read,) = [keys for name, keys in h.store.calls if name == "completed"]
    assert len(read) == 3
    assert len(set(read)) == 3
    assert h.store.requests == 1 + 3 + 1
    assert report.batch_item_failures() == []


def test_cross_batch_duplicates_are_already_processed() -> None:
    h = harness()
    events = [make_event("customer.end", f"c-{i}") for i in range(4)]
    assert outcomes(h.run(sqs_batch(events))) == ["processed"] * 4
    h.store.calls.clear()
    again = h.run(sqs_batch([resend(e) for e in events]))
    assert outcomes(again) == ["duplicate"] * 4
    assert {r.reason for r in again.results} == {"already_processed"}
    assert len(h.effects) == 4
    assert h.store.names() == Counter({"completed": 1})  # the pre-filter answered; no claims issued


def test_claim_answer_completed_is_a_duplicate_even_if_the_prefilter_missed_it() -> None:
    class BlindPrefilter(RecordingStore):
        def completed(self, keys: Sequence[str], now_ms: int) -> set[str]:
            raise TransientError("batch read throttled")

    h = harness()
    blind = BlindPrefilter()
    h.pipeline.idempotency.store = blind
    event = make_event("customer.end")
    h.run([event])
    again = h.run([resend(event)])
    assert outcomes(again) == ["duplicate"]
    assert len(h.effects) == 1


@pytest.mark.parametrize(("lease_s", "expected"), [(12, 12.0), (42, 30.0)])
def test_live_lease_elsewhere_is_retried_when_the_lease_ends(lease_s: int, expected: float) -> None:
    h = harness(settings_=PipelineSettings(in_progress_retry_cap=30.0))
    event = make_event("customer.end")
    target = parse_record(split_records(event)[0])
    assert isinstance(target, GenesysEvent)
    now_ms = int(h.clock.now() * 1000)
    h.store.claim(target.content_key, "elsewhere", now_ms + lease_s * 1000, now_ms)
    report = h.run(sqs_batch([event]))
    (result,) = report.results
    assert result.outcome is Outcome.RETRY
    assert result.reason == "in_progress_elsewhere"
    assert result.retry_after == pytest.approx(expected)  # when the lease ends, capped to re-check sooner
    assert target not in h.effects


# ------------------------------------------------------------------------------------------------- failures
def test_transient_failure_is_retried_and_its_claim_released() -> None:
    failures = {"c-bad": 1}

    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        if failures.get(event.conversation_id or "", 0) > 0:
            failures[event.conversation_id or ""] -= 1
            raise RateLimitedError("genesys 429", retry_after=12.5)

    h = harness(handler)
    batch = sqs_batch([make_event("customer.end", "c-ok"), make_event("customer.end", "c-bad")])
    report = h.run(batch)
    assert outcomes(report) == ["processed", "retry"]
    retry = report.results[1]
    assert retry.retry_after == 12.5
    assert retry.reason is not None
    assert "RateLimitedError" in retry.reason
    assert report.batch_item_failures() == [{"itemIdentifier": batch["Records"][1]["messageId"]}]
    assert retry.throttled  # a 429 from the handler's downstream: the runners re-send it, not count it
    assert report.throttled() == [retry]
    assert ("release", retry.event.content_key) in h.store.calls  # type: ignore[union-attr]
    # The redelivery runs it (the claim was released, not left to lapse).
    again = h.run(sqs_batch([json.loads(batch["Records"][1]["body"])], receive_count=2))
    assert outcomes(again) == ["processed"]
    assert sorted(e.conversation_id or "" for e in h.effects) == ["c-bad", "c-ok"]


def test_permanent_failure_is_dead_lettered_and_released() -> None:
    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        if event.conversation_id == "c-poison":
            raise PermanentError("queue id unknown", reason="unknown_queue")

    h = harness(handler)
    batch = sqs_batch([make_event("acw", "c-poison"), make_event("acw", "c-fine")])
    report = h.run(batch)
    assert outcomes(report) == ["dead_lettered", "processed"]
    assert report.results[0].reason == "unknown_queue"
    assert report.batch_item_failures() == []  # acknowledged: the sink has it
    (letter,) = h.sink.letters
    assert letter.reason == "unknown_queue"
    assert letter.message == "queue id unknown"
    assert letter.body == batch["Records"][0]["body"]
    assert letter.topic == "v2.detail.events.conversation.c-poison.acw"
    assert letter.conversation_id == "c-poison"
    assert letter.message_id == batch["Records"][0]["messageId"]
    key = report.results[0].event.content_key  # type: ignore[union-attr]
    assert h.store.claim(key, "redrive", 10**15, int(h.clock.now() * 1000)).status is ClaimStatus.CLAIMED


def test_unknown_exception_is_retried() -> None:
    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        raise ValueError("bug in user code")

    h = harness(handler)
    report = h.run(sqs_batch([make_event("customer.end")]))
    (result,) = report.results
    assert result.outcome is Outcome.RETRY
    assert result.reason == "handler_failed: ValueError: bug in user code"
    assert result.retry_after is None
    assert h.sink.letters == []
    assert h.store.names()["release"] == 1


def test_rejections_are_dead_lettered_with_reason_and_text() -> None:
    h = harness()
    body_not_object = make_event("customer.end", "c-3")
    body_not_object["detail"]["eventBody"] = "oops"
    texts = ["{not json", json.dumps([1]), json.dumps({"x": 1}), json.dumps(body_not_object)]
    batch = sqs_batch([*texts, make_event("customer.end", "c-1")])
    report = h.run(batch)
    assert outcomes(report) == ["dead_lettered"] * 4 + ["processed"]
    assert [r.reason for r in report.results[:4]] == [
        Reason.NOT_JSON,
        Reason.NOT_AN_OBJECT,
        Reason.MISSING_DETAIL,
        Reason.BODY_NOT_OBJECT,
    ]
    assert [letter.body for letter in h.sink.letters] == texts
    assert [letter.message_id for letter in h.sink.letters] == [r["messageId"] for r in batch["Records"][:4]]
    assert h.sink.letters[3].conversation_id == "c-3"
    assert report.summary()["dead_letter_reasons"] == {
        "not_json": 1,
        "not_an_object": 1,
        "missing_detail": 1,
        "body_not_object": 1,
    }


def test_untrusted_sources_are_dead_lettered_and_not_handled() -> None:
    h = harness(settings_=PipelineSettings(allowed_sources=("aws.partner/genesys.com/cloud/",)))
    evil = make_event("customer.end", "c-evil", envelope={"source": "attacker"})
    report = h.run(sqs_batch([evil, make_event("customer.end", "c-good")]))
    assert outcomes(report) == ["dead_lettered", "processed"]
    assert h.sink.letters[0].reason == Reason.UNTRUSTED_SOURCE
    assert [e.conversation_id for e in h.effects] == ["c-good"]


def test_dead_letter_sink_failure_means_retry_not_acknowledge() -> None:
    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        if event.conversation_id == "c-perm":
            raise PermanentError("no")

    sink = FailingSink()
    h = harness(handler, sink=sink)
    batch = sqs_batch(["garbage", make_event("customer.end", "c-perm"), make_event("customer.end", "c-ok")])
    report = h.run(batch)
    assert outcomes(report) == ["retry", "retry", "processed"]
    assert all((r.reason or "").startswith("dead_letter_failed") for r in report.results[:2])
    assert report.batch_item_failures() == [{"itemIdentifier": r["messageId"]} for r in batch["Records"][:2]]
    assert sink.attempts == 1


# ------------------------------------------------------------------------------------------------- deadline
def test_no_work_starts_when_the_deadline_is_already_near() -> None:
    h = harness(settings_=PipelineSettings(deadline_margin=5.0))
    report = h.run(sqs_batch([make_event("customer.end", f"c-{i}") for i in range(3)] + ["bad"]), deadline_in=4.0)
    assert outcomes(report) == ["retry"] * 3 + ["dead_lettered"]
    assert {r.reason for r in report.results[:3]} == {"deadline_before_start"}
    assert h.store.requests == 0
    assert h.effects == []


def test_unstarted_records_are_retried_when_the_deadline_comes_mid_batch() -> None:
    h: Harness

    def slow(event: GenesysEvent, context: HandlerContext) -> None:
        h.clock.advance(100)  # each event "takes" 100 s of a 150 s budget (margin 5 s)

    h = harness(slow, settings_=PipelineSettings(deadline_margin=5.0, handler_concurrency=1))
    events = [make_event("customer.end", "c-1", event_time=BASE_MS + i) for i in range(4)]
    report = h.run(sqs_batch(events), deadline_in=150.0)
    assert outcomes(report) == ["processed", "processed", "retry", "retry"]
    assert all("deadline" in (r.reason or "") for r in report.results[2:])
    assert len(h.effects) == 2
    assert h.store.names()["release"] == 2


# ------------------------------------------------------------------------------------------------- enrichment
def test_enrichment_is_one_bulk_call_with_unique_ids() -> None:
    seen: dict[str, Any] = {}

    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        seen[event.content_key] = (event.kind, event.conversation_id, context.enrichment)

    details = {f"c-{i}": {"conversationId": f"c-{i}", "n": i} for i in range(3)}
    enricher = MemoryEnricher(details=details)
    h = harness(handler, enricher=enricher)
    batch = [
        make_event("customer.end", "c-0"),
        make_event("acw", "c-0", userId="u"),
        make_event("customer.end", "c-1"),
        make_event("customer.end", "c-2"),
        make_event("acw", "c-2", participant_id="p-9"),
        make_event("customer.start", "c-3"),  # not an enriched kind
    ]
    report = h.run(sqs_batch(batch))
    assert outcomes(report) == ["processed"] * 6
    assert enricher.calls == 1
    assert enricher.requested == ["c-0", "c-1", "c-2"]
    by_kind = {(kind, cid): enrichment for kind, cid, enrichment in seen.values()}
    assert by_kind[("conversation.acw", "c-2")] == details["c-2"]
    assert by_kind[("conversation.customer.start", "c-3")] is None


def test_no_enrichment_call_when_nothing_needs_it() -> None:
    enricher = MemoryEnricher()
    h = harness(enricher=enricher)
    h.run(sqs_batch([make_event("customer.start", "c-1")]))
    assert enricher.calls == 0


def test_missing_enrichment_is_retried_during_the_lag_window_then_proceeds() -> None:
    contexts: list[Any] = []
    enricher = MemoryEnricher(details={})
    h = harness(
        lambda e, c: contexts.append(c.enrichment),
        enricher=enricher,
        settings_=PipelineSettings(lag_retries=2, lag_retry_delay=45.0),
    )
    event = make_event("customer.end", "c-lagging")
    for count in (1, 2):
        report = h.run(sqs_batch([event], receive_count=count))
        (result,) = report.results
        assert result.outcome is Outcome.RETRY
        assert result.reason == "enrichment_not_ready"
        assert result.retry_after == 45.0
    assert h.effects == []
    assert h.store.names()["release"] == 2  # the claims were given back
    report = h.run(sqs_batch([event], receive_count=3))
    assert outcomes(report) == ["processed"]
    assert contexts == [None]


def test_enrichment_failure_propagates_retry_after() -> None:
    enricher = MemoryEnricher(
        details={"c-ok": {"x": 1}}, failures={"c-429": RateLimitedError("analytics 429", retry_after=17.0)}
    )
    h = harness(enricher=enricher)
    report = h.run(sqs_batch([make_event("customer.end", "c-429"), make_event("customer.end", "c-ok")]))
    assert outcomes(report) == ["retry", "processed"]
    assert report.results[0].retry_after == 17.0
    assert (report.results[0].reason or "").startswith("enrichment_failed: RateLimitedError")
    assert report.results[0].throttled
    outage = MemoryEnricher(failures={"c-503": TransientError("analytics 503")})
    report = harness(enricher=outage).run(sqs_batch([make_event("customer.end", "c-503")]))
    assert outcomes(report) == ["retry"]
    assert not report.results[0].throttled  # an outage is an ordinary retry: it counts toward the DLQ


def test_enricher_that_raises_retries_everything_enriched() -> None:
    class Exploding:
        def enrich(self, ids: Sequence[str], deadline: float) -> Any:
            raise KeyError("bug")

    h = harness(enricher=Exploding())
    report = h.run(sqs_batch([make_event("customer.end", "c-1"), make_event("customer.start", "c-1")]))
    assert outcomes(report) == ["retry", "processed"]
    assert "KeyError" in (report.results[0].reason or "")


# ------------------------------------------------------------------------------------------------- ordering
def test_events_of_one_conversation_run_in_event_time_order() -> None:
    order: dict[str, list[int]] = defaultdict(list)
    lock = threading.Lock()

    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        with lock:
            order[event.conversation_id or ""].append(event.event_time_ms)

    h = harness(handler)
    kinds = ["customer.start", "acd.start", "acd.end", "user.start", "user.end", "customer.end", "acw", "wrapup"]
    batch = []
    for conversation in ("c-a", "c-b", "c-c"):
        for i, kind in enumerate(kinds):
            batch.append(make_event(kind, conversation, event_time=BASE_MS + 1000 * i))
    batch.reverse()
    h.run(sqs_batch(batch))
    assert set(order) == {"c-a", "c-b", "c-c"}
    for times in order.values():
        assert times == sorted(times)
        assert len(times) == len(kinds)


def test_a_failed_event_does_not_hold_back_the_rest_of_its_conversation() -> None:
    """Holding back would burn the receive counts of healthy events behind a poison one."""

    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        if event.conversation_id == "c-bad" and event.kind == "conversation.acd.start":
            raise TransientError("crm timeout")
        if event.conversation_id == "c-poison" and event.kind == "conversation.acd.start":
            raise PermanentError("cannot map", reason="handler_rejected")

    h = harness(handler)
    kinds = ["customer.start", "acd.start", "acd.end", "customer.end"]
    batch = [
        make_event(kind, conversation, event_time=BASE_MS + 1000 * i)
        for conversation in ("c-bad", "c-ok", "c-poison")
        for i, kind in enumerate(kinds)
    ]
    report = h.run(sqs_batch(batch))
    by_conversation: dict[str, list[str]] = defaultdict(list)
    for result in report.results:
        assert result.event is not None
        by_conversation[result.event.conversation_id or ""].append(result.outcome.value)
    assert by_conversation["c-bad"] == ["processed", "retry", "processed", "processed"]
    assert by_conversation["c-ok"] == ["processed"] * 4
    assert by_conversation["c-poison"] == ["processed", "dead_lettered", "processed", "processed"]


# ------------------------------------------------------------------------------------------------- batch handlers
def test_batch_handler_failures_are_per_item() -> None:
    class Projection:
        def __init__(self) -> None:
            self.items: list[WorkItem] = []

        def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
            self.items.extend(items)
            return {i.event.content_key: TransientError("throttled") for i in items if i.event.conversation_id == "c-2"}

    router = Router()
    projection = Projection()
    router.add_batch(projection, ["v2.detail.events.conversation.{id}.customer.end"])
    h = harness(router=router)
    report = h.run(
        sqs_batch([make_event("customer.end", "c-1"), make_event("customer.end", "c-2"), make_event("acw", "c-2")])
    )
    assert outcomes(report) == ["processed", "retry", "processed"]
    assert [i.event.kind for i in projection.items] == ["conversation.customer.end"] * 2


def test_batch_handler_that_raises_retries_its_items() -> None:
    class Broken:
        def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
            raise RuntimeError("db down")

    router = Router()
    router.add_batch(Broken(), ["*.acw"])
    h = harness(router=router)
    report = h.run(sqs_batch([make_event("acw", "c-1"), make_event("customer.end", "c-1")]))
    assert outcomes(report) == ["retry", "processed"]


# ------------------------------------------------------------------------------------------------- property
IDENTITIES = [(kind, f"c-{n}") for kind in ("customer.end", "acw", "flow.start") for n in range(3)]
MODES = st.sampled_from(["ok", "ok", "transient", "transient2", "unknown", "permanent"])
ITEMS = st.one_of(
    st.tuples(st.just("event"), st.integers(0, len(IDENTITIES) - 1)),
    st.tuples(st.just("bad"), st.sampled_from(["{", "[]", '{"detail": {}}', "", "null"])),
)


@settings(max_examples=150, deadline=None)
@given(
    batches=st.lists(st.lists(ITEMS, min_size=1, max_size=12), min_size=1, max_size=3),
    modes=st.lists(MODES, min_size=len(IDENTITIES), max_size=len(IDENTITIES)),
)
def test_every_record_gets_one_outcome_and_effects_happen_once(batches: list[list[Any]], modes: list[str]) -> None:
    failures_left = {i: {"transient": 1, "transient2": 2, "unknown": 1}.get(m, 0) for i, m in enumerate(modes)}
    lock = threading.Lock()
    successes: Counter[str] = Counter()

    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        index = int(event.body["identity"])
        with lock:
            if modes[index] == "permanent":
                raise PermanentError("never", reason="handler_rejected")
            if failures_left[index] > 0:
                failures_left[index] -= 1
                raise TransientError("later") if modes[index] != "unknown" else RuntimeError("boom")
            successes[event.content_key] += 1

    h = harness(handler)
    originals = {
        i: make_event(kind, cid, event_time=BASE_MS + i, identity=i) for i, (kind, cid) in enumerate(IDENTITIES)
    }
    letters_expected = 0
    for items in batches:
        payload = [resend(originals[v]) if tag == "event" else v for tag, v in items]
        pending: list[RawRecord] = split_records(sqs_batch(payload))
        # SQS would redeliver the retries. A retry holds back its conversation's later events, so failures
        # in one conversation settle one after another: allow a round per failure.
        for _attempt in range(1 + 2 * len(IDENTITIES)):
            report = h.run(pending)
            counts = report.counts()
            assert sum(counts.values()) == len(pending)
            assert set(counts) <= {o.value for o in Outcome}
            letters_expected += counts.get("dead_lettered", 0)
            failed_ids = {f["itemIdentifier"] for f in report.batch_item_failures()}
            assert failed_ids == {r.record.message_id for r in report.retries()}
            pending = [replace(r.record, receive_count=r.record.receive_count + 1) for r in report.retries()]
            if not pending:
                break
        assert pending == []
    assert all(n == 1 for n in successes.values())  # never twice, across batches and retries
    sent = {i for items in batches for tag, i in items if tag == "event"}
    expected_once = {i for i in sent if modes[i] != "permanent"}
    assert len(successes) == len(expected_once)
    assert len(h.sink.letters) == letters_expected
    assert Counter(letter.reason for letter in h.sink.letters).keys() <= {
        Reason.NOT_JSON,
        Reason.NOT_AN_OBJECT,
        Reason.MISSING_DETAIL,
        Reason.MISSING_TOPIC,
        "handler_rejected",
    }


def test_claim_failures_are_retried_and_the_rest_proceeds() -> None:
    class Throttled(RecordingStore):
        def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
            if key == bad_key:
                raise StoreUnavailableError("dynamodb put_item (claim): ThrottlingException", retry_after=3.0)
            return super().claim(key, token, lease_until_ms, now_ms)

    bad = make_event("customer.end", "c-throttled")
    parsed = parse_record(split_records(bad)[0])
    assert isinstance(parsed, GenesysEvent)
    bad_key = parsed.content_key
    h = harness()
    h.pipeline.idempotency.store = Throttled()
    report = h.run(sqs_batch([bad, make_event("customer.end", "c-fine")]))
    assert outcomes(report) == ["retry", "processed"]
    assert (report.results[0].reason or "").startswith("claim_failed: StoreUnavailableError")
    assert report.results[0].retry_after == 3.0
    assert [e.conversation_id for e in h.effects] == ["c-fine"]
