"""`gcevents plan`: size the event source mapping for a load and print the arithmetic.

`--poller-mode standard|provisioned` models one ramp; `--compare` plans both and recommends one (the cheaper
mode whose worst queue wait meets --latency-target)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from gcevents.entrypoints.cli.exits import Exit
from gcevents.entrypoints.cli.options import add_option, options_from_args
from gcevents.ops.plan import (
    BUDGET_SCOPES,
    PACINGS,
    POLLER_MODES,
    PlanInputs,
    compare,
    explain,
    explain_comparison,
    plan,
)


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
    arg("--event-ms", "CPU time per event on a full vCPU (ms, default %(default)s: measured by `make bench`)")
    arg("--memory-mb", "the function's MemorySize: below 1,769 MB Lambda gives a share of a vCPU (%(default)s)")
    arg("--batch-overhead-ms", "fixed cost per batch (ms)")
    arg("--api-latency-ms", "latency of one bulk API call (ms)")
    arg("--api-limit", "Genesys requests/min per client-credentials token (%(default)s)")
    arg("--api-share", "share of the API limit to use (%(default)s)")
    arg("--clients", "OAuth clients in the deployment, one token each (GENESYS_CLIENT_ID lists them; %(default)s)")
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
    arg("--min-pollers", "provisioned: warm event pollers at least (%(default)s)")
    arg("--poller-price", "USD per event poller hour (%(default)s: AWS pricing page, US East N. Virginia)")
    arg("--latency-target", "--compare: worst queue wait to meet, s (%(default)s)")
    _modes_and_output(parser)
    parser.set_defaults(func=cmd_plan)


def _modes_and_output(parser: argparse.ArgumentParser) -> None:
    add_option(parser, "--poller-mode", PlanInputs, choices=POLLER_MODES, help="event source mapping scaling mode")
    add_option(
        parser,
        "--budget-scope",
        PlanInputs,
        choices=BUDGET_SCOPES,
        help="Genesys budget per instance token (default) or shared by the fleet",
    )
    add_option(parser, "--pacing", PlanInputs, choices=PACINGS, help="adaptive (default) or a static override")
    parser.add_argument("--reserve", action="store_true", help="also set reserved concurrency (off by default)")
    parser.add_argument(
        "--no-reserve", action="store_false", dest="reserve", help="no reserved concurrency (the default)"
    )
    parser.add_argument(
        "--lake", action="store_true", help="the stack's DataLake is on: price Firehose and S3 in the monthly bill"
    )
    parser.add_argument("--compare", action="store_true", help="plan both poller modes and recommend one")
    parser.add_argument(
        "--chart",
        metavar="FILE",
        type=Path,
        help="also draw the spike (arrivals, capacity, backlog, queue wait) to FILE.svg or FILE.html; with"
        " --compare, both poller modes side by side",
    )
    parser.add_argument("--format", choices=("text", "sam", "json"), default="text", help="output (default text)")
    parser.add_argument("--json", action="store_const", dest="format", const="json", help="same as --format json")


def inputs_from_args(args: argparse.Namespace) -> PlanInputs:
    return options_from_args(PlanInputs, args)


def cmd_plan(args: argparse.Namespace) -> int:
    try:
        inputs = inputs_from_args(args)
        if getattr(args, "compare", False):
            both = compare(inputs)
            sam, document, text = both.chosen.to_sam(), both.to_dict(), explain_comparison(both)
            plans = [both.standard, both.provisioned]
        else:
            result = plan(inputs)
            sam, document, text = result.to_sam(), result.to_dict(), explain(result)
            plans = [result]
        if getattr(args, "chart", None) is not None:
            from gcevents.ops.chart import write

            write(plans, args.chart)
            print(f"gcevents plan: chart written to {args.chart}", file=sys.stderr)
    except ValueError as exc:
        print(f"gcevents plan: {exc}", file=sys.stderr)
        return Exit.USAGE
    if args.format == "sam":
        print(sam)
    elif args.format == "json":
        print(json.dumps(document, indent=2))
    else:
        print(text)
    return 0
