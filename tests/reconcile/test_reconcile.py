"""`gcevents reconcile` end to end on memory ports and the in-process simulator: the source drops 5 % of the
conversations' events (some whole conversations); reconcile reports exactly those gaps, repairs them through the
pipeline, finds nothing the second time, and the dropped events arriving late change nothing twice."""

from __future__ import annotations

from collections import Counter

from gcevents.core.pipeline import FACT_APPLIED

from .kit import world


def test_reconcile_finds_exactly_the_dropped_gaps_repairs_them_and_late_events_do_nothing_twice() -> None:
    with world(1200, drop_rate=0.05) as w:
        w.process(w.spike.bodies)
        expected = w.spike.expected_gaps()
        assert any(kinds == {"unknown"} for kinds in expected.values())  # whole conversations were dropped

        found = w.reconcile()
        assert {g.conversation_id: set(g.kinds) for g in found.gaps} == expected
        assert found.checked == sum(1 for d in w.spike.analytics.values() if d.get("conversationEnd"))
        assert found.facts == Counter()
        assert not found.applied

        repaired = w.reconcile(apply=True)
        assert repaired.repaired == len(expected)
        assert (repaired.unrepaired, repaired.deferred) == ([], [])
        assert repaired.facts["processed"] == repaired.facts["synthesized"] > 0
        assert w.reconciled_effects == repaired.facts["processed"]

        again = w.reconcile()
        assert again.gaps == []
        assert again.checked == found.checked

        # The dropped events arrive after all: every fact reconcile rebuilt is a duplicate of its real event.
        before = w.effects.copy()
        late = w.process(w.spike.dropped)
        assert late[FACT_APPLIED] == repaired.facts["processed"]
        assert max(w.effects.values()) == 1  # every fact's handlers ran once, whichever copy came first
        assert set(before) <= set(w.effects)
        assert all(n == 1 for n in w.completed().values())  # one conversation.completed per conversation
        assert max(w.record_keys().values()) == 1  # no record version delivered twice
        assert set(w.completed()) >= set(expected)

        # The budget: one query page per 100 conversations (and the token), nothing per conversation.
        pages = -(-found.checked // 100)
        assert found.genesys_calls == {"analytics_query": pages, "token": 1, "total": pages + 1, "rate_limited": 0}
        assert repaired.genesys_calls["total"] == pages  # the facts were enriched from the documents read
