"""`gcevents plan`: size the event source mapping for a load and print the arithmetic."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gcevents.entrypoints.cli.options import add_option, options_from_args
from gcevents.ops.plan import PlanInputs, explain, plan


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "plan",
        help="size BatchSize / window / concurrency / timeouts for a load (prints the arithmetic)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def arg(flag: str, text: str) -> None:
        add_option(parser, flag, PlanInputs, help=text)

    arg("--rate", "steady events/s")
    arg("--peak-rate", "events/s during a spike (total)")
    arg("--duration", "spike length in seconds")
    arg("--event-ms", "processing time per event (ms, default %(default)s)")
    arg("--batch-overhead-ms", "fixed cost per batch (ms)")
    arg("--api-latency-ms", "latency of one bulk API call (ms)")
    arg("--api-limit", "Genesys requests/min per client (%(default)s)")
    arg("--api-share", "share of the API limit to use (%(default)s)")
    arg("--api-max-wait", "GENESYS_MAX_WAIT seconds (%(default)s)")
    arg("--chunk", "ids per bulk analytics call (%(default)s)")
    arg("--enrich-fraction", "share of events enriched (0..1)")
    arg("--account-headroom", "concurrency available to us")
    arg("--event-kb", "average event size in KB (%(default)s)")
    arg("--max-latency", "batching window budget (s)")
    arg("--max-batch-seconds", "cap on one batch's duration")
    arg("--safety", "concurrency factor over the peak (%(default)s)")
    arg("--lag-retries", "analytics-lag redeliveries (%(default)s)")
    arg("--transient-retries", "redeliveries before the DLQ")
    arg("--crash-retries", "crashed invocations a record survives (%(default)s)")
    parser.add_argument("--no-reserve", action="store_true", help="do not set reserved concurrency")
    parser.add_argument("--format", choices=("text", "sam", "json"), default="text", help="output (default text)")
    parser.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")
    parser.set_defaults(func=cmd_plan)


def inputs_from_args(args: argparse.Namespace) -> PlanInputs:
    return options_from_args(PlanInputs, args, reserve=not args.no_reserve)


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        result = plan(inputs_from_args(args))
    except ValueError as exc:
        print(f"gcevents plan: {exc}", file=sys.stderr)
        return 2
    if args.format == "sam":
        print(result.to_sam())
    elif args.format == "json":
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(explain(result))
    return 0
