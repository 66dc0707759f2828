"""`python -m bench.run`: the three designs on one workload, one AWS and one Genesys simulator, at several batch sizes.

Prints one table per batch size with ratios of gcevents against the tutorial design and Powertools, the cold path of
each design, PASS/MISS against the targets of issue 15 (never an assertion), and writes bench/results/latest.json."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .harness import Job, Params, aws_server, genesys_simulator, make_workload, run_in_child

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "latest.json"

# The cold path of each design: what its first invocation loads and builds before the first request (boto3 and the
# AWS clients included for all three). Measured as process CPU time in fresh interpreters, with .pyc files.
COLD_PATHS = {
    "a": (
        "import json, boto3, httpx",
        "d = boto3.resource('dynamodb'); d.Table('idem'); d.Table('state'); httpx.Client(timeout=10.0)",
    ),
    "b": (
        "import json, boto3, httpx; "
        "from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response; "
        "from aws_lambda_powertools.utilities.idempotency import "
        "DynamoDBPersistenceLayer, IdempotencyConfig, idempotent_function",
        "c = boto3.client('dynamodb'); DynamoDBPersistenceLayer(table_name='idem', boto3_client=c); "
        "BatchProcessor(event_type=EventType.SQS); httpx.Client(timeout=10.0)",
    ),
    # The handler module, then what `get_runtime()` imports (botocore, which `make_client` imports when it is first
    # called, included) and builds on the first invocation.
    "c": (
        "import botocore.session, botocore.config, botocore.client; "
        "import gcevents.entrypoints.lambda_handler as h; from gcevents.config import Config; "
        "from gcevents.entrypoints.runtime import build_runtime; "
        "from gcevents.adapters import aws, dynamodb, sqs, genesys; "
        "import gcevents.core.projection",
        "build_runtime(Config.from_env({'GCEVENTS_IDEMPOTENCY_STORE': 'dynamodb:idem', "
        "'GCEVENTS_STATE_STORE': 'dynamodb:state', 'GCEVENTS_DLQ': 'sqs:https://sqs.us-east-1.amazonaws.com/1/dlq', "
        "'GENESYS_CLIENT_ID': 'x', 'GENESYS_CLIENT_SECRET': 'y', 'GENESYS_REGION': 'mypurecloud.com'}))",
    ),
}
_COLD_SNIPPET = """
import sys, time
t0 = time.process_time()
{imports}
t1 = time.process_time()
{build}
t2 = time.process_time()
print((t1 - t0) * 1000, (t2 - t0) * 1000)
"""

TARGETS: dict[str, tuple[str, float]] = {
    "cpu_ms_per_event@100": ("<=", 1.0),
    "dynamodb_requests_per_unique_event@100": ("<=", 1.1),
    "write_units_per_unique_event@100": ("<=", 1.0),
    "dollars_per_million_vs_b@100": (">=", 4.0),  # how many times cheaper than Powertools
    "correct_effects_per_second_vs_b@100": (">=", 20.0),
    "genesys_calls_per_event@100": ("<=", 0.01),
    "genesys_calls_per_event@1000": ("<=", 0.01),
    "cold_path_imports_ms": ("<=", 250.0),
    "lost_and_double_effects": ("<=", 0.0),
}


# ------------------------------------------------------------------------------------------------ cold path
def cold_path_ms(design: str, runs: int = 7) -> dict[str, float]:
    """Median CPU ms of the design's imports, and of imports + first-invocation setup, over `runs` fresh
    interpreters (after one that writes any missing .pyc)."""
    imports, build = COLD_PATHS[design]
    code = _COLD_SNIPPET.format(imports=imports, build=build)
    env = {
        **os.environ,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "x",
        "AWS_SECRET_ACCESS_KEY": "y",
    }
    samples: list[tuple[float, float]] = []
    for index in range(runs + 1):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env)
        if done.returncode != 0:
            raise RuntimeError(f"cold path of ({design}) failed:\n{done.stderr[-2000:]}")
        if index:
            first, second = done.stdout.split()
            samples.append((float(first), float(second)))
    return {
        "imports_ms": round(statistics.median(s[0] for s in samples), 1),
        "first_invocation_setup_ms": round(statistics.median(s[1] for s in samples), 1),
    }


# -------------------------------------------------------------------------------------------------- report
def machine() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(tz=UTC).isoformat(timespec="seconds"),
    }


def _ratio(mine: float | None, theirs: float | None, fewer: bool = False) -> float | None:
    if not mine or not theirs:
        return None
    return round(theirs / mine if fewer else mine / theirs, 2)


def ratios(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """gcevents against each design at the same batch size, from the same run. `fewer`: how many times less."""
    out: dict[str, dict[str, float | None]] = {}
    for key, c in runs.items():
        if not key.startswith("c@"):
            continue
        size = key.split("@")[1]
        for other in (f"a@{size}", f"b@{size}", "a@-"):
            m = runs.get(other)
            if not m:
                continue
            out[f"{key}_vs_{other}"] = {
                "correct_effects_per_second": _ratio(c["correct_effects_per_second"], m["correct_effects_per_second"]),
                "cpu_ms_per_event_fewer": _ratio(c["cpu_ms_per_event"], m["cpu_ms_per_event"], fewer=True),
                "dollars_per_million_fewer": _ratio(
                    c["dollars_per_million_events"], m["dollars_per_million_events"], fewer=True
                ),
                "write_units_fewer": _ratio(
                    c["write_units_per_unique_event"], m["write_units_per_unique_event"], fewer=True
                ),
            }
    return out


def check_targets(runs: dict[str, dict[str, Any]], cold: dict[str, dict[str, float]]) -> dict[str, dict[str, Any]]:
    values: dict[str, float | None] = {}
    c100, b100 = runs.get("c@100"), runs.get("b@100")
    if c100:
        for name in (
            "cpu_ms_per_event",
            "dynamodb_requests_per_unique_event",
            "write_units_per_unique_event",
            "genesys_calls_per_event",
        ):
            values[f"{name}@100"] = c100[name]
        if b100:
            values["dollars_per_million_vs_b@100"] = _ratio(
                c100["dollars_per_million_events"], b100["dollars_per_million_events"], fewer=True
            )
            values["correct_effects_per_second_vs_b@100"] = _ratio(
                c100["correct_effects_per_second"], b100["correct_effects_per_second"]
            )
    if "c@1000" in runs:
        values["genesys_calls_per_event@1000"] = runs["c@1000"]["genesys_calls_per_event"]
    if "c" in cold:
        values["cold_path_imports_ms"] = cold["c"]["imports_ms"]
    gcevents_runs = [m for k, m in runs.items() if k.startswith("c@")]
    if gcevents_runs:
        values["lost_and_double_effects"] = sum(m["lost"] + m["double_effects"] for m in gcevents_runs)
    results: dict[str, dict[str, Any]] = {}
    for key, (op, target) in TARGETS.items():
        value = values.get(key)
        if value is None:
            continue
        passed = value <= target if op == "<=" else value >= target
        results[key] = {"value": value, "target": f"{op} {target:g}", "pass": passed}
    return results


# (title, metric, format, ratio kind): "more" is better when larger, "fewer" when smaller, None: no ratio.
ROWS: list[tuple[str, str, str, str | None]] = [
    ("events in (unique)", "events_and_unique", "{}", None),
    ("correct effects/s", "correct_effects_per_second", "{:.1f}", "more"),
    ("client CPU ms / event", "cpu_ms_per_event", "{:.3f}", "fewer"),
    ("wall time s", "wall_seconds", "{:.1f}", None),
    ("invocations", "invocations", "{:d}", None),
    ("invocation ms p50 / p99", "invocation_ms", "{}", None),
    ("Genesys API calls / event", "genesys_calls_per_event", "{:.4f}", "fewer"),
    ("Genesys calls once per container", "genesys_per_container_calls", "{:d}", None),
    ("Genesys 429s", "genesys_rate_limited", "{:d}", None),
    ("DynamoDB requests / unique event", "dynamodb_requests_per_unique_event", "{:.3f}", "fewer"),
    ("write units / unique event", "write_units_per_unique_event", "{:.3f}", "fewer"),
    ("read units / unique event", "read_units_per_unique_event", "{:.3f}", "fewer"),
    ("$ / million events", "dollars_per_million_events", "{:.3f}", "fewer"),
    ("  Lambda GB-s + requests", "bill_lambda", "{:.3f}", None),
    ("  DynamoDB units", "bill_dynamodb", "{:.3f}", None),
    ("  SQS requests", "bill_sqs", "{:.3f}", None),
    ("lost / double effects", "lost_double", "{}", None),
    ("duplicates skipped", "duplicates_skipped", "{:d}", None),
    ("dead-lettered", "dead_lettered", "{:d}", None),
    ("peak RSS MB", "rss_mb", "{:.0f}", None),
]


def _cell(m: dict[str, Any], key: str, fmt: str) -> str:
    derived = {
        "events_and_unique": f"{m['events']} ({m['unique_events']})",
        "invocation_ms": f"{m['invocation_ms_p50']:.0f} / {m['invocation_ms_p99']:.0f}",
        "bill_lambda": m["bill"]["lambda_duration"] + m["bill"]["lambda_requests"],
        "bill_dynamodb": m["bill"]["dynamodb"],
        "bill_sqs": m["bill"]["sqs"],
        "lost_double": f"{m['lost']} / {m['double_effects']}",
    }
    value = derived.get(key, m.get(key))
    return "-" if value is None else fmt.format(value)


def render_table(columns: dict[str, dict[str, Any]]) -> str:
    """`columns`: header -> metrics; the last column is gcevents, ratios are against each of the others."""
    names = list(columns)
    mine = columns[names[-1]]
    header = ["metric", *names, *[f"c/{n.split()[0]}" for n in names[:-1]]]
    lines = [header]
    for title, key, fmt, kind in ROWS:
        row = [title, *[_cell(columns[n], key, fmt) for n in names]]
        for n in names[:-1]:
            theirs, ours = columns[n].get(key), mine.get(key)
            usable = kind and isinstance(theirs, int | float) and isinstance(ours, int | float) and theirs and ours
            row.append(f"{(ours / theirs if kind == 'more' else theirs / ours):.2f}x" if usable else "-")
        lines.append(row)
    widths = [max(len(str(row[i])) for row in lines) for i in range(len(header))]
    out = []
    for index, row in enumerate(lines):
        out.append(
            "  ".join(
                str(c).rjust(w) if i else str(c).ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
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
    cold: bool = True,
    log: Callable[[str], None] = print,
    profile: str | None = None,
    repeat: int = 1,
) -> dict[str, Any]:
    started = time.perf_counter()
    workload = make_workload(
        params.events, params.conversations, params.duplicate_rate, seed=params.seed, start_ms=params.start_ms
    )
    log(
        f"workload: {workload.total} events, {workload.unique_events} unique, {workload.duplicates} re-sent "
        f"(new envelope ids), {workload.conversations} conversations, {len(workload.effect_identities)} with effects"
    )
    runs: dict[str, dict[str, Any]] = {}
    with aws_server(params.aws_rtt_ms) as endpoint, genesys_simulator(params) as simulator:
        for name in variants:
            # The tutorial has no batches (one asynchronous invocation per event): it runs once.
            for size in [0] if name == "a" else params.batch_sizes:
                key = f"{name}@{size or '-'}"
                log(f"running ({key}) on {workload.total} events ...")
                spy = f"{profile}.{name}{size}.txt" if profile and name == "c" else None
                job = Job(name, params, size or 1, endpoint, simulator.env(), spy)
                metrics = _median_run(
                    [run_in_child(job, simulator).metrics() for _ in range(repeat if name == "c" else 1)]
                )
                runs[key] = metrics
                log(
                    f"  ({key}) {metrics['correct_effects_per_second']} correct effects/s, "
                    f"{metrics['cpu_ms_per_event']} CPU ms/event, {metrics['wall_seconds']} s; {metrics['notes']}"
                )
    cold_paths = {name: cold_path_ms(name) for name in variants} if cold else {}
    return {
        "machine": machine(),
        "parameters": {**dataclasses.asdict(params), "variants": list(variants)},
        "workload": {
            "events": workload.total,
            "unique_events": workload.unique_events,
            "resent_duplicates": workload.duplicates,
            "conversations": workload.conversations,
            "events_with_effects": len(workload.effect_identities),
        },
        "runs": runs,
        "cold_path": cold_paths,
        "ratios": ratios(runs),
        "targets": check_targets(runs, cold_paths),
        "run_seconds": round(time.perf_counter() - started, 1),
    }


def _median_run(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Of repeated runs of one design, the one with the median CPU per event (CPU time on a shared machine is noisy:
    other processes' load inflates it), with every repetition's CPU and rate kept beside it."""
    ordered = sorted(samples, key=lambda m: m["cpu_ms_per_event"])
    chosen = dict(ordered[(len(ordered) - 1) // 2])
    if len(samples) > 1:
        chosen["repeats"] = [
            {k: m[k] for k in ("cpu_ms_per_event", "correct_effects_per_second", "wall_seconds")} for m in samples
        ]
    return chosen


def _parser(defaults: Params) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--conversations", type=int, default=defaults.conversations, help="0: complete lifecycles")
    parser.add_argument("--duplicate-rate", type=float, default=defaults.duplicate_rate)
    parser.add_argument(
        "--batch-sizes", default=",".join(map(str, defaults.batch_sizes)), help="comma-separated, e.g. 10,100,1000"
    )
    parser.add_argument("--latency-ms", type=float, default=defaults.latency_ms, help="Genesys, per API answer")
    parser.add_argument("--aws-rtt-ms", type=float, default=defaults.aws_rtt_ms, help="per AWS request")
    parser.add_argument("--rate-per-minute", type=int, default=defaults.rate_per_minute)
    parser.add_argument("--visibility-timeout", type=float, default=defaults.visibility_timeout)
    parser.add_argument(
        "--claim-mode", choices=("per_key", "transaction"), default=defaults.claim_mode, help="gcevents' claim mode"
    )
    parser.add_argument("--variants", default="a,b,c", help="comma-separated subset of a,b,c")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--quick", action="store_true", help="smoke run: 220 events, batch 100")
    parser.add_argument("--repeat", type=int, default=1, help="gcevents' runs per batch size; the median CPU is shown")
    parser.add_argument("--no-cold-path", action="store_true", help="skip the cold-path interpreters")
    parser.add_argument("--profile", help="py-spy gcevents' runs: PREFIX.c<batch size>.txt (bench/profile.py reads it)")
    return parser


def _print_result(result: dict[str, Any]) -> None:
    runs = result["runs"]
    sizes = sorted({k.split("@")[1] for k in runs if k.split("@")[1] != "-"}, key=int)
    for size in sizes:
        columns: dict[str, dict[str, Any]] = {}
        if "a@-" in runs:
            columns["(a) tutorial"] = runs["a@-"]
        for name, label in (("b", "(b) Powertools"), ("c", "(c) gcevents")):
            if f"{name}@{size}" in runs:
                columns[label] = runs[f"{name}@{size}"]
        print(f"\nbatch size {size} (the tutorial: one event per invocation)")
        print(render_table(columns))
    if result["cold_path"]:
        print("\ncold path, CPU ms (median of 7 fresh interpreters, .pyc present): imports / imports + first setup")
        for name, cold in result["cold_path"].items():
            print(f"  ({name}) {cold['imports_ms']:.0f} / {cold['first_invocation_setup_ms']:.0f}")
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
    batch_sizes = tuple(int(s) for s in args.batch_sizes.split(",") if s.strip())
    if args.quick:
        events, batch_sizes = 220, (100,)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in variants if v not in ("a", "b", "c")]
    if unknown:
        parser.error(f"unknown variants: {unknown}")
    params = Params(
        events=events,
        conversations=conversations,
        duplicate_rate=args.duplicate_rate,
        batch_sizes=batch_sizes,
        latency_ms=args.latency_ms,
        aws_rtt_ms=args.aws_rtt_ms,
        rate_per_minute=args.rate_per_minute,
        visibility_timeout=args.visibility_timeout,
        claim_mode=args.claim_mode,
    )
    load_before = os.getloadavg()
    result = run_benchmark(
        params, variants, cold=not args.no_cold_path, profile=args.profile, repeat=max(1, args.repeat)
    )
    result["machine"]["load_average_before"] = [round(x, 2) for x in load_before]
    _print_result(result)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
