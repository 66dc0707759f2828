"""Derived records when every event of a conversation runs claim-free (on time: no fact key either), over memory and
SQLite stores: duplicated, re-sent, reordered, split across batches, or processed by two pipelines at once, each
version goes to a sink once and each conversation has one `conversation.completed`."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.adapters.sqlite.idempotency import SqliteIdempotencyStore
from gcevents.adapters.sqlite.state import SqliteStateStore
from gcevents.core.documents import COMPLETED, UPDATED
from gcevents.core.events import RawRecord
from gcevents.core.idempotency import Idempotency
from gcevents.core.outputs import DERIVED, ConversationOutputs, Deliveries, OutputSettings, Route
from gcevents.core.pipeline import BatchReport, Outcome, Pipeline, PipelineSettings
from gcevents.core.projection import StateProjection
from gcevents.core.router import Router
from gcevents.ports import IdempotencyStore, StateStore
from gcevents.testing.events import parse
from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink, MemoryIdempotencyStore, MemoryStateStore
from gcevents.testing.sinks import RecordingSink

from .kit import START_MS, expected_version, lifecycles, resend

# Minutes after the events, not hours: no once-per-session event is late, so none claims anything.
ON_TIME = START_MS / 1000 + 120


class Counting(MemoryIdempotencyStore):
    """Counts claims of event keys (not the sinks' `out:` keys)."""

    def __init__(self) -> None:
        super().__init__()
        self.event_claims = 0

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> Any:
        if not key.startswith("out:"):
            self.event_claims += 1
        return super().claim(key, token, lease_until_ms, now_ms)


def pipeline(idempotency_store: IdempotencyStore, state: StateStore, sink: RecordingSink, clock: FakeClock) -> Pipeline:
    idempotency = Idempotency(idempotency_store, clock=clock)
    settings_ = OutputSettings(grace_seconds=0)  # `completed` at the end, `updated` for every later version
    deliveries = Deliveries(idempotency, clock=clock, settings=settings_)
    router = Router()
    outputs = ConversationOutputs([Route(sink, "s0", DERIVED)], deliveries, settings=settings_, clock=clock)
    router.add_batch(StateProjection(state, outputs))
    return Pipeline(
        idempotency=idempotency,
        dead_letters=MemoryDeadLetterSink(),
        router=router,
        settings=PipelineSettings(handler_concurrency=2),
        clock=clock,
    )


def settle(pipe: Pipeline, clock: FakeClock, bodies: Sequence[dict[str, Any]], rounds: int = 8) -> BatchReport:
    texts = [json.dumps(b) for b in bodies]
    for attempt in range(1, rounds + 1):
        records = [RawRecord(t, f"m-{attempt}-{i}", f"r-{i}", receive_count=attempt) for i, t in enumerate(texts)]
        report = pipe.run(records, deadline=clock.now() + 60)
        texts = [r.record.text() for r in report.results if r.outcome is Outcome.RETRY]
        if not texts:
            return report
    raise AssertionError(f"still retried after {rounds} rounds: {report.retry_reasons()}")


def check(sink: RecordingSink, flows: dict[str, list[dict[str, Any]]]) -> None:
    documents = sink.documents()
    assert Counter(d["conversationId"] for d in documents if d["type"] == COMPLETED) == dict.fromkeys(flows, 1)
    assert all(n == 1 for n in Counter(d["id"] for d in documents).values())  # no version twice
    for cid, events in flows.items():
        versions = {d["version"] for d in documents if d["conversationId"] == cid}
        assert expected_version(cid, events) in versions
    assert {d["type"] for d in documents} <= {COMPLETED, UPDATED}


@settings(max_examples=40)
@given(seed=st.integers(0, 10**6), resends=st.integers(0, 12), cuts=st.integers(0, 6), copies=st.integers(0, 4))
def test_claim_free_lifecycles_in_any_order_and_batching_give_each_version_once(
    seed: int, resends: int, cuts: int, copies: int
) -> None:
    rng = random.Random(seed)
    flows = lifecycles(2, seed)
    unique = [e for events in flows.values() for e in events]
    # Re-sends (new envelope id) and plain redeliveries of the same message, which may land in the same batch.
    stream = unique + [resend(rng.choice(unique), rng) for _ in range(resends)] + rng.choices(unique, k=copies)
    rng.shuffle(stream)
    points = sorted(rng.randrange(0, len(stream) + 1) for _ in range(cuts))
    clock, store, sink = FakeClock(ON_TIME), Counting(), RecordingSink()
    pipe = pipeline(store, MemoryStateStore(clock=clock), sink, clock)
    try:
        for start, end in zip([0, *points], [*points, len(stream)], strict=True):
            if end > start:
                settle(pipe, clock, stream[start:end])
    finally:
        pipe.close()
    assert store.event_claims == 0  # all claim-free: this is the path under test
    check(sink, flows)


def _memory(_: Path) -> tuple[IdempotencyStore, Callable[[FakeClock], StateStore]]:
    state = MemoryStateStore()
    return MemoryIdempotencyStore(), lambda clock: state


def _sqlite(tmp: Path) -> tuple[IdempotencyStore, Callable[[FakeClock], StateStore]]:
    idem = SqliteIdempotencyStore(SqliteDatabase(tmp / "idem.db"))
    return idem, lambda clock: SqliteStateStore(tmp / "state.db", clock=clock)


@pytest.mark.parametrize("stores", [_memory, _sqlite], ids=["memory", "sqlite"])
@pytest.mark.parametrize("seed", range(4))
def test_two_pipelines_on_the_same_stores_at_once_deliver_each_version_once(
    stores: Callable[[Path], tuple[IdempotencyStore, Callable[[FakeClock], StateStore]]], seed: int, tmp_path: Path
) -> None:
    rng = random.Random(seed)
    flows = lifecycles(3, seed)
    unique = [e for events in flows.values() for e in events]
    idem, state_for = stores(tmp_path)
    sink = RecordingSink()
    clock = FakeClock(ON_TIME)
    pipes = [pipeline(idem, state_for(clock), sink, clock) for _ in range(2)]
    # Each pipeline gets every event (one copy as sent, one re-sent), in its own order and batches.
    streams = []
    for _ in pipes:
        stream = [e if rng.random() < 0.5 else resend(e, rng) for e in unique]
        rng.shuffle(stream)
        streams.append(stream)
    start = threading.Barrier(len(pipes))
    errors: list[BaseException] = []

    def work(pipe: Pipeline, stream: list[dict[str, Any]]) -> None:
        try:
            start.wait()
            for at in range(0, len(stream), 4):
                settle(pipe, clock, stream[at : at + 4], rounds=20)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=pair) for pair in zip(pipes, streams, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for pipe in pipes:
        pipe.close()
    assert not errors, errors
    check(sink, flows)
    for cid, events in flows.items():
        item = pipes[0].router.batch_handlers()[0][1].store.get(cid)  # type: ignore[attr-defined]
        assert item is not None
        assert item.state["sources"] == sorted({parse(e).content_key for e in events})
