"""`python -m bench.budget`: how much of what Genesys grants a fleet uses, and how often it is answered 429.

Several worker processes (each a container: its own GenesysClient, its own OAuth token, a few threads calling the
bulk analytics endpoint as fast as their pacing lets them) run against the Genesys simulator over HTTP, whose
budget is `--limit` requests per one-minute window either per token or shared by the client. Each pacing variant
gets its own simulator, and the variants of one server scope run side by side:

  adaptive      the default: the limits API, then AIMD per token (GENESYS_BUDGET_SCOPE=token)
  shared        the fleet-wide bucket in DynamoDB (GENESYS_BUDGET_SCOPE=shared; moto over HTTP)
  static-split  the old planner's division: GENESYS_RATE_PER_MINUTE = limit x 0.8 / processes
  static-300    the old default: GENESYS_RATE_PER_MINUTE = 300 (Genesys' published default), whatever is granted

Used = calls answered 200 / what the server granted (the limit per window, per token or for the client, over the
windows the run spans). 429 share = calls answered 429 / calls made. Figures, never assertions: tests/genesys
checks the behaviour. Writes bench/results/budget.json."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "budget.json"
VARIANTS = ("adaptive", "shared", "static-split", "static-300")
SCOPES = ("token", "client")
WINDOW = 60.0


@dataclass(frozen=True)
class Row:
    scope: str
    variant: str
    processes: int
    seconds: float
    granted: int
    answered: int
    throttled: int
    calls: int
    handed_back: int
    used: float
    throttled_share: float


# ------------------------------------------------------------------------------------------------- worker
def worker(config: dict[str, Any]) -> dict[str, Any]:
    """One container: a client with its own token, `threads` callers, until `seconds` have passed."""
    import logging

    from gcevents.adapters.genesys import GenesysClient, GenesysSettings
    from gcevents.errors import RateLimitedError, TransientError

    logging.disable(logging.WARNING)  # a line per hand-back otherwise; the counts are in the result

    settings = GenesysSettings.for_base_url(
        config["base_url"], client_id="bench", client_secret="bench-secret", **config["settings"]
    )
    bucket = _bucket(config) if config["settings"].get("budget_scope") == "shared" else None
    client = GenesysClient(settings, bucket=bucket)
    stop_at = time.time() + config["seconds"]
    counts = {"handed_back": 0, "transient": 0}
    lock = threading.Lock()

    def caller(n: int) -> None:
        while time.time() < stop_at:
            ids = [f"{uuid.uuid4()}" for _ in range(10)]
            try:
                client.conversation_details_bulk(ids, deadline=min(stop_at, time.time() + 25))
            except RateLimitedError as exc:  # handed back: the records would return to the queue later
                if time.time() < stop_at - 1:  # not the callers the end of the run turns away
                    with lock:
                        counts["handed_back"] += 1
                time.sleep(min(max(0.0, stop_at - time.time()), exc.retry_after or 1.0))
            except TransientError:
                with lock:
                    counts["transient"] += 1

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(config["threads"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    client.close()
    return {**counts, "client": client.stats.snapshot(), "budget": client.budget()}


def _bucket(config: dict[str, Any]) -> Any:
    from gcevents.adapters.aws import make_client
    from gcevents.adapters.dynamodb.budget import DynamoDbPermitBucket

    return DynamoDbPermitBucket(make_client("dynamodb"), config["table"], key="genesys#bench")


# ------------------------------------------------------------------------------------------------- one run
def _settings(variant: str, limit: int, processes: int) -> dict[str, Any]:
    common: dict[str, Any] = {"max_wait": 20.0, "max_retries": 3}
    if variant == "static-split":
        return {**common, "rate_per_minute": max(1, math.floor(limit * 0.8 / processes))}
    if variant == "static-300":
        return {**common, "rate_per_minute": 300}
    return {**common, "budget_scope": "shared" if variant == "shared" else "token"}


def run_variant(scope: str, variant: str, args: argparse.Namespace, table: str | None) -> tuple[Row, list[Any]]:
    from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

    options = SimulatorOptions(
        client_id="bench",
        client_secret="bench-secret",
        rate_limit_per_minute=args.limit,
        rate_window_seconds=WINDOW,
        rate_limit_scope=scope,
        latency_ms=args.latency_ms,
    )
    with GenesysSimulator(options) as simulator:
        config = {
            "base_url": simulator.base_url,
            "settings": _settings(variant, args.limit, args.processes),
            "seconds": args.seconds,
            "threads": args.threads,
            "table": table,
        }
        started = time.time()
        command = [sys.executable, "-m", "bench.budget", "--worker", json.dumps(config)]
        procs = [subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) for _ in range(args.processes)]
        outputs = [json.loads(p.communicate(timeout=args.seconds + 120)[0]) for p in procs]
        elapsed = time.time() - started
        stats = simulator.stats()
    return _row(scope, variant, args, stats, outputs, elapsed), outputs


def _row(
    scope: str, variant: str, args: argparse.Namespace, stats: dict[str, Any], outputs: list[Any], elapsed: float
) -> Row:
    analytics = stats["calls"].get("GET /api/v2/analytics/conversations/details", 0)
    limits = stats["calls"].get("GET /api/v2/organizations/limits/namespaces/{name}", 0)
    calls = analytics + limits
    throttled = stats["rate_limited"]
    windows = math.ceil(args.seconds / WINDOW)
    granted = args.limit * windows * (args.processes if scope == "token" else 1)
    answered = calls - throttled
    return Row(
        scope=scope,
        variant=variant,
        processes=args.processes,
        seconds=round(elapsed, 1),
        granted=granted,
        answered=answered,
        throttled=throttled,
        calls=calls,
        handed_back=sum(o["handed_back"] for o in outputs),
        used=round(answered / granted, 3),
        throttled_share=round(throttled / calls, 4) if calls else 0.0,
    )


def run_scope(scope: str, args: argparse.Namespace, table: str | None) -> list[Row]:
    """The variants of one server scope side by side (each its own simulator): the run takes one `--seconds`."""
    variants = [v for v in args.variants if not (v == "shared" and scope == "token")]
    results: dict[str, Row] = {}
    threads = [
        threading.Thread(target=lambda v=v: results.__setitem__(v, run_variant(scope, v, args, table)[0]))
        for v in variants
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[v] for v in variants]


# ------------------------------------------------------------------------------------------------- main
def _moto_table() -> tuple[Any, str]:
    """moto in this process for the shared bucket; the workers reach it over HTTP through AWS_ENDPOINT_URL."""
    import logging

    from gcevents.adapters.aws import make_client
    from gcevents.adapters.dynamodb.budget import create_budget_table
    from gcevents.testing.moto import ServerThread

    logging.getLogger("werkzeug").disabled = True  # one line per request otherwise
    server = ServerThread()
    os.environ.update(
        {
            "AWS_ENDPOINT_URL": server.endpoint,
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    table = f"budget-{uuid.uuid4().hex[:8]}"
    create_budget_table(make_client("dynamodb"), table)
    return server, table


def table_text(rows: list[Row], limit: int) -> str:
    lines = [
        f"{'server budget':<28} {'pacing':<13} {'granted':>8} {'answered':>9} {'used':>6} {'429s':>6} "
        f"{'429 share':>9} {'handed back':>11}",
    ]
    for row in rows:
        budget = f"{limit}/min per token" if row.scope == "token" else f"{limit}/min per client"
        lines.append(
            f"{budget:<28} {row.variant:<13} {row.granted:>8} {row.answered:>9} {row.used:>6.1%} {row.throttled:>6} "
            f"{row.throttled_share:>9.2%} {row.handed_back:>11}"
        )
    return "\n".join(lines)


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.budget", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--processes", type=int, default=4, help="containers (processes), each with its own token")
    parser.add_argument("--threads", type=int, default=4, help="callers per process (GENESYS_MAX_CONCURRENCY)")
    parser.add_argument("--seconds", type=float, default=120.0, help="per run (default: two one-minute windows)")
    parser.add_argument("--limit", type=int, default=120, help="requests per one-minute window the server grants")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="the simulator's answer time")
    parser.add_argument("--scopes", default=",".join(SCOPES), help="server budgets: token,client")
    parser.add_argument("--variants", default=",".join(VARIANTS), help=",".join(VARIANTS))
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    args.scopes = [s for s in args.scopes.split(",") if s]
    args.variants = [v for v in args.variants.split(",") if v]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    server, table = _moto_table() if "shared" in args.variants else (None, None)
    started = time.time()
    rows = [row for scope in args.scopes for row in run_scope(scope, args, table)]
    if server is not None:
        server.stop()
    print(table_text(rows, args.limit))
    document = {
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "parameters": {k: v for k, v in vars(args).items() if k not in ("worker", "out")},
        "wall_seconds": round(time.time() - started, 1),
        "rows": [asdict(row) for row in rows],
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
