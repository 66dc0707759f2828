"""The benchmark harness on a tiny workload: behaviour, not speed (timings are never asserted)."""

from __future__ import annotations

from typing import Any

import pytest
from bench import gcevents_variant, tutorial  # `bench` sits next to `src`; conftest puts it on sys.path
from bench.harness import Params, bench_env, make_workload
from bench.run import render_table, run_benchmark

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    params = Params(
        events=220,
        conversations=44,
        batch_size=100,
        latency_ms=1.0,
        rate_per_minute=100_000,  # no 429s here: the accounting must then be exact
        per_event_events=0,
        memory_events=0,
    )
    return run_benchmark(params, ("a", "b", "c"), track_memory=False, imports=False, log=lambda _: None)


def test_every_variant_puts_each_delivery_in_the_bucket_the_workload_predicts(result: dict[str, Any]) -> None:
    """Expected buckets from the workload alone (how many events are re-sends), not from the effect log."""
    w = result["workload"]
    total, unique, resent = w["events"], w["unique_events"], w["resent_duplicates"]
    assert unique + resent == total
    deduplicating = {"processed": unique, "duplicates": resent, "lost": 0, "dead_lettered": 0}
    expected = {
        # The tutorial keys on the envelope id, which every re-send changes: each delivery does its effect.
        "a": {"processed": total, "duplicates": 0, "lost": 0, "dead_lettered": 0},
        "b": deduplicating,
        "c": deduplicating,
    }
    for name, metrics in result["variants"].items():
        assert {k: metrics[k] for k in expected[name]} == expected[name], name
        assert metrics["accounted"] == total, name


def test_gcevents_loses_nothing_and_never_repeats_an_effect(result: dict[str, Any]) -> None:
    c = result["variants"]["c"]
    assert c["lost"] == 0
    assert c["double_effects"] == 0
    assert c["dead_lettered"] == 0
    assert c["processed"] == result["workload"]["unique_events"]


def test_tutorial_repeats_exactly_the_resends_it_cannot_recognise(result: dict[str, Any]) -> None:
    a = result["variants"]["a"]
    # It deduplicates on the envelope id, which a re-send does not keep.
    assert result["workload"]["resent_duplicates"] > 0
    assert a["double_effects"] == result["workload"]["resent_duplicates"]
    assert a["duplicates"] == 0
    assert a["lost"] == 0


def test_powertools_keyed_on_detail_catches_resends(result: dict[str, Any]) -> None:
    b = result["variants"]["b"]
    assert b["double_effects"] == 0
    assert b["lost"] == 0
    assert b["duplicates"] == result["workload"]["resent_duplicates"]


def test_gcevents_calls_genesys_far_less_than_the_tutorial(result: dict[str, Any]) -> None:
    a, c = result["variants"]["a"], result["variants"]["c"]
    assert c["genesys_calls"] < a["genesys_calls"]
    assert a["genesys_calls"] >= a["events"]  # one per event, plus the token
    assert "events/s" in render_table(result["variants"], {})


def test_under_a_rate_limit_the_tutorial_loses_events_and_gcevents_does_not() -> None:
    params = Params(events=60, conversations=12, batch_size=60, latency_ms=1.0, rate_per_minute=20)
    workload = make_workload(params.events, params.conversations, seed=3)
    with bench_env(params) as env:
        a = tutorial.run(env, workload, track_memory=False).metrics()
        c = gcevents_variant.run(env, workload, track_memory=False).metrics()
    # 20 lookups succeed; every other event was marked "processed" before its 429 and is never retried.
    assert a["genesys_rate_limited"] > 0
    assert a["lost"] > 0
    assert a["processed"] == 20
    assert a["processed"] + a["duplicates"] + a["lost"] == workload.total
    assert c["lost"] == 0
    assert c["double_effects"] == 0
    assert c["processed"] == workload.unique_events
