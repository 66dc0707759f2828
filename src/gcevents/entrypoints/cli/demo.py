"""`gcevents demo`: a realistic spike on the embedded default (SQLite + the Genesys API simulator)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gcevents.ops.demo import DemoOptions, print_report, run_demo


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run a realistic spike locally (SQLite + Genesys simulator)")
    parser.add_argument("--events", type=int, default=DemoOptions.events)
    parser.add_argument("--duplicate-rate", type=float, default=DemoOptions.duplicate_rate)
    parser.add_argument("--workers", type=int, default=DemoOptions.workers)
    parser.add_argument("--batch-size", type=int, default=DemoOptions.batch_size)
    parser.add_argument("--seed", type=int, default=DemoOptions.seed)
    parser.add_argument("--dir", default=DemoOptions.directory)
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from gcevents.observability import configure_logging

    configure_logging("ERROR")  # the report is the output; per-record warnings would drown it
    options = DemoOptions(
        events=args.events,
        duplicate_rate=args.duplicate_rate,
        workers=args.workers,
        batch_size=args.batch_size,
        seed=args.seed,
        directory=args.dir,
        show_progress=not args.json,
    )
    report = run_demo(options)
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    checks = report["loss_check"]
    return 0 if all(checks[k] for k in checks if k != "accounted") else 1
