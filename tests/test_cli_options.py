"""Command-line options map onto their dataclasses through one helper; flags and defaults stay as they were."""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass

import pytest

from gcevents.entrypoints.cli import build_parser
from gcevents.entrypoints.cli.options import add_option, options_from_args
from gcevents.entrypoints.cli.plan import inputs_from_args
from gcevents.entrypoints.cli.process import ProcessOptions
from gcevents.entrypoints.demo import DemoOptions
from gcevents.entrypoints.worker import WorkerSettings
from gcevents.ops.plan import PlanInputs
from gcevents.testing.genesys import SimulatorOptions


@dataclass(frozen=True)
class Example:
    needed: float
    count: int = 3
    ratio: float = 0.5
    name: str = "x"
    flag: bool = False


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def test_add_option_takes_default_type_and_requirement_from_the_field() -> None:
    parser = argparse.ArgumentParser()
    add_option(parser, "--needed", Example)
    add_option(parser, "--count", Example)
    add_option(parser, "--share", Example, "ratio", help="a share")
    add_option(parser, "--name", Example)
    add_option(parser, "--flag", Example, action="store_true")
    args = parser.parse_args(["--needed", "1.5", "--share", "0.25"])
    assert options_from_args(Example, args) == Example(needed=1.5, ratio=0.25)
    assert options_from_args(Example, parser.parse_args(["--needed", "2", "--count", "4", "--flag"])) == Example(
        needed=2.0, count=4, flag=True
    )
    assert options_from_args(Example, args, name="y").name == "y"
    with pytest.raises(SystemExit):
        parser.parse_args([])  # --needed has no default: required
    with pytest.raises(SystemExit):
        parser.parse_args(["--needed", "1", "--count", "1.5"])  # an int field takes integers
    with pytest.raises(AttributeError, match="no field 'missing'"):
        add_option(parser, "--missing", Example)
    with pytest.raises(TypeError):
        options_from_args(int, args)


def test_commands_default_to_their_dataclass_defaults() -> None:
    plan = inputs_from_args(parse(["plan", "--rate", "10", "--peak-rate", "100", "--duration", "60"]))
    assert plan == PlanInputs(rate=10.0, peak_rate=100.0, duration=60.0)
    assert options_from_args(WorkerSettings, parse(["worker", "--sqlite-queue", "q.db"])) == WorkerSettings()
    assert options_from_args(DemoOptions, parse(["demo"])) == DemoOptions()
    assert options_from_args(ProcessOptions, parse(["process", "f.jsonl"])) == ProcessOptions()
    simulate = parse(["simulate-genesys"])
    assert options_from_args(SimulatorOptions, simulate) == SimulatorOptions(port=8089)


def test_every_flag_reaches_its_field() -> None:
    args = parse(
        shlex.split(
            "plan --rate 1 --peak-rate 2 --duration 3 --event-ms 4 --batch-overhead-ms 5 --api-latency-ms 6"
            " --api-limit 7 --api-share 0.5 --api-max-wait 9 --chunk 10 --enrich-fraction 0.1"
            " --account-headroom 12 --event-kb 13 --max-latency 14 --max-batch-seconds 15 --safety 1.6 --lag-retries 17"
            " --transient-retries 18 --reserve --poller-mode provisioned --min-pollers 19 --poller-price 0.5"
            " --budget-scope shared --pacing static --latency-target 20"
        )
    )
    assert inputs_from_args(args) == PlanInputs(
        rate=1,
        peak_rate=2,
        duration=3,
        event_ms=4,
        batch_overhead_ms=5,
        api_latency_ms=6,
        api_limit=7,
        api_share=0.5,
        api_max_wait=9,
        chunk=10,
        enrich_fraction=0.1,
        account_headroom=12,
        event_kb=13,
        max_latency=14,
        max_batch_seconds=15,
        safety=1.6,
        lag_retries=17,
        transient_retries=18,
        reserve=True,
        poller_mode="provisioned",
        min_pollers=19,
        poller_price=0.5,
        budget_scope="shared",
        pacing="static",
        latency_target=20,
    )
    worker = parse(
        shlex.split(
            "worker --queue-url u --concurrency 3 --batch-size 4 --batch-window 5 --visibility-timeout 6 --wait 7"
            " --batch-time-limit 8"
        )
    )
    assert options_from_args(WorkerSettings, worker) == WorkerSettings(
        concurrency=3, batch_size=4, batch_window=5, visibility_timeout=6, wait_seconds=7, batch_time_limit=8
    )
    demo = parse(shlex.split("demo --events 5 --duplicate-rate 0.5 --workers 3 --batch-size 7 --seed 8 --dir d"))
    assert options_from_args(DemoOptions, demo) == DemoOptions(
        events=5, duplicate_rate=0.5, workers=3, batch_size=7, seed=8, directory="d"
    )
    simulate = parse(
        shlex.split(
            "simulate-genesys --host h --port 1 --client-id i --client-secret s --token-expires-in 2"
            " --rate-per-minute 0 --rate-window 3 --latency-ms 4 --error-rate 0.5 --slow-rate 0.25 --slow-ms 7"
            " --lag-fraction 0.125 --lag-lookups 9 --max-ids 10 --seed 11"
        )
    )
    assert options_from_args(SimulatorOptions, simulate, rate_limit_per_minute=None) == SimulatorOptions(
        host="h",
        port=1,
        client_id="i",
        client_secret="s",
        token_expires_in=2,
        rate_limit_per_minute=None,
        rate_window_seconds=3,
        latency_ms=4,
        error_rate=0.5,
        slow_rate=0.25,
        slow_ms=7,
        lagging_fraction=0.125,
        lag_lookups=9,
        max_ids_per_request=10,
        seed=11,
    )
    process = parse(["process", "-", "--batch-size", "5", "--max-attempts", "6", "--max-wait", "0.5"])
    assert options_from_args(ProcessOptions, process) == ProcessOptions(batch_size=5, max_attempts=6, max_wait=0.5)
