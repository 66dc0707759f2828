"""A world for reconciliation tests: a spike whose source dropped some events, a pipeline with state, derived
records and a handler that counts its effects, and the Genesys simulator knowing the analytics of every
conversation (in-process: no socket, no waiting)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from gcevents.adapters.genesys import GenesysClient
from gcevents.adapters.genesys.analytics import ConversationDetails
from gcevents.core.documents import COMPLETED
from gcevents.core.events import GenesysEvent
from gcevents.core.pipeline import Outcome
from gcevents.core.router import HandlerContext
from gcevents.ops.reconcile import ReconcileOptions, ReconcileReport, pipeline_runner, reconcile
from gcevents.testing.fakes import FakeClock
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions
from gcevents.testing.sinks import RecordingSink
from gcevents.testing.workload import Spike, make_spike
from outputs.kit import START_MS, Kit, make_kit

WINDOW = (datetime.fromtimestamp(START_MS / 1000, tz=UTC), datetime.fromtimestamp(START_MS / 1000 + 7200, tz=UTC))


@dataclass
class World:
    spike: Spike
    kit: Kit
    sink: RecordingSink
    simulator: GenesysSimulator
    client: GenesysClient
    history: ConversationDetails
    effects: Counter[tuple[str, ...]] = field(default_factory=Counter)  # (kind, conversation, participant, session)
    reconciled_effects: int = 0

    def process(self, bodies: Sequence[str], batch: int = 100) -> Counter[str]:
        outcomes: Counter[str] = Counter()
        for start in range(0, len(bodies), batch):
            report = self.kit.run_until_settled(list(bodies[start : start + batch]))
            outcomes.update(r.reason or r.outcome.value for r in report.results if r.outcome is not Outcome.RETRY)
        return outcomes

    def reconcile(self, *, apply: bool = False, **options: Any) -> ReconcileReport:
        runner = pipeline_runner(self.kit.pipeline, self.kit.dead_letters) if apply else None
        return reconcile(
            self.history,
            self.kit.state,
            ReconcileOptions(*WINDOW, apply=apply, **options),
            runner=runner,
            clock=self.kit.clock,
            api_calls=self.client.stats.snapshot,
        )

    def completed(self) -> Counter[str]:
        return Counter(d["conversationId"] for d in self.sink.documents(COMPLETED))

    def record_keys(self) -> Counter[str]:
        return Counter(r.key for r in self.sink.delivered)


@contextmanager
def world(
    events: int = 1200, *, drop_rate: float = 0.05, seed: int = 3, now: float | None = None, **simulator: Any
) -> Iterator[World]:
    spike = make_spike(events, duplicate_rate=0.1, malformed=0, untrusted=0, seed=seed, drop_rate=drop_rate)
    sink = RecordingSink()
    kit = make_kit(
        [(sink, frozenset({COMPLETED, "conversation.updated"}), ())],
        grace=0.0,
        clock=FakeClock(now if now is not None else START_MS / 1000 + 4 * 3600),
    )
    lock = threading.Lock()
    sim = GenesysSimulator(SimulatorOptions(rate_limit_per_minute=None, **simulator))
    sim.register_conversations(spike.analytics.values())
    transport = sim.transport()
    client = GenesysClient(sim.settings(rate_per_minute=60_000), transport=transport, clock=kit.clock.now)
    history = ConversationDetails(client, poll_interval=0.0, clock=kit.clock.now)
    box = World(spike, kit, sink, sim, client, history)

    def count(event: GenesysEvent, ctx: HandlerContext) -> None:
        with lock:
            fact = (event.kind, event.conversation_id or "", event.participant_id or "", event.session_id or "")
            box.effects[fact] += 1
            box.reconciled_effects += ctx.reconciled

    kit.pipeline.router.add("v2.detail.events.conversation.*", count)
    try:
        yield box
    finally:
        client.close()
        sim.close()


def shift(moment: datetime, **delta: float) -> datetime:
    return moment + timedelta(**delta)
