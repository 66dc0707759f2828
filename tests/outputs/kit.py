"""A pipeline with outputs on memory ports, and workload helpers, for the outputs tests."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gcevents.core.documents import derive, version_of
from gcevents.core.events import GenesysEvent, RawRecord, parse_record
from gcevents.core.idempotency import Idempotency
from gcevents.core.outputs import ConversationOutputs, Deliveries, OutputSettings, RawEventRoutes, Route
from gcevents.core.pipeline import BatchReport, Outcome, Pipeline, PipelineSettings
from gcevents.core.projection import StateProjection
from gcevents.core.router import Router
from gcevents.core.state import Observation, merge
from gcevents.ports import CompletionTimerScheduler, OutboundRecord, Sink
from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink, MemoryIdempotencyStore, MemoryStateStore
from gcevents.testing.workload import conversation_lifecycle

START_MS = 1_764_000_000_000


@dataclass
class Kit:
    pipeline: Pipeline
    state: MemoryStateStore
    dead_letters: MemoryDeadLetterSink
    clock: FakeClock
    scheduler: CompletionTimerScheduler | None
    idempotency: MemoryIdempotencyStore
    reports: list[BatchReport] = field(default_factory=list)
    deliveries: Deliveries | None = None

    def run(self, bodies: Sequence[str | dict[str, Any]], *, prefix: str = "m", receive_count: int = 1) -> BatchReport:
        records = [
            RawRecord(
                b if isinstance(b, str) else json.dumps(b), f"{prefix}-{i}", f"r-{i}", receive_count=receive_count
            )
            for i, b in enumerate(bodies)
        ]
        report = self.pipeline.run(records, deadline=self.clock.now() + 60)
        self.reports.append(report)
        return report

    def run_until_settled(self, bodies: Sequence[str | dict[str, Any]], rounds: int = 5) -> BatchReport:
        report = self.run(bodies)
        for _ in range(rounds):
            retry = [r.record.text() for r in report.results if r.outcome is Outcome.RETRY]
            if not retry:
                break
            report = self.run(retry, prefix="retry", receive_count=report.results[0].record.receive_count + 1)
        return report


def make_kit(
    sinks: Sequence[tuple[Sink, frozenset[str], tuple[str, ...]]],
    *,
    grace: float = 900.0,
    scheduler: CompletionTimerScheduler | None = None,
    clock: FakeClock | None = None,
) -> Kit:
    clock = clock or FakeClock(START_MS / 1000 + 3 * 3600)
    store = MemoryIdempotencyStore()
    idempotency = Idempotency(store, clock=clock)
    state = MemoryStateStore(clock=clock)
    settings = OutputSettings(grace_seconds=grace)
    routes = [Route(sink, f"s{n}", derived, patterns) for n, (sink, derived, patterns) in enumerate(sinks)]
    deliveries = Deliveries(idempotency, clock=clock, settings=settings)
    router = Router()
    conversations = ConversationOutputs(routes, deliveries, scheduler=scheduler, settings=settings, clock=clock)
    router.add_batch(StateProjection(state, conversations))
    router.add_batch(RawEventRoutes(routes, deliveries))
    dead_letters = MemoryDeadLetterSink()
    pipeline = Pipeline(
        idempotency=idempotency,
        dead_letters=dead_letters,
        router=router,
        settings=PipelineSettings(handler_concurrency=2),
        clock=clock,
    )
    return Kit(pipeline, state, dead_letters, clock, scheduler, store, deliveries=deliveries)


def lifecycles(count: int, seed: int) -> dict[str, list[dict[str, Any]]]:
    rng = random.Random(seed)
    out: dict[str, list[dict[str, Any]]] = {}
    for _ in range(count):
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        out[cid] = conversation_lifecycle(cid, START_MS + rng.randrange(0, 600_000), rng)
    return out


def resend(event: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """The same content under a new envelope id, as Genesys/EventBridge re-sends look."""
    return dict(event, id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))


def expected_version(cid: str, events: Sequence[dict[str, Any]]) -> str:
    parsed = [parse_record(RawRecord(json.dumps(e))) for e in events]
    observations = [Observation(p, None, True) for p in parsed if isinstance(p, GenesysEvent)]
    return version_of(derive(cid, merge(None, observations)))


def outbound_record(key: str = "c1:v1") -> OutboundRecord:
    """A conversation.completed record for conversation c1 whose body names its key, for a sink to deliver."""
    return OutboundRecord(key, "conversation.completed", b'{"id":"%s"}' % key.encode(), None, "c1")
