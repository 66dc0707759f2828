"""Fuzzing the whole path an input takes, not just the parser (tests/test_events.py covers `parse_record` alone):
`Pipeline.run` on memory fakes and `process_invocation` with every input shape Lambda can hand us — arbitrary JSON
values as the event, bytes mutated from valid envelopes, deep nesting, huge numbers, lone surrogates. Nothing may
escape, every record gets exactly one outcome, and a second delivery of the same input has no new effect.
The state projection is wired in, so odd-but-parseable bodies also reach the state merge."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from factories import ALLOWED_PREFIX, BASE_MS, CONVERSATION_KINDS, make_event, sqs_batch
from gcevents.config import Config, StoreSpec
from gcevents.core.events import GenesysEvent, RawRecord, split_records
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import Outcome, Pipeline, PipelineSettings
from gcevents.core.projection import StateProjection
from gcevents.core.router import HandlerContext, Router
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.testing.fakes import MemoryDeadLetterSink, MemoryIdempotencyStore, MemoryStateStore

# ------------------------------------------------------------------------------------------------ strategies
surrogates = st.integers(0xD800, 0xDFFF).map(chr)  # lone surrogates: valid in a Python str, not in UTF-8
texts = st.text(st.characters() | surrogates, max_size=20)
huge_numbers = st.sampled_from([10**400, -(10**400), 2**63, -(2**63) - 1, 1e308, float("inf"), float("nan"), -0.0])
scalars = st.none() | st.booleans() | st.integers() | huge_numbers | st.floats() | texts
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4), max_leaves=20
)
SEEDS = [
    json.dumps(make_event(kind, f"c-{n % 3}", event_time=BASE_MS + n, **({"userId": "u-1"} if n % 2 else {})))
    for n, kind in enumerate([*CONVERSATION_KINDS, "agent.state"])
] + [json.dumps(make_event("v2.audits.entitytype.user.entityid.u-1", eventTime="2024-01-01T00:00:00Z", action="x"))]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A valid envelope with a few byte-level edits: flips, inserts, deletions, a truncation."""
    data = bytearray(draw(st.sampled_from(SEEDS)).encode())
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, max(0, len(data) - 1)))
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            del data[at:]
    return bytes(data)


@st.composite
def tweaked(draw: st.DrawFn) -> Any:
    """A valid envelope whose fields (envelope, detail, body) get arbitrary JSON values: reaches the state merge."""
    event = json.loads(draw(st.sampled_from(SEEDS)))
    levels = [event, event["detail"], event["detail"]["eventBody"]]  # taken first: a tweak may replace a level
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(levels))
        key = draw(st.sampled_from(sorted(where)) | texts)
        where[key] = draw(json_values)
    return event


def deep(depth: int) -> str:
    return "[" * depth + "]" * depth


deep_texts = st.integers(1, 3000).map(deep) | st.integers(1, 3000).map(lambda d: '{"a":' * d + "1" + "}" * d)
deep_bodies = st.integers(1, 900).map(
    lambda d: json.dumps(json.loads(SEEDS[0])).replace('"eventTime":', '"nested": ' + deep(d) + ', "eventTime":', 1)
)
payloads = (
    st.sampled_from(SEEDS)
    | mutated()
    | mutated().map(lambda b: b.decode("utf-8", "surrogateescape"))  # undecodable bytes become lone surrogates
    | tweaked()
    | tweaked().map(json.dumps)
    | json_values
    | json_values.map(json.dumps)
    | deep_texts
    | deep_bodies
)


# ------------------------------------------------------------------------------------------------ Pipeline.run
class Effects:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, event: GenesysEvent, ctx: HandlerContext) -> None:
        with self._lock:
            self.counts[ctx.idempotency_key] += 1


def pipeline(allowed: tuple[str, ...]) -> tuple[Pipeline, Effects, MemoryDeadLetterSink]:
    effects, sink = Effects(), MemoryDeadLetterSink()
    router = Router()
    router.add("*", effects)
    router.add_batch(StateProjection(MemoryStateStore()))
    settings = PipelineSettings(allowed_sources=allowed, deadline_margin=0.0, handler_concurrency=2)
    return (
        Pipeline(
            idempotency=Idempotency(MemoryIdempotencyStore(), concurrency=2),
            dead_letters=sink,
            router=router,
            settings=settings,
        ),
        effects,
        sink,
    )


PIPELINES = {allowed: pipeline(allowed) for allowed in ((), (ALLOWED_PREFIX,))}  # shared: threads are not free


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(payloads, min_size=1, max_size=8), st.sampled_from(sorted(PIPELINES)), st.integers(-3, 10))
def test_pipeline_gives_every_record_exactly_one_outcome(
    items: list[Any], allowed: tuple[str, ...], receive_count: int
) -> None:
    run, effects, sink = PIPELINES[allowed]
    records = [RawRecord(p, f"m-{n}", f"r-{n}", receive_count) for n, p in enumerate(items)]
    before_effects, before_letters = Counter(effects.counts), len(sink.letters)

    report = run.run(records, time.time() + 60)

    assert [r.record for r in report.results] == records
    assert {r.outcome for r in report.results} <= {Outcome.PROCESSED, Outcome.DUPLICATE, Outcome.DEAD_LETTERED}, [
        (r.outcome, r.reason, r.record.message_id) for r in report.results
    ]
    letters = sink.letters[before_letters:]
    dead = [r for r in report.results if r.outcome is Outcome.DEAD_LETTERED]
    assert [(x.message_id, x.reason) for x in letters] == [(r.record.message_id, r.reason) for r in dead]
    assert all(x.reason and x.body == r.record.text() for x, r in zip(letters, dead, strict=True))
    new = effects.counts - before_effects
    processed = [r.event.content_key for r in report.results if r.outcome is Outcome.PROCESSED and r.event]
    assert Counter(processed) == new  # one effect per processed record, none for anything else
    assert max(effects.counts.values(), default=0) <= 1  # across every example so far: exactly-once

    again = run.run(records, time.time() + 60)  # a redelivery of the same batch
    assert [r.outcome for r in again.results].count(Outcome.PROCESSED) == 0
    assert effects.counts - before_effects == new


# ------------------------------------------------------------------------------------------------ process_invocation
class _NoSqs:
    """Retries would ask SQS to delay redelivery; nothing here may need one."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected SQS call {name}")


_LAMBDA_EFFECTS = Effects()


def _lambda_runtime() -> Any:
    router = Router()
    router.add("*", _LAMBDA_EFFECTS)
    config = Config(
        idempotency_store=StoreSpec("memory"),
        state_store=StoreSpec("memory"),
        dead_letters=StoreSpec("memory"),
        pipeline=PipelineSettings(deadline_margin=0.0, handler_concurrency=2),
        claim_concurrency=2,
    )
    return build_runtime(config, router=router, clients={"sqs": _NoSqs()})


RUNTIME = _lambda_runtime()

sqs_events = st.lists(payloads.filter(lambda p: isinstance(p, str)), max_size=6).map(sqs_batch)
broken_records = st.dictionaries(st.sampled_from(["messageId", "body", "attributes"]), json_values)
raw_sqs_events = st.fixed_dictionaries({"Records": st.lists(broken_records, max_size=4)})  # missing ids, odd attributes
lambda_events = (
    json_values
    | payloads
    | st.lists(payloads, max_size=5)  # EventBridge Pipes / bus batching: a JSON list of events
    | sqs_events
    | raw_sqs_events
)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(lambda_events)
def test_process_invocation_accepts_any_lambda_event(event: Any) -> None:
    records = split_records(event)
    response = process_invocation(RUNTIME, event, None)  # must not raise: nothing here can need a retry
    if isinstance(event, dict) and isinstance(event.get("Records"), list):
        assert response == {"batchItemFailures": []}
    else:
        assert response["records"] == len(records)
        assert response["processed"] + response["duplicate"] + response["dead_lettered"] == len(records)
        assert response["retry"] == 0
    assert max(_LAMBDA_EFFECTS.counts.values(), default=0) <= 1
