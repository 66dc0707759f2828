"""`gcevents reconcile`: compare the tracked state with Genesys analytics over a window; `--apply` repairs the gaps.

Exit status (docs/cli.md): 0 when the window has no gap left, 4 when gaps remain (found without `--apply`,
deferred because they are too recent, or not repaired), 1 on errors, 78 on configuration errors."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from gcevents.core.times import parse_iso
from gcevents.entrypoints.cli.exits import Exit, UsageError
from gcevents.progress import Phases
from gcevents.text import printable

GAPS_REMAIN = Exit.GAPS_REMAIN
_SHOWN = 20  # gap lines printed in the human report (--json has them all)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ISO_DURATION = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reconcile",
        help="find (and with --apply repair) conversations the event stream lost, from Genesys analytics",
        description=(
            "Compare the conversations Genesys analytics says ended in a window with the tracked state: unknown "
            "conversations, conversations not ended, missing wrap-ups. --apply rebuilds the missing facts through "
            "the pipeline (marked reconciled; a real event arriving later is a duplicate). Exit 4 while gaps "
            "remain. When to redrive, replay or reconcile: the Operations guide."
        ),
    )
    window = parser.add_mutually_exclusive_group(required=True)
    window.add_argument("--since", type=parse_duration, metavar="DURATION", help="e.g. 2h, 90m, 1d, PT2H: until now")
    window.add_argument("--from", dest="start", type=parse_time, metavar="ISO", help="window start (with --until)")
    parser.add_argument("--until", dest="end", type=parse_time, metavar="ISO", help="window end (exclusive)")
    parser.add_argument("--apply", action="store_true", help="rebuild the missing facts through the pipeline")
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.set_defaults(func=cmd_reconcile)


def cmd_reconcile(args: argparse.Namespace) -> int:
    from gcevents.adapters.memory import CollectingScheduler
    from gcevents.config import Config
    from gcevents.core.events import RawRecord
    from gcevents.core.outputs import due_timers
    from gcevents.entrypoints.runtime import build_runtime
    from gcevents.entrypoints.scheduled import run_reconcile
    from gcevents.observability import configure_logging
    from gcevents.ops.local import run_records

    start, end = _window(args)
    config = Config.from_env()
    configure_logging(config.log_level, service=config.service_name)
    # No queue to delay completion timers on: the records still waiting for a wrap-up are evaluated at the end.
    scheduler = CollectingScheduler() if config.outputs.check_queue is None else None
    runtime = build_runtime(config, scheduler=scheduler)
    phases = Phases(quiet=args.json)
    report = run_reconcile(
        runtime,
        start,
        end,
        apply=args.apply,
        on_read=phases.counter("conversations read"),
        progress=phases.counter("facts applied"),
    )
    phases.close()
    if scheduler is not None and (timers := due_timers(scheduler.waiting())):
        records = [RawRecord(body, f"timer-{n}") for n, body in enumerate(timers, 1)]
        run_records(runtime.pipeline, runtime.dead_letters, records, batch_size=100, max_attempts=3, max_wait=5.0)
    summary = report.summary()
    print(json.dumps(summary) if args.json else describe(summary))
    left = len(report.gaps) if not args.apply else len(report.deferred) + len(report.unrepaired)
    return GAPS_REMAIN if left else Exit.OK


def describe(summary: dict[str, Any]) -> str:
    """The human report. Ids come from Genesys: printed escaped."""
    window, source, calls = summary["window"], summary["source"], summary["genesysCalls"]
    by_kind = ", ".join(f"{kind.replace('_', ' ')} {n}" for kind, n in summary["gapsByKind"].items())
    polls = f", {source['jobPolls']} job polls" if source["jobPolls"] else ""
    lines = [
        f"reconcile {window['from']} .. {window['until']}: {summary['conversationsChecked']:,} conversations ended"
        f" ({source['mode']}, {source['pages']} pages{polls})",
        f"  gaps: {summary['gapsFound']:,} ({by_kind})",
    ]
    for gap in summary["gaps"][:_SHOWN]:
        lines.append(
            printable(f"    {gap['conversationId']}  {' + '.join(gap['gaps'])}  ended {gap['conversationEnd']}")
        )
    if len(summary["gaps"]) > _SHOWN:
        lines.append(f"    ... {len(summary['gaps']) - _SHOWN} more (--json lists them all)")
    if summary["applied"]:
        facts = summary["facts"]
        lines.append(
            f"  applied: {facts.get('synthesized', 0):,} facts rebuilt, {facts.get('processed', 0):,} applied,"
            f" {facts.get('duplicate', 0):,} already there, {facts.get('dead_lettered', 0):,} dead-lettered;"
            f" {summary['repaired']:,} conversations repaired, {len(summary['unrepaired']):,} not,"
            f" {len(summary['deferred']):,} deferred (too recent: the live stream may still bring them)"
        )
    per_endpoint = ", ".join(f"{k} {v}" for k, v in sorted(calls.items()) if k not in ("total", "rate_limited"))
    lines.append(
        f"  Genesys calls: {calls.get('total', 0)} ({per_endpoint}), {calls.get('rate_limited', 0)} answered 429;"
        f" {summary['seconds']} s"
    )
    return "\n".join(lines)


def _window(args: argparse.Namespace) -> tuple[datetime, datetime]:
    now = datetime.now(tz=UTC)
    if args.since is not None:
        if args.end is not None:
            raise UsageError("reconcile: --until goes with --from, not --since")
        return now - args.since, now
    if args.end is None:
        raise UsageError("reconcile: --from needs --until")
    if args.end <= args.start:
        raise UsageError("reconcile: --until must be after --from")
    return args.start, args.end


def parse_duration(text: str) -> timedelta:
    """`90m`, `2h`, `1d`, `3600s`, `1h30m` or ISO 8601 (`PT2H`, `P1DT6H`)."""
    value = text.strip()
    iso = _ISO_DURATION.fullmatch(value.upper())
    if iso and value.upper() not in ("P", "PT"):
        days, hours, minutes, seconds = (int(g or 0) for g in iso.groups())
        total = timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)
    else:
        parts = re.findall(r"(\d+)([smhd])", value.lower())
        if not parts or "".join(n + u for n, u in parts) != value.lower():
            raise argparse.ArgumentTypeError(f"not a duration: {printable(value, 40)!r} (e.g. 2h, 90m, 1d, PT2H)")
        total = timedelta(seconds=sum(int(n) * _UNITS[u] for n, u in parts))
    if total <= timedelta(0):
        raise argparse.ArgumentTypeError("the duration must be positive")
    return total


def parse_time(text: str) -> datetime:
    parsed = parse_iso(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {printable(text, 40)!r}")
    return parsed.astimezone(UTC)
