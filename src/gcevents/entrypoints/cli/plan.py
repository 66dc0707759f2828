"""`gcevents plan`: size the event source mapping for a load and print the arithmetic."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gcevents.ops.plan import PlanInputs, explain, plan


def register(subparsers: Any) -> None:
    d = PlanInputs(rate=0, peak_rate=1, duration=0)
    parser = subparsers.add_parser(
        "plan",
        help="size BatchSize / window / concurrency / timeouts for a load (prints the arithmetic)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    arg = parser.add_argument
    arg("--rate", type=float, required=True, help="steady events/s")
    arg("--peak-rate", type=float, required=True, help="events/s during a spike (total)")
    arg("--duration", type=float, required=True, help="spike length in seconds")
    arg("--event-ms", type=float, default=d.event_ms, help="processing time per event (ms, default %(default)s)")
    arg("--batch-overhead-ms", type=float, default=d.batch_overhead_ms, help="fixed cost per batch (ms)")
    arg("--api-latency-ms", type=float, default=d.api_latency_ms, help="latency of one bulk API call (ms)")
    arg("--api-limit", type=int, default=d.api_limit, help="Genesys requests/min per client (%(default)s)")
    arg("--api-share", type=float, default=d.api_share, help="share of the API limit to use (%(default)s)")
    arg("--api-max-wait", type=float, default=d.api_max_wait, help="GENESYS_MAX_WAIT seconds (%(default)s)")
    arg("--chunk", type=int, default=d.chunk, help="ids per bulk analytics call (%(default)s)")
    arg("--enrich-fraction", type=float, default=d.enrich_fraction, help="share of events enriched (0..1)")
    arg("--account-headroom", type=int, default=d.account_headroom, help="concurrency available to us")
    arg("--event-kb", type=float, default=d.event_kb, help="average event size in KB (%(default)s)")
    arg("--max-latency", type=float, default=d.max_latency, help="batching window budget (s)")
    arg("--max-batch-seconds", type=float, default=d.max_batch_seconds, help="cap on one batch's duration")
    arg("--safety", type=float, default=d.safety, help="concurrency factor over the peak (%(default)s)")
    arg("--lag-retries", type=int, default=d.lag_retries, help="analytics-lag redeliveries (%(default)s)")
    arg("--transient-retries", type=int, default=d.transient_retries, help="redeliveries before the DLQ")
    arg("--no-reserve", action="store_true", help="do not set reserved concurrency")
    arg("--format", choices=("text", "sam", "json"), default="text", help="output (default text)")
    arg("--json", action="store_const", dest="format", const="json", help="same as --format json")
    parser.set_defaults(func=cmd_plan)


def inputs_from_args(args: argparse.Namespace) -> PlanInputs:
    return PlanInputs(
        rate=args.rate, peak_rate=args.peak_rate, duration=args.duration, event_ms=args.event_ms,
        batch_overhead_ms=args.batch_overhead_ms, api_latency_ms=args.api_latency_ms, api_limit=args.api_limit,
        api_share=args.api_share, api_max_wait=args.api_max_wait, chunk=args.chunk,
        enrich_fraction=args.enrich_fraction, account_headroom=args.account_headroom, event_kb=args.event_kb,
        max_latency=args.max_latency, max_batch_seconds=args.max_batch_seconds, safety=args.safety,
        lag_retries=args.lag_retries, transient_retries=args.transient_retries, reserve=not args.no_reserve,
    )  # fmt: skip


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
