"""`python -m bench.run`: the three designs on one workload, one moto server and one Genesys simulator.

Prints a table with ratios of gcevents against the tutorial design and Powertools, checks the targets of issue 5
(PASS/MISS, never an assertion) and writes bench/results/latest.json."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import gcevents_variant, powertools_variant, tutorial
from .harness import BenchEnv, Params, VariantResult, Workload, bench_env, make_workload

PER_EVENT = frozenset({"a", "b"})  # sequential per-event designs: slow enough to need a prefix in a 6-minute run
ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"

VARIANTS: dict[str, Callable[..., VariantResult]] = {
    "a": tutorial.run,
    "b": powertools_variant.run,
    "c": gcevents_variant.run,
}

# What each design imports on its cold path (the handler module and what its first invocation needs).
IMPORTS = {
    "a": "import json, boto3, httpx",
    "b": (
        "import json, boto3, httpx; "
        "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response; "
        "from aws_lambda_powertools.utilities.idempotency import "
        "DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function"
    ),
    "c": "import gcevents.entrypoints.lambda_handler",
    # gcevents defers boto3 to the first invocation (build_runtime): this is its full cold path.
    "c_cold_path": (
        "import gcevents.entrypoints.lambda_handler, gcevents.adapters.dynamodb, gcevents.adapters.sqs, "
        "gcevents.adapters.genesys, boto3"
    ),
}

TARGETS = {
    "events_per_second_vs_a": 10.0,
    "events_per_second_vs_b": 3.0,
    "genesys_calls_per_event": 0.05,
    "dynamodb_requests_per_unique_event": 1.5,
    "handler_import_ms": 300.0,
}


# ------------------------------------------------------------------------------------------------ imports
_MARK = "@@bench-import-start@@"
_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\| ( *)(\S+)")


def import_time_ms(statement: str, runs: int = 5) -> float:
    """Best of `runs` fresh interpreters: the sum of the cumulative times of the top-level imports the statement
    triggers (interpreter start-up imports such as `site` happen before the marker and are left out)."""
    best = float("inf")
    code = f"import sys; sys.stderr.write({_MARK!r} + '\\n'); sys.stderr.flush(); {statement}"
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
            check=True,
        )
        _, _, after = done.stderr.partition(_MARK)
        total_us = 0
        for line in after.splitlines():
            match = _LINE.match(line)
            if match and not match.group(3):  # depth 0: cumulative already includes everything nested
                total_us += int(match.group(2))
        best = min(best, total_us / 1000)
    return round(best, 1)


# -------------------------------------------------------------------------------------------------- report
def machine() -> dict[str, Any]:
    load = os.getloadavg()
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in load],
        "date": datetime.now(tz=UTC).isoformat(timespec="seconds"),
    }


def ratios(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    out: dict[str, dict[str, float | None]] = {}
    c = metrics.get("c")
    if not c:
        return out
    for other in ("a", "b"):
        m = metrics.get(other)
        if not m:
            continue

        def ratio(key: str, inverse: bool = False, m: dict[str, Any] = m) -> float | None:
            mine, theirs = c[key], m[key]
            if mine is None or theirs is None:
                return None
            if inverse:
                mine, theirs = theirs, mine
            return round(mine / theirs, 2) if theirs else None

        out[f"c_vs_{other}"] = {
            "events_per_second": ratio("events_per_second"),
            # "fewer" ratios: how many times fewer calls / requests / less latency gcevents needs
            "genesys_calls_fewer": ratio("genesys_calls_per_event", inverse=True),
            "dynamodb_requests_fewer": ratio("dynamodb_requests_per_event", inverse=True),
            "peak_memory_ratio": ratio("peak_memory_mb"),
        }
    return out


def check_targets(metrics: dict[str, dict[str, Any]], imports: dict[str, float]) -> dict[str, dict[str, Any]]:
    c = metrics.get("c")
    results: dict[str, dict[str, Any]] = {}
    if not c:
        return results
    for other, key in (("a", "events_per_second_vs_a"), ("b", "events_per_second_vs_b")):
        if other in metrics and metrics[other]["events_per_second"]:
            value = round(c["events_per_second"] / metrics[other]["events_per_second"], 2)
            results[key] = {"value": value, "target": f">= {TARGETS[key]}", "pass": value >= TARGETS[key]}
    for key in ("genesys_calls_per_event", "dynamodb_requests_per_unique_event"):
        results[key] = {"value": c[key], "target": f"<= {TARGETS[key]}", "pass": c[key] <= TARGETS[key]}
    if "c" in imports:
        value = imports["c"]
        results["handler_import_ms"] = {
            "value": value,
            "target": f"< {TARGETS['handler_import_ms']}",
            "pass": value < TARGETS["handler_import_ms"],
        }
    return results


# (title, metric, format, ratio?): ratios only for rates, which do not depend on how many events a variant ran.
ROWS: list[tuple[str, str, str, bool]] = [
    ("events in (this variant)", "events", "{:d}", False),
    ("unique events in", "unique_events", "{:d}", False),
    ("events/s (wall)", "events_per_second", "{:.1f}", True),
    ("wall time s", "wall_seconds", "{:.1f}", False),
    ("invocations", "invocations", "{:d}", False),
    ("Genesys calls", "genesys_calls", "{:d}", False),
    ("Genesys calls / event", "genesys_calls_per_event", "{:.4f}", True),
    ("Genesys 429s", "genesys_rate_limited", "{:d}", False),
    ("min. at 300 calls/min", "genesys_minutes_at_300_per_min", "{:.1f}", False),
    ("DynamoDB requests", "dynamodb_requests", "{:d}", False),
    ("DynamoDB req / event", "dynamodb_requests_per_event", "{:.3f}", True),
    ("DynamoDB req / unique event", "dynamodb_requests_per_unique_event", "{:.3f}", True),
    ("batch latency p50 ms", "batch_latency_ms_p50", "{:.1f}", True),
    ("batch latency p99 ms", "batch_latency_ms_p99", "{:.1f}", True),
    ("peak memory MB (tracemalloc)", "peak_memory_mb", "{:.1f}", True),
    ("processed", "processed", "{:d}", False),
    ("duplicates skipped", "duplicates", "{:d}", False),
    ("lost", "lost", "{:d}", False),
    ("dead-lettered", "dead_lettered", "{:d}", False),
    ("double effects", "double_effects", "{:d}", False),
]


def render_table(metrics: dict[str, dict[str, Any]], imports: dict[str, float]) -> str:
    names = [n for n in ("a", "b", "c") if n in metrics]
    header = ["metric", *[f"({n})" for n in names]]
    if "c" in metrics:
        header += [f"c/{n}" for n in names if n != "c"]
    lines = [header]
    for title, key, fmt, with_ratio in ROWS:
        row = [title, *["-" if metrics[n][key] is None else fmt.format(metrics[n][key]) for n in names]]
        if "c" in metrics:
            for n in names:
                if n == "c":
                    continue
                theirs, mine = metrics[n][key], metrics["c"][key]
                usable = with_ratio and isinstance(theirs, int | float) and isinstance(mine, int | float) and theirs
                row.append(f"{mine / theirs:.2f}x" if usable else "-")
        lines.append(row)
    import_row = ["handler import ms (best of 5)", *[f"{imports[n]:.0f}" if n in imports else "-" for n in names]]
    if "c" in metrics:
        import_row += ["-" for n in names if n != "c"]
    lines.append(import_row)
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    out = []
    for index, row in enumerate(lines):
        out.append(
            "  ".join(
                str(cell).rjust(w) if i else str(cell).ljust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            )
        )
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------------- main
def run_benchmark(
    params: Params,
    variants: Sequence[str] = ("a", "b", "c"),
    *,
    track_memory: bool = True,
    imports: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    started = time.perf_counter()
    workload = make_workload(params.events, params.conversations, params.duplicate_rate, seed=params.seed)
    log(
        f"workload: {workload.total} events, {workload.unique_events} unique, {workload.duplicates} re-sent "
        f"(new envelope ids), {workload.conversations} conversations"
    )
    with bench_env(params) as env:
        results, peaks = _run_variants(env, workload, params, variants, track_memory, log)
    metrics = {name: result.metrics() for name, result in results.items()}
    for name, metric in metrics.items():
        metric["peak_memory_mb"] = round(peaks[name], 1) if name in peaks else None
        metric["memory_pass_events"] = params.memory_events if name in peaks else None
    import_ms: dict[str, float] = {}
    if imports:
        for key, statement in IMPORTS.items():
            if key[0] in variants:
                import_ms[key] = import_time_ms(statement)
    for name in metrics:
        metrics[name]["handler_import_ms"] = import_ms.get(name)
    return {
        "machine": machine(),
        "parameters": {**dataclasses.asdict(params), "variants": list(variants)},
        "workload": _workload_summary(workload, params.per_event_events),
        "variants": metrics,
        "import_ms": import_ms,
        "ratios": ratios(metrics),
        "targets": check_targets(metrics, import_ms),
        "run_seconds": round(time.perf_counter() - started, 1),
    }


def _run_variants(
    env: BenchEnv,
    workload: Workload,
    params: Params,
    variants: Sequence[str],
    track_memory: bool,
    log: Callable[[str], None],
) -> tuple[dict[str, VariantResult], dict[str, float]]:
    results: dict[str, VariantResult] = {}
    peaks: dict[str, float] = {}
    for name in variants:
        sample = workload.prefix(params.per_event_events) if name in PER_EVENT else workload
        log(f"running ({name}) on {sample.total} events ...")
        result = VARIANTS[name](env, sample, track_memory=False)
        results[name] = result
        m = result.metrics()
        log(f"  ({name}) {m['events_per_second']} events/s in {m['wall_seconds']} s; {m['notes']}")
    if track_memory and params.memory_events:
        # tracemalloc slows every allocation 2-3x, so memory has its own (short) pass on one prefix.
        memory_sample = workload.prefix(params.memory_events)
        for name in variants:
            log(f"memory pass ({name}) on {memory_sample.total} events ...")
            peaks[name] = VARIANTS[name](env, memory_sample, track_memory=True).peak_memory_mb
    return results, peaks


def _workload_summary(workload: Workload, per_event_events: int) -> dict[str, Any]:
    prefix = workload.prefix(per_event_events)
    return {
        "events": workload.total,
        "unique_events": workload.unique_events,
        "resent_duplicates": workload.duplicates,
        "conversations": workload.conversations,
        "per_event_prefix": {
            "events": prefix.total,
            "unique_events": prefix.unique_events,
            "resent_duplicates_within_prefix": prefix.duplicates,
            "conversations": prefix.conversations,
        },
    }


def _parser(defaults: Params) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--conversations", type=int, default=defaults.conversations)
    parser.add_argument("--duplicate-rate", type=float, default=defaults.duplicate_rate)
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms)
    parser.add_argument("--rate-per-minute", type=int, default=defaults.rate_per_minute)
    parser.add_argument("--visibility-timeout", type=float, default=defaults.visibility_timeout)
    parser.add_argument(
        "--per-event-events", type=int, default=defaults.per_event_events, help="prefix for (a) and (b); 0: all"
    )
    parser.add_argument("--memory-events", type=int, default=defaults.memory_events, help="tracemalloc pass size")
    # Like AWS, the emulator runs outside the measured process by default; in-process moto competes for our GIL.
    parser.add_argument(
        "--moto-in-process", action="store_true", help="run moto in this process (its CPU then competes for our GIL)"
    )
    parser.add_argument("--aws-rtt-ms", type=float, default=0.0, help="model a network round trip per AWS request")
    parser.add_argument(
        "--claim-mode", choices=("per_key", "transaction"), default=defaults.claim_mode, help="gcevents' claim mode"
    )
    parser.add_argument("--variants", default="a,b,c", help="comma-separated subset of a,b,c")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="600 events over 120 conversations (smoke run)")
    parser.add_argument("--no-memory", action="store_true", help="skip tracemalloc (it slows every variant)")
    parser.add_argument("--no-imports", action="store_true", help="skip the import-time subprocesses")
    return parser


def _print_result(result: dict[str, Any]) -> None:
    print()
    print(render_table(result["variants"], result["import_ms"]))
    if "c_cold_path" in result["import_ms"]:
        print(
            f"gcevents cold path (handler + boto3 + adapters, loaded on first invocation): "
            f"{result['import_ms']['c_cold_path']:.0f} ms"
        )
    print()
    for key, target in result["targets"].items():
        print(f"  {'PASS' if target['pass'] else 'MISS'}  {key}: {target['value']} (target {target['target']})")
    m = result["machine"]
    print(
        f"\nmachine: {m['nproc']} cores, Python {m['python']}, load {m['load_average']} "
        f"(before: {m['load_average_before']}); run {result['run_seconds']} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser(Params())
    args = parser.parse_args(argv)

    events, conversations = args.events, args.conversations
    if args.quick:
        events, conversations = 600, 120
        args.memory_events = min(args.memory_events, 200)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants: {unknown}")
    params = Params(
        events=events,
        conversations=conversations,
        duplicate_rate=args.duplicate_rate,
        batch_size=args.batch_size,
        latency_ms=args.latency_ms,
        rate_per_minute=args.rate_per_minute,
        visibility_timeout=args.visibility_timeout,
        per_event_events=args.per_event_events,
        memory_events=0 if args.no_memory else args.memory_events,
        moto_process=not args.moto_in_process,
        aws_rtt_ms=args.aws_rtt_ms,
        claim_mode=args.claim_mode,
    )
    load_before = os.getloadavg()
    result = run_benchmark(params, variants, track_memory=not args.no_memory, imports=not args.no_imports)
    result["machine"]["load_average_before"] = [round(x, 2) for x in load_before]
    _print_result(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
