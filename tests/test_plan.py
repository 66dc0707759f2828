"""The capacity planner: every output within AWS limits, the arithmetic of a worked example, and the spike
model's monotonicity."""

from __future__ import annotations

import argparse
import dataclasses
import json
import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gcevents.entrypoints.cli import plan as plan_cli
from gcevents.ops import plan as planner
from gcevents.ops.plan import Plan, PlanInputs, plan, spike_profile
from gcevents.variables import GCEVENTS_CLOCK_SKEW_MARGIN

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def inputs(draw: st.DrawFn) -> PlanInputs:
    rate = draw(st.floats(0, 5_000))
    return PlanInputs(
        rate=rate,
        peak_rate=rate + draw(st.floats(0.1, 50_000)),
        duration=draw(st.floats(0, 7_200)),
        event_ms=draw(st.floats(0.05, 500)),
        batch_overhead_ms=draw(st.floats(0, 5_000)),
        api_latency_ms=draw(st.floats(0, 5_000)),
        api_limit=draw(st.integers(1, 10_000)),
        api_share=draw(st.floats(0.05, 1.0)),
        api_max_wait=draw(st.floats(0, 60)),
        chunk=draw(st.integers(1, 500)),
        enrich_fraction=draw(st.floats(0, 1)),
        account_headroom=draw(st.integers(2, 10_000)),
        event_kb=draw(st.floats(0.1, 1_024)),
        max_latency=draw(st.floats(0, 600)),
        max_batch_seconds=draw(st.floats(0.1, 900)),
        safety=draw(st.floats(1, 3)),
        lag_retries=draw(st.integers(0, 20)),
        transient_retries=draw(st.integers(0, 20)),
        crash_retries=draw(st.integers(0, 5)),
        reserve=draw(st.booleans()),
        poller_mode=draw(st.sampled_from(planner.POLLER_MODES)),
        min_pollers=draw(st.integers(2, 200)),
        budget_scope=draw(st.sampled_from(planner.BUDGET_SCOPES)),
        pacing=draw(st.sampled_from(planner.PACINGS)),
        clients=draw(st.integers(1, 4)),
    )


def assert_within_aws_limits(p: Plan) -> None:
    assert 1 <= p.batch_size <= 10_000
    assert 0 <= p.window <= 300
    assert p.batch_size <= 10 or p.window >= 1
    if p.poller_mode == "standard":
        assert 2 <= p.max_concurrency <= 1000
        assert p.minimum_pollers == p.maximum_pollers == 0
    else:
        assert 2 <= p.minimum_pollers <= 200
        assert p.minimum_pollers <= p.maximum_pollers <= 2000
        assert p.max_concurrency <= min(20_000, 10 * p.maximum_pollers)
    assert p.max_concurrency <= max(2, p.inputs.account_headroom)
    assert 1 <= p.function_timeout <= 900
    assert p.visibility_timeout >= 6 * p.function_timeout + p.window
    assert p.visibility_timeout <= 43_200
    assert p.function_timeout <= p.visibility_timeout  # Lambda rejects the mapping otherwise
    assert p.batch_size * (p.inputs.event_kb * 1024 + planner.RECORD_OVERHEAD_BYTES) <= 6 * 1024 * 1024
    assert p.reserved_concurrency == 0 or p.inputs.reserve
    assert p.poller_mode == "provisioned" or p.reserved_concurrency in (0, p.max_concurrency)
    assert 5 <= p.max_receive_count <= 1000
    assert p.function_timeout in planner.TIMEOUT_CHOICES
    assert p.window in planner.WINDOW_CHOICES
    assert p.genesys_rate_per_minute >= (1 if p.enriches and p.inputs.pacing == "static" else 0)
    assert p.spike_poller_cost >= 0
    assert p.monthly_poller_cost >= 0


@FAST
@given(inputs())
def test_every_output_respects_every_aws_limit(i: PlanInputs) -> None:
    p = plan(i)
    assert_within_aws_limits(p)
    overrides = p.parameter_overrides()
    assert all(isinstance(v, int) for k, v in overrides.items() if k not in ("PollerMode", "GenesysBudgetScope"))
    # Only the chosen mode's settings (ProvisionedPollerConfig and MaximumConcurrency exclude each other), and
    # Genesys pacing only when there is enrichment.
    assert ("MaximumConcurrency" in overrides) == (p.poller_mode == "standard")
    assert ("MaximumPollers" in overrides) == (p.poller_mode == "provisioned")
    assert ("GenesysRatePerMinute" in overrides) == (p.calls_per_batch > 0)
    assert p.spike.peak_backlog >= 0
    assert p.spike.drain_seconds >= 0
    json.dumps(p.to_dict())  # serialisable: no inf, no custom objects


@FAST
@given(inputs())
def test_the_api_budget_is_respected_when_the_planner_can(i: PlanInputs) -> None:
    p = plan(i)
    budget = i.api_limit * i.api_share * i.clients  # each OAuth client has its token, and its budget
    if i.budget_scope == "token":  # each instance within its own tokens' budget
        assert p.api_calls_per_minute <= budget * p.max_concurrency * (1 + 1e-9) + 1e-6
        return
    assert p.api_calls_per_minute <= budget + 1e-6
    if p.calls_per_batch and i.poller_mode == "standard" and not any("cannot feed" in w for w in p.warnings):
        # concurrency x batches/min x calls/batch <= limit x share
        assert p.max_concurrency * 60 / p.batch_seconds * p.calls_per_batch <= budget + 1e-6


@FAST
@given(inputs(), st.floats(1.0, 10.0))
def test_drain_time_is_monotonic_in_the_peak_rate(i: PlanInputs, factor: float) -> None:
    low = plan(i)
    high = plan(dataclasses.replace(i, peak_rate=i.peak_rate * factor))
    # Only against the same fleet: the planner sizes concurrency for the peak, and a fleet sized for a higher peak
    # may clear sooner (41 batches at 35,748/s took 2,514 s to clear; 57 at 49,153/s took 389 s).
    assume(high.parameter_overrides() == low.parameter_overrides())
    assert at_least(high.spike.peak_backlog, low.spike.peak_backlog)
    assert at_least(high.spike.clear_seconds, low.spike.clear_seconds)
    assert at_least(high.spike.drain_seconds, low.spike.drain_seconds)


@FAST
@given(
    rate=st.floats(0, 1_000),
    extra=st.floats(0, 10_000),
    more=st.floats(0, 10_000),
    duration=st.floats(0, 3_600),
    start=st.floats(0, 5_000),
    ramp=st.floats(0, 2_000),
    capacity=st.floats(1, 20_000),
)
def test_spike_model_is_monotonic_for_a_fixed_deployment(
    rate: float, extra: float, more: float, duration: float, start: float, ramp: float, capacity: float
) -> None:
    common = {"rate": rate, "duration": duration, "start_capacity": start, "ramp": ramp, "capacity": capacity}
    low = spike_profile(peak_rate=rate + extra, **common)
    high = spike_profile(peak_rate=rate + extra + more, **common)
    assert at_least(high.peak_backlog, low.peak_backlog)
    assert at_least(high.drain_seconds, low.drain_seconds)
    for spike in (low, high):  # no event waits longer than the queue stays non-empty
        assert 0 <= spike.worst_wait <= spike.clear_seconds * (1 + 1e-9) + 1e-6


def at_least(a: float, b: float) -> bool:
    """a >= b up to float noise (inf included)."""
    return a >= b or (math.isfinite(b) and a >= b - 1e-6 * max(1.0, b))


def test_worked_example() -> None:
    """50/s steady, 2,000/s for 10 minutes, 2 KB events, 20 % enriched, defaults otherwise (token budget scope,
    standard poller mode, adaptive pacing)."""
    p = plan(PlanInputs(rate=50, peak_rate=2_000, duration=600))
    # window: largest allowed <= 5 s latency budget
    assert p.window == 5
    # payload cap floor(6 MiB / 3 KiB) = 2048; aligned down so 20 % = 400 lookups fill 4 chunks of 100
    assert p.batch_size == 2_000
    assert p.calls_per_batch == 4
    # (150 + 2000 x 1.3 ms CPU x 1769 / 512 MB + 4 x 300) ms: the template's 512 MB get ~0.29 of a vCPU
    assert p.batch_seconds == pytest.approx(10.3332, abs=1e-4)
    # max(3 x 10.33, 10.33 + 20) + 5 = 36.0 -> 60
    assert p.function_timeout == 60
    assert p.visibility_timeout == 6 * 60 + 5
    # per instance min(2000 / 10.33 = 193.6/s, its own token: 300 x 0.8 / 60 / 4 x 2000 = 2000/s) = 193.6/s;
    # the peak needs ceil(1.2 x 2000 / 193.6) = 13 and the API (one token per instance) does not cap it
    assert p.max_concurrency == 13
    assert p.reserved_concurrency == 0  # off unless --reserve
    assert p.genesys_rate_per_minute == 0  # adaptive
    assert p.max_receive_count == 7  # 1 + 2 lag + 2 transient + 1 crash + 1 wait for a held key
    assert p.capacity == pytest.approx(13 * 2_000 / p.batch_seconds)
    # starts at 5 instances (968/s) and reaches 13 within two seconds: a few hundred events queue, none wait long
    assert p.spike.peak_backlog < 1_000
    assert p.spike.drain_seconds == 0
    assert p.spike.worst_wait < 1
    assert not p.warnings
    assert p.to_sam() == (
        "BatchSize=2000 MaximumBatchingWindowInSeconds=5 PollerMode=standard MaximumConcurrency=13 "
        "ReservedConcurrency=0 FunctionTimeout=60 MaxReceiveCount=7 GenesysBudgetScope=token "
        "GenesysRatePerMinute=0 GenesysBulkChunk=100"
    )


def test_worked_example_with_one_shared_budget_and_the_static_split() -> None:
    """The same load when the fleet shares one budget (the old assumption): the API caps the concurrency at
    floor(240 / (60 / 10.33 x 4)) = 10, each instance is paced to 240 / 10 = 24/min, and a backlog builds."""
    p = plan(PlanInputs(rate=50, peak_rate=2_000, duration=600, budget_scope="shared", pacing="static"))
    assert p.max_concurrency == 10
    assert p.genesys_rate_per_minute == 24
    assert p.capacity == pytest.approx(10 * 2_000 / p.batch_seconds)
    # the capacity (1936/s) is reached within 2 s of ramp; backlog ~(2000 - 1935.5) x 600
    assert p.spike.peak_backlog == pytest.approx((2_000 - p.capacity) * 600, rel=0.02)
    assert p.spike.drain_seconds == pytest.approx(p.spike.peak_backlog / (p.capacity - 50))
    # first in, first out: the last event of the spike waits for the whole backlog ahead of it
    assert p.spike.worst_wait == pytest.approx(p.spike.peak_backlog / p.capacity, rel=1e-3)
    assert any("capped at 10" in w for w in p.warnings)
    drain = next(s for s in p.steps if s.name == "drain after the spike (s)")
    assert drain.formula == f"{p.spike.end_backlog:.0f} queued at the end / ({p.capacity:.1f} - 50 steady)"
    assert "GenesysRatePerMinute=24 " in p.to_sam()


def test_more_oauth_clients_lift_the_shared_budget_cap() -> None:
    """Two clients: two budgets (one bucket each), so the API allows twice the concurrency (20, where one client's
    capped the peak's 13 at 10); a static rate stays per token. The text shows the clients."""
    one = plan(PlanInputs(rate=50, peak_rate=2_000, duration=600, budget_scope="shared", pacing="static"))
    two = plan(PlanInputs(rate=50, peak_rate=2_000, duration=600, budget_scope="shared", pacing="static", clients=2))
    allowed = next(s for s in two.steps if s.name == "concurrency the shared API budget allows")
    assert (allowed.value, "2 clients" in allowed.formula) == (20, True)
    assert (one.max_concurrency, two.max_concurrency) == (10, 13)
    assert not any("capped" in w for w in two.warnings)
    assert two.spike.peak_backlog < one.spike.peak_backlog
    assert 1 <= two.genesys_rate_per_minute <= one.genesys_rate_per_minute


def test_max_receive_count_never_drops_below_five() -> None:
    p = plan(PlanInputs(rate=1, peak_rate=10, duration=60, lag_retries=0, transient_retries=0, crash_retries=0))
    assert p.max_receive_count == 5  # not 2: AWS's floor
    more = plan(PlanInputs(rate=1, peak_rate=10, duration=60, lag_retries=3, transient_retries=4))
    assert more.max_receive_count == 10


def test_max_receive_count_leaves_room_for_crashes_and_held_keys() -> None:
    """A crash costs one receive (the message returns after 6 x the timeout, its lease long over), a key another
    invocation holds one more (the record waits until that lease ends); AWS's floor of 5 holds either way."""
    base = PlanInputs(rate=10, peak_rate=100, duration=60)
    assert plan(base).max_receive_count == 1 + 2 + 2 + 1 + 1
    assert plan(dataclasses.replace(base, crash_retries=3)).max_receive_count == 9
    p = plan(base)
    # The lease (the invocation deadline) and the clock-skew margin are over before a crashed message returns.
    assert p.visibility_timeout > p.function_timeout + GCEVENTS_CLOCK_SKEW_MARGIN.default
    with pytest.raises(ValueError, match="retry counts"):
        plan(dataclasses.replace(base, crash_retries=-1))


def test_the_worker_needs_two_receives_per_crash() -> None:
    """Its lease (one visibility timeout, renewed with the visibility) is just over when a crashed batch's messages
    return: the crashed delivery plus, at most, one wait for that lease (tests/test_worker_reliability.py)."""
    assert planner.worker_max_receive_count() == 1 + 2 + 2 + 2 * 1 + 1
    assert planner.worker_max_receive_count(0, 0, 0) == planner.MIN_RECEIVE_COUNT


def test_reserved_concurrency_only_when_asked() -> None:
    base = PlanInputs(rate=50, peak_rate=2_000, duration=600)
    assert plan(base).reserved_concurrency == 0
    reserved = plan(dataclasses.replace(base, reserve=True))
    assert reserved.reserved_concurrency == reserved.max_concurrency == 13


def test_no_genesys_pacing_without_enrichment() -> None:
    p = plan(PlanInputs(rate=50, peak_rate=2_000, duration=600, enrich_fraction=0))
    assert not {"GenesysRatePerMinute", "GenesysBudgetScope", "GenesysBulkChunk"} & set(p.parameter_overrides())


def test_provisioned_mode_sizes_pollers_instead_of_maximum_concurrency() -> None:
    p = plan(PlanInputs(rate=500, peak_rate=10_000, duration=900, poller_mode="provisioned"))
    overrides = p.parameter_overrides()
    assert "MaximumConcurrency" not in overrides
    assert overrides["PollerMode"] == "provisioned"
    # 2000-event batches of 3 KB records: one instance moves 193.6 x 3 KB/s, so a poller's ~1 MB/s feeds 1.76
    # instances; 62 instances need ceil(62 / 1.76) = 36 pollers, whose 1 MB/s each bound the capacity; two warm
    # pollers carry the steady 500/s.
    assert (p.minimum_pollers, p.maximum_pollers) == (2, 36)
    assert p.capacity == pytest.approx(36 * 1024 * 1024 / 3072)
    assert p.max_concurrency == 360
    assert 0 < p.spike_poller_cost < 1  # ~27 extra pollers for 15 minutes at $0.00925/h
    assert p.monthly_poller_cost == pytest.approx(2 * 730 * 0.00925)


def test_provisioned_ramps_faster_than_standard_for_small_batches() -> None:
    """10-event batches (no batching window): the +300/min ramp of standard mode is what the spike runs into."""
    common = {"rate": 5, "peak_rate": 2_000, "duration": 300, "max_latency": 0}
    standard = plan(PlanInputs(**common))  # type: ignore[arg-type]
    provisioned = plan(PlanInputs(**common, poller_mode="provisioned", min_pollers=2))  # type: ignore[arg-type]
    assert provisioned.spike.peak_backlog < standard.spike.peak_backlog
    assert provisioned.spike.worst_wait < standard.spike.worst_wait


def test_compare_reports_both_modes_and_a_recommendation() -> None:
    both = planner.compare(PlanInputs(rate=50, peak_rate=2_000, duration=600))
    assert (both.standard.poller_mode, both.provisioned.poller_mode) == ("standard", "provisioned")
    assert both.recommended == "standard"  # both keep the wait within 60 s; standard costs no pollers
    assert "no poller cost" in both.why
    slow = planner.compare(
        PlanInputs(rate=5, peak_rate=2_000, duration=300, max_latency=0, latency_target=float(3))
    )  # 10-event batches: only the faster ramp keeps the wait within 3 s
    assert slow.recommended == "provisioned"
    assert slow.chosen is slow.provisioned


def test_no_window_means_at_most_ten_per_batch() -> None:
    p = plan(PlanInputs(rate=1, peak_rate=10, duration=60, max_latency=0.5))
    assert p.window == 0
    assert p.batch_size <= 10


def test_large_events_are_capped_by_the_payload_limit() -> None:
    p = plan(PlanInputs(rate=1, peak_rate=10, duration=60, event_kb=255, enrich_fraction=0))
    assert p.batch_size == 6 * 1024 * 1024 // (255 * 1024 + 1024)


def test_capacity_below_steady_rate_never_drains() -> None:
    p = plan(PlanInputs(rate=5_000, peak_rate=6_000, duration=60, api_limit=1, enrich_fraction=1))
    assert math.isinf(p.spike.drain_seconds)
    assert p.to_dict()["spike"]["drain_seconds"] is None
    assert any("never drains" in w for w in p.warnings)


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="below the steady rate"):
        plan(PlanInputs(rate=10, peak_rate=5, duration=1))


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="gcevents")
    plan_cli.register(parser.add_subparsers())
    args = parser.parse_args(argv)
    code = args.func(args)
    return code, capsys.readouterr().out


def test_cli_formats(capsys: pytest.CaptureFixture[str]) -> None:
    base = ["plan", "--rate", "50", "--peak-rate", "2000", "--duration", "600"]
    code, text = _run(base, capsys)
    assert code == 0
    assert "BatchSize" in text
    assert "floor(6291456 B" in text
    assert "sam deploy --parameter-overrides" in text
    code, sam = _run([*base, "--format", "sam"], capsys)
    assert code == 0
    assert sam.strip().startswith("BatchSize=2000 ")
    code, out = _run([*base, "--json"], capsys)
    assert json.loads(out)["parameter_overrides"]["MaximumConcurrency"] == 13
    code, _ = _run(["plan", "--rate", "10", "--peak-rate", "5", "--duration", "1"], capsys)
    assert code == 2


def test_cli_compare_json_reports_backlog_drain_and_cost_for_both_modes(capsys: pytest.CaptureFixture[str]) -> None:
    """The issue's done-when: `gcevents plan --rate 50 --peak-rate 2000 --duration 600 --compare --json`."""
    base = ["plan", "--rate", "50", "--peak-rate", "2000", "--duration", "600", "--compare"]
    code, out = _run([*base, "--json"], capsys)
    assert code == 0
    document = json.loads(out)
    for mode in ("standard", "provisioned"):
        plan_of_mode = document[mode]
        assert plan_of_mode["poller_mode"] == mode
        assert {"peak_backlog", "drain_seconds", "worst_wait"} <= set(plan_of_mode["spike"])
        assert "spike_poller_cost" in plan_of_mode
    assert document["recommendation"]["poller_mode"] in ("standard", "provisioned")
    assert document["recommendation"]["why"]
    code, text = _run(base, capsys)
    assert "recommended:" in text
    assert "worst queue wait" in text
    code, sam = _run([*base, "--format", "sam", "--poller-mode", "provisioned"], capsys)
    assert "PollerMode=standard" in sam  # --compare emits the recommended mode's parameters
    code, sam = _run(
        [
            "plan",
            "--rate",
            "50",
            "--peak-rate",
            "2000",
            "--duration",
            "600",
            "--format",
            "sam",
            "--poller-mode",
            "provisioned",
        ],
        capsys,
    )
    assert "PollerMode=provisioned MinimumPollers=2 MaximumPollers=" in sam
    assert "MaximumConcurrency" not in sam


def test_cpu_time_per_event_stretches_below_a_full_vcpu() -> None:
    """--event-ms is CPU on a full vCPU (the benchmark's number); Lambda gives one vCPU at 1,769 MB."""
    full = plan(PlanInputs(rate=50, peak_rate=2_000, duration=600, memory_mb=1_769))
    assert full.batch_seconds == pytest.approx((150 + 2_000 * 1.3 + 4 * 300) / 1000)
    assert plan(PlanInputs(rate=50, peak_rate=2_000, duration=600, memory_mb=3_008)).batch_seconds == full.batch_seconds
    half = plan(PlanInputs(rate=50, peak_rate=2_000, duration=600, memory_mb=884))
    assert half.batch_seconds == pytest.approx((150 + 2_000 * 1.3 * 1_769 / 884 + 4 * 300) / 1000)
    with pytest.raises(ValueError, match="memory"):
        plan(PlanInputs(rate=50, peak_rate=2_000, duration=600, memory_mb=64))


@pytest.mark.parametrize("scope", ["token", "shared"])
def test_static_pacing_is_per_token_whatever_the_number_of_clients(scope: str) -> None:
    """Review: N clients give N per-token budgets; the static GenesysRatePerMinute paces each token, so with the
    same concurrency it is the same for 1 or 3 clients, and the shared cap grows N-fold."""
    base = PlanInputs(rate=20, peak_rate=200, duration=600, budget_scope=scope, pacing="static")
    one, three = plan(base), plan(dataclasses.replace(base, clients=3))
    assert one.max_concurrency == three.max_concurrency
    assert one.genesys_rate_per_minute == three.genesys_rate_per_minute
    assert one.genesys_rate_per_minute <= 300 * 0.8
    assert "300 /min per token x 3 clients" in json.dumps(three.to_dict())
