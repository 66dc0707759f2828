"""The benchmark harness on a tiny workload: behaviour and accounting, not speed (timings are never asserted)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bench.harness import Params, is_effect_topic, make_workload  # `bench` sits next to `src` (conftest)
from bench.run import render_table, run_benchmark

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    params = Params(events=110, batch_sizes=(50,), latency_ms=1.0, aws_rtt_ms=0.0, rate_per_minute=100_000)
    return run_benchmark(params, ("a", "b", "c"), cold=False, log=lambda _: None)


def test_every_design_does_the_whole_job_and_only_the_tutorial_repeats_effects(result: dict[str, Any]) -> None:
    workload = make_workload(110)
    topics = {json.loads(b)["detail"]["topicName"] for b in workload.bodies}
    resent_effects = sum(1 for b in workload.bodies if is_effect_topic(json.loads(b)["detail"]["topicName"])) - len(
        workload.effect_identities
    )
    assert resent_effects > 0
    assert len(topics) > 10
    runs = result["runs"]
    for key in ("a@-", "b@50", "c@50"):
        assert runs[key]["lost"] == 0, key
        assert runs[key]["events"] == workload.total
    # The tutorial keys on the envelope id, which a re-send does not keep: each re-sent effect runs again.
    assert runs["a@-"]["double_effects"] == resent_effects
    assert runs["b@50"]["double_effects"] == runs["c@50"]["double_effects"] == 0
    assert runs["c@50"]["correct"] == workload.unique_events
    assert runs["c@50"]["dead_lettered"] == 0


def test_units_requests_and_dollars_are_reported(result: dict[str, Any]) -> None:
    c = result["runs"]["c@50"]
    assert c["write_units_per_unique_event"] > 0
    assert c["read_units_per_unique_event"] > 0
    assert c["dollars_per_million_events"] > c["bill"]["sqs"] > 0
    assert c["genesys_api_calls"] < result["runs"]["a@-"]["genesys_api_calls"]
    table = render_table({"(b) Powertools": result["runs"]["b@50"], "(c) gcevents": c})
    assert "write units / unique event" in table
    assert "c/(b)" in table


def test_under_a_rate_limit_the_tutorial_loses_events_and_gcevents_does_not() -> None:
    params = Params(events=66, batch_sizes=(66,), latency_ms=1.0, aws_rtt_ms=0.0, rate_per_minute=5)
    runs = run_benchmark(params, ("a", "c"), cold=False, log=lambda _: None)["runs"]
    a, c = runs["a@-"], runs["c@66"]
    # Five lookups succeed; every other effect event was marked "processed" before its 429 and is never retried.
    assert a["genesys_rate_limited"] > 0
    assert a["lost"] > 0
    assert c["lost"] == 0
    assert c["double_effects"] == 0
