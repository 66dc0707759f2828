"""`gcevents demo`: a realistic spike on the embedded default (SQLite + the Genesys API simulator)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gcevents.entrypoints.cli.options import add_option, options_from_args
from gcevents.ops.demo import DemoOptions, print_report, run_demo


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("demo", help="run a realistic spike locally (SQLite + Genesys simulator)")
    for flag in ("--events", "--duplicate-rate", "--workers", "--batch-size", "--seed"):
        add_option(parser, flag, DemoOptions)
    add_option(parser, "--dir", DemoOptions, "directory")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from gcevents.observability import configure_logging

    configure_logging("ERROR")  # the report is the output; per-record warnings would drown it
    report = run_demo(options_from_args(DemoOptions, args, show_progress=not args.json))
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
    checks = report["loss_check"]
    return 0 if all(checks[k] for k in checks if k != "accounted") else 1
