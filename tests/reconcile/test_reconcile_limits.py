"""Reconcile's edges: too-recent gaps wait, old windows are refused, a fact held by live processing is left to the
next run, large windows go through a job, the Genesys budget holds under 429s (same client, same limiter)."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from gcevents.adapters.genesys import GenesysClient
from gcevents.adapters.genesys.analytics import ConversationDetails
from gcevents.core.events import GenesysEvent, RawRecord, parse_record
from gcevents.errors import ConfigError
from gcevents.ops.facts import repair_facts
from gcevents.ops.reconcile import (
    LEASE_BOUND,
    LEFT_FOR_NEXT_RUN,
    SKEW_MARGIN,
    ReconcileOptions,
    pipeline_runner,
    reconcile,
)
from gcevents.ports import Claim, ClaimStatus
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

from .kit import WINDOW, world


def last_end(w: object) -> float:
    from datetime import datetime

    ends = [d["conversationEnd"] for d in w.spike.analytics.values() if d.get("conversationEnd")]  # type: ignore[attr-defined]
    return max(datetime.fromisoformat(e.replace("Z", "+00:00")).timestamp() for e in ends)


def test_gaps_too_recent_to_repair_safely_are_deferred_to_a_later_run() -> None:
    from datetime import datetime

    with world(600, drop_rate=0.1) as w:
        w.process(w.spike.bodies)
        w.kit.clock.current = last_end(w) + 60  # a minute after the last conversation ended
        early = w.reconcile(apply=True)
        cutoff = w.kit.clock.current - (600 + LEASE_BOUND + SKEW_MARGIN)

        def recent(end: str) -> bool:
            return datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp() > cutoff

        assert early.deferred
        assert sorted(early.deferred) == sorted(g.conversation_id for g in early.gaps if recent(g.conversation_end))
        assert early.repaired == len(early.gaps) - len(early.deferred)
        w.kit.clock.current = last_end(w) + 600 + LEASE_BOUND + SKEW_MARGIN + 1
        later = w.reconcile(apply=True)
        assert (later.deferred, later.repaired, later.unrepaired) == ([], len(early.deferred), [])


def test_a_window_older_than_the_state_retention_is_refused_for_apply() -> None:
    with world(200) as w:
        with pytest.raises(ConfigError, match="retention"):
            w.reconcile(apply=True, max_age=3600.0)
        assert w.reconcile(max_age=3600.0).checked > 0  # reporting is always safe


def test_a_fact_live_processing_holds_is_left_for_the_next_run() -> None:
    """Beside live processing: a live batch holds the key of the customer.end reconcile rebuilds. That fact waits
    (no dead letter; the conversation stays not ended), the others are applied; the next run applies it, once."""
    with world(600, drop_rate=0.1) as w:
        w.process(w.spike.bodies)
        gap = next(g for g in w.reconcile().gaps if g.kinds == ("unknown",))
        facts = repair_facts(w.spike.analytics[gap.conversation_id], None, checked_at_ms=0)
        envelope = next(f for f in facts if f["detail"]["topicName"].endswith(".customer.end"))
        fact = parse_record(RawRecord(json.dumps(envelope)))
        assert isinstance(fact, GenesysEvent)
        assert fact.fact_key is not None
        now_ms = int(w.kit.clock.now() * 1000)
        assert w.kit.idempotency.claim(fact.fact_key, "live", now_ms + 30_000, now_ms).status is ClaimStatus.CLAIMED
        runner = pipeline_runner(w.kit.pipeline, w.kit.dead_letters, max_attempts=1)
        first = reconcile(
            w.history, w.kit.state, ReconcileOptions(*WINDOW, apply=True), runner=runner, clock=w.kit.clock
        )
        assert first.unrepaired == [gap.conversation_id]
        assert first.facts[LEFT_FOR_NEXT_RUN] == 1
        assert w.kit.dead_letters.letters == []
        w.kit.idempotency.release(Claim(fact.fact_key, "live"))  # the live batch failed and gave it back
        second = w.reconcile(apply=True)
        assert (second.repaired, second.unrepaired, second.facts["processed"]) == (1, [], 1)
        assert w.reconcile().gaps == []
        assert max(w.effects.values()) == 1


def test_the_genesys_budget_holds_under_429s_with_the_same_client() -> None:
    """A simulator that grants one request per window: reconcile waits out Retry-After through the client's limiter
    (no second limiter, no hand-written backoff) and still reads every page; every call is counted."""
    now = [0.0]
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            now[0] += seconds

    with world(1200, drop_rate=0.05) as w:
        options = SimulatorOptions(rate_limit_per_minute=1, rate_window_seconds=10.0)
        sim = GenesysSimulator(options, clock=lambda: now[0], sleep=sleep)
        sim.register_conversations(w.spike.analytics.values())
        transport = sim.transport()
        client = GenesysClient(
            sim.settings(rate_per_minute=600, max_wait=60.0),
            transport=transport,
            monotonic=lambda: now[0],
            sleep=sleep,
            clock=w.kit.clock.now,
        )
        w.process(w.spike.bodies)
        report = reconcile(
            ConversationDetails(client, clock=w.kit.clock.now),
            w.kit.state,
            ReconcileOptions(*WINDOW),
            clock=w.kit.clock,
            api_calls=client.stats.snapshot,
        )
        assert {g.conversation_id: set(g.kinds) for g in report.gaps} == w.spike.expected_gaps()
        calls = report.genesys_calls
        assert calls["rate_limited"] > 0
        assert calls["analytics_query"] == -(-report.checked // 100) + calls["rate_limited"]  # each 429 retried once
        assert sim.stats()["calls"]["POST /api/v2/analytics/conversations/details/query"] == calls["analytics_query"]
        assert now[0] >= 10.0  # it waited for the next window rather than hammering


def test_a_large_window_goes_through_a_job_and_finds_the_same_gaps() -> None:
    with world(600, drop_rate=0.1) as w:
        w.process(w.spike.bodies)
        by_query = w.reconcile()
        w.history.large_hits = 10
        by_job = w.reconcile()
        assert (by_query.mode, by_job.mode) == ("query", "job")
        assert [g.as_dict() for g in by_job.gaps] == [g.as_dict() for g in by_query.gaps]
        assert by_job.genesys_calls["analytics_jobs"] == 1 + 1 + by_job.polls + (by_job.pages - 1)
        assert Counter(by_job.gap_counts()) == Counter(by_query.gap_counts())
