"""`gcevents demo`: a realistic spike on the embedded default (SQLite + the Genesys API simulator)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gcevents.entrypoints.cli.exits import Exit
from gcevents.entrypoints.cli.options import add_option, options_from_args
from gcevents.entrypoints.demo import DemoOptions, print_report, run_demo


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a realistic spike locally (SQLite + Genesys simulator)",
        description=(
            "A spike of synthetic Genesys traffic (re-sends, malformed and untrusted events included) through "
            "workers on the local SQLite queue and stores, enriched from the built-in Genesys API simulator, with "
            "derived records to a loopback webhook; the source drops some conversations' events, and reconcile "
            "finds and repairs every gap against the simulator's analytics. Ends with a report and a loss check "
            "(exit 1 if it fails). "
            "No AWS, no network."
        ),
    )
    add_option(parser, "--events", DemoOptions, help="events in the spike (%(default)s)")
    add_option(parser, "--duplicate-rate", DemoOptions, help="share of re-sent events (%(default)s)")
    add_option(
        parser, "--drop-rate", DemoOptions, help="share of conversations losing events at the source (%(default)s)"
    )
    add_option(parser, "--workers", DemoOptions, help="workers consuming the queue (%(default)s)")
    add_option(parser, "--batch-size", DemoOptions, help="records per batch (%(default)s)")
    add_option(parser, "--seed", DemoOptions, help="seed of the synthetic traffic (%(default)s)")
    add_option(parser, "--dir", DemoOptions, "directory", help="where the SQLite files go (%(default)s)")
    parser.add_argument(
        "--lake", metavar="DIR", help="also write the conversation records as Parquet there (needs gcevents[lake])"
    )
    parser.add_argument("--json", action="store_true", help="the report as JSON")
    parser.set_defaults(func=cmd_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    from gcevents.entrypoints.cli.lake import lake_module, write_from_store
    from gcevents.entrypoints.cli.state import open_state_store
    from gcevents.observability import configure_logging

    configure_logging("ERROR")  # the report is the output; per-record warnings would drown it
    options = options_from_args(DemoOptions, args, show_progress=not args.json)
    if args.lake:
        lake_module()  # the extra is there, or say so before the spike rather than after it
    report = run_demo(options)
    if args.lake:
        store = open_state_store(f"sqlite:{options.directory}/gcevents.db")
        report["lake"] = write_from_store(store, args.lake)
    if args.json:
        print(json.dumps(report))
    else:
        print_report(report)
        if "lake" in report:
            lake = report["lake"]
            print(f"lake: {lake['records']} records as Parquet under {lake['directory']} (gcevents lake query ...)")
    checks = report["loss_check"]
    return Exit.OK if all(checks[k] for k in checks if k != "accounted") else Exit.FAILED
