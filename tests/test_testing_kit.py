"""The public test kit (`gcevents.testing`): events as Genesys sends them, contexts, and `run` through the real
pipeline on memory stores. Users' tests depend on this behaviour; the example project's tests use it too."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import ModuleType

import pytest

from gcevents import (
    AcwEvent,
    GenesysEvent,
    HandlerContext,
    PermanentError,
    Router,
    TransientError,
    WorkItem,
    typed,
    typed_handler,
)
from gcevents.testing import KINDS, LambdaContext, context, event, parse, resend, run, sqs_batch
from gcevents.testing.events import LIFECYCLE_MS, TYPICAL_FIELDS, wrap
from gcevents.testing.fakes import FakeClock
from gcevents.testing.workload import conversation_lifecycle

ACW = "v2.detail.events.conversation.{id}.acw"


# ----------------------------------------------------------------------------------------------- builders
def test_every_kind_is_built_as_genesys_sends_it() -> None:
    for kind in KINDS:
        built = event(kind, "c-7")
        parsed = parse(built)
        assert parsed.kind == (kind if kind in ("agent.state", "user.presence") else f"conversation.{kind}")
        assert built["detail-type"] == built["detail"]["topicName"].replace(".c-7.", ".{id}.")
        assert built["source"].startswith("aws.partner/genesys.com/cloud/")
        model = typed(parsed)
        for name, value in TYPICAL_FIELDS[kind].items():
            assert parsed.body[name] == value
        assert model.raw == parsed.body  # typed models read every usual field (no KeyError, no None surprise)


def test_fields_override_and_none_leaves_a_field_out() -> None:
    acw = typed(parse(event("acw", "c-1", wrapupCode="Refund", queueId=None)))
    assert isinstance(acw, AcwEvent)
    assert (acw.wrapup_code, acw.queue_id, acw.user_id) == ("Refund", None, "u-1")
    audit = parse(event("v2.audits.entitytype.user", eventTime="2024-01-01T00:00:00Z", action="UPDATE"))
    assert audit.kind == "other"  # a full topic sends exactly the fields given
    assert dict(audit.body) == {"eventTime": "2024-01-01T00:00:00Z", "action": "UPDATE"}
    with pytest.raises(ValueError, match="unknown event kind"):
        event("acw.typo")


def test_a_resend_is_the_same_event_under_a_new_envelope() -> None:
    original = event("customer.end", "c-1")
    again = resend(original)
    assert again["id"] != original["id"]
    assert again["time"] > original["time"]
    assert again["detail"] == original["detail"]
    assert parse(again).content_key == parse(original).content_key


def test_the_workload_builds_the_same_envelope() -> None:
    import random

    generated = conversation_lifecycle("c-9", 1_764_000_000_000, random.Random(1))[0]
    built = event("customer.start", "c-9")
    assert generated.keys() == built.keys()
    assert generated["detail"].keys() == built["detail"].keys()
    assert wrap("v2.detail.events.conversation.c-9.acw", {})["detail-type"] == ACW


def test_a_rejected_envelope_says_why() -> None:
    with pytest.raises(ValueError, match="untrusted_source"):
        parse(event("acw"), allowed_sources=["aws.partner/genesys.com/cloud/other-org/"])


def test_context_carries_the_events_content_key_and_enrichment() -> None:
    acw = event("acw", "c-1")
    ctx = context(acw, enrichment={"conversationEnd": "2024-05-29T16:40:00Z"})
    assert ctx.idempotency_key == parse(acw).content_key == parse(resend(acw)).content_key
    assert ctx.enrichment == {"conversationEnd": "2024-05-29T16:40:00Z"}
    assert 25 < ctx.remaining() <= 30
    assert context().enrichment is None


def test_a_lambda_context_counts_down_from_its_timeout_as_lambdas_does() -> None:
    first, second = LambdaContext(30.0), LambdaContext()
    assert 29_000 < first.get_remaining_time_in_millis() <= 30_000
    assert 59_000 < second.get_remaining_time_in_millis() <= 60_000
    assert first.aws_request_id != second.aws_request_id
    assert LambdaContext(aws_request_id="req-1").aws_request_id == "req-1"


def test_a_lambda_context_on_a_virtual_clock_ends_on_that_clocks_time() -> None:
    """The handler adds the time left to the wall clock; the pipeline reads the virtual one, which runs ahead."""
    clock = FakeClock(follows_wall=True)
    clock.advance(100.0)
    remaining = LambdaContext(30.0, clock=clock).get_remaining_time_in_millis()
    assert 129_000 < remaining <= 130_000


def test_a_fake_clock_stands_still_unless_advanced() -> None:
    clock = FakeClock(1_000.0)
    clock.advance(5.0)
    assert clock.now() == 1_005.0
    clock.advance(-2.0)
    assert clock.now() == 1_003.0


def test_a_fake_clock_that_follows_the_wall_runs_ahead_by_what_was_advanced_and_never_back() -> None:
    clock = FakeClock(follows_wall=True)
    before = time.time()
    clock.advance(3600.0)
    clock.advance(-60.0)
    assert before + 3600.0 <= clock.now() <= time.time() + 3600.0


# ---------------------------------------------------------------------------------------------------- run
def acw_router(seen: list[tuple[str, str | None]]) -> Router:
    router = Router()
    lock = threading.Lock()

    @router.on(ACW)
    @typed_handler
    def post_wrapup(acw: AcwEvent, ctx: HandlerContext) -> None:
        with lock:
            seen.append((ctx.idempotency_key, acw.wrapup_code))

    return router


def test_run_folds_duplicates_and_resends_across_batches() -> None:
    seen: list[tuple[str, str | None]] = []
    first, second = event("acw", "c-1"), event("acw", "c-2", wrapupCode="Refund")
    events = [first, second, first, event("customer.end", "c-1"), resend(first), resend(first), resend(second)]
    result = run(acw_router(seen), events, batch_size=2)
    assert [(o.outcome, o.reason) for o in result.outcomes] == [
        ("processed", None),
        ("processed", None),
        ("duplicate", "already_processed"),  # a later batch: the idempotency store knew it
        ("processed", None),
        ("duplicate", "already_processed"),
        ("duplicate", "in_batch"),  # a second copy in the same batch, folded before any I/O
        ("duplicate", "already_processed"),
    ]
    assert result.counts == {"processed": 3, "duplicate": 4}
    assert sorted(seen) == sorted([(parse(first).content_key, "Sale"), (parse(second).content_key, "Refund")])
    assert [c.event.conversation_id for c in result.calls["post_wrapup"]] in (["c-1", "c-2"], ["c-2", "c-1"])
    assert result.state is not None
    state = result.state.get("c-1")
    assert state is not None
    assert "endTime" in state.state  # the built-in state ran too


def test_run_redelivers_transient_failures_and_dead_letters_permanent_ones() -> None:
    router = Router()
    attempts: list[str] = []

    @router.on(ACW)
    def flaky(event: GenesysEvent, ctx: HandlerContext) -> None:
        attempts.append(event.conversation_id or "")
        if event.conversation_id == "c-bad":
            raise PermanentError("the CRM refused it", reason="crm_rejected")
        if attempts.count(event.conversation_id or "") == 1:
            raise TransientError("CRM timed out")

    result = run(router, [event("acw", "c-ok"), event("acw", "c-bad")], attempts=3)
    ok, bad = result.outcomes
    assert (ok.outcome, ok.attempts) == ("processed", 2)
    assert (bad.outcome, bad.reason, bad.attempts) == ("dead_lettered", "crm_rejected", 1)
    assert [type(c.error) for c in result.calls["flaky"] if c.event.conversation_id == "c-ok"] == [
        TransientError,
        type(None),
    ]
    assert [(d.reason, d.conversation_id) for d in result.dead_letters] == [("crm_rejected", "c-bad")]
    once = run(router, [event("acw", "c-again")])
    assert (once.outcomes[0].outcome, once.outcomes[0].attempts) == ("retry", 1)

    busy = Router()

    @busy.on(ACW)
    def throttled(event: GenesysEvent, ctx: HandlerContext) -> None:
        raise TransientError("slow down", retry_after=30)

    (later,) = run(busy, [event("acw", "c-busy")]).outcomes
    assert (later.outcome, later.retry_after) == ("retry", 30)


def test_run_enriches_the_conversations_of_enriched_kinds() -> None:
    router = Router()
    got: dict[str, Mapping[str, object] | None] = {}

    @router.on("v2.detail.events.conversation.{id}.*")
    def look(event: GenesysEvent, ctx: HandlerContext) -> None:
        got[f"{event.conversation_id}/{event.kind}"] = ctx.enrichment

    details = {"conversationId": "c-1", "conversationEnd": "2024-05-29T16:40:00Z"}
    events = [event("acw", "c-1"), event("customer.start", "c-1"), event("acw", "c-unknown")]
    events += [event("customer.start", "c-2")]
    result = run(router, events, enrichment={"c-1": details, "c-2": details}, services={"crm": "fake"})
    assert result.counts == {"processed": 4}
    assert got == {
        "c-1/conversation.acw": details,
        "c-1/conversation.customer.start": details,  # its conversation was looked up in this batch
        "c-unknown/conversation.acw": None,  # analytics does not know it: handled without, not retried
        "c-2/conversation.customer.start": None,  # not an enriched kind: no lookup for it
    }
    assert all(call.context.services == {"crm": "fake"} for call in result.calls["look"])


def test_run_takes_specs_registrars_sqs_batches_and_batch_handlers() -> None:
    class Audit:
        def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
            return {items[0].event.content_key: TransientError("one failed")} if len(items) > 1 else {}

    def register(router: Router) -> None:
        router.add_batch(Audit(), patterns=[ACW])

    batch = sqs_batch([event("acw", "c-1"), event("acw", "c-2")])
    result = run(register, [batch], env={"GCEVENTS_STATE_STORE": "off"})
    assert sorted(result.counts.items()) == [("processed", 1), ("retry", 1)]
    assert sorted(c.error is None for c in result.calls["Audit"]) == [False, True]
    assert result.state is None


def test_run_loads_a_handlers_spec_as_gcevents_handlers_does(app: ModuleType) -> None:
    result = run("tests.fixtures.lambda_app:router", [event("customer.end")])
    processed = result.outcomes[0].event
    assert processed is not None
    assert [c.context.idempotency_key for c in result.calls["record_effect"]] == [processed.content_key]
    effects = list(app.EFFECTS)
    assert effects == [(processed.content_key, "c-1", "conversation.customer.end")]


def test_the_kit_imports_neither_boto3_nor_httpx_nor_moto() -> None:
    code = (
        "import sys; from gcevents.testing import context, event, parse, resend, run, sqs_batch;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'httpx', 'moto')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------------------- defaults that add up
def test_a_customer_and_an_agent_built_with_defaults_are_two_participants() -> None:
    """Each purpose has its own participant by default, as in a real conversation: a customer and an agent built
    with defaults must not merge into one participant (who would then be both, with one wrap-up)."""
    events = [event("customer.start"), event("user.start"), event("user.end"), event("customer.end"), event("acw")]
    result = run(lambda router: None, events)
    assert result.state is not None
    stored = result.state.get("c-1")
    assert stored is not None
    purposes = sorted(p["purpose"]["value"] for p in stored.state["participants"].values())
    assert purposes == ["agent", "customer"]


def test_events_built_with_defaults_happen_in_lifecycle_order() -> None:
    """Default event times ascend through a conversation (customer, IVR, queue, agent, wrap-up) and agree with the
    kinds' typical durations; `event()` called twice for one kind is still the same event."""
    order = [
        "customer.start",
        "flow.start",
        "flow.end",
        "acd.start",
        "acd.end",
        "user.start",
        "user.end",
        "customer.end",
        "acw",
        "wrapup",
    ]
    times = [event(kind)["detail"]["eventBody"]["eventTime"] for kind in order]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    at = dict(zip(order, times, strict=True))
    assert at["user.end"] - at["user.start"] >= TYPICAL_FIELDS["user.end"]["interactingDurationMs"]
    assert at["acw"] - at["user.end"] >= TYPICAL_FIELDS["acw"]["wrapupDurationMs"]
    assert at["acd.end"] - at["acd.start"] >= TYPICAL_FIELDS["acd.end"]["connectedDurationMs"]
    assert LIFECYCLE_MS.keys() == TYPICAL_FIELDS.keys()  # every kind has its moment
    assert event("acw")["detail"]["eventBody"] == event("acw")["detail"]["eventBody"]


def test_run_env_is_the_environment_handlers_read() -> None:
    """`run(env=...)` sets those variables in `os.environ` for the run, as a deployment's environment is what a
    handler reads (`os.environ["CRM_URL"]`), and restores the environment afterwards."""
    import os

    seen: list[str | None] = []

    def register(router: Router) -> None:
        @router.on("v2.detail.events.conversation.{id}.acw")
        def read(event: GenesysEvent, ctx: HandlerContext) -> None:
            seen.append(os.environ.get("CRM_URL"))

    assert "CRM_URL" not in os.environ
    run(register, [event("acw")], env={"CRM_URL": "http://127.0.0.1:9/crm"})
    assert seen == ["http://127.0.0.1:9/crm"]
    assert "CRM_URL" not in os.environ


def test_the_workloads_durations_fit_its_event_times() -> None:
    """Every derived record of the synthetic workload adds up: talk and hold within the conversation, each agent's
    talk within that agent's time on the conversation, and the after-call work within the time between the agent's
    end and the acw event. (A conversation of 140 s talking for 408 s made a reader stop trusting the demo.)"""
    from gcevents.core import documents
    from gcevents.testing.workload import make_spike

    spike = make_spike(2_000, duplicate_rate=0.0, malformed=0, untrusted=0, seed=11)
    events = [json.loads(body) for body in spike.bodies]
    result = run(lambda router: None, events, batch_size=100)
    assert result.state is not None
    checked = 0
    for cid in sorted(spike.conversations):
        stored = result.state.get(cid)
        assert stored is not None
        content = documents.derive(cid, stored.state)
        if "durationMs" not in content:
            continue  # cut short by the spike: not ended
        durations = content["durations"]
        assert durations.get("talkMs", 0) + durations.get("holdMs", 0) <= content["durationMs"], (cid, content)
        for participant in content["participants"]:
            if "interactingDurationMs" in participant and "durationMs" in participant:
                assert participant["interactingDurationMs"] <= participant["durationMs"], (cid, participant)
        checked += 1
    assert checked >= 150
    by_conversation: dict[str, dict[str, int]] = {}
    for envelope in events:
        body = envelope["detail"]["eventBody"]
        kind = envelope["detail"]["topicName"].removeprefix(f"v2.detail.events.conversation.{body['conversationId']}.")
        at = by_conversation.setdefault(body["conversationId"], {})
        at[kind] = body["eventTime"]
        if kind == "acw":
            at["wrapupDurationMs"] = body["wrapupDurationMs"]
    for cid, at in by_conversation.items():
        if {"acw", "user.end"} <= at.keys():
            assert at["wrapupDurationMs"] <= at["acw"] - at["user.end"], cid
