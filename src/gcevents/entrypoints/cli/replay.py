"""`gcevents replay`: re-deliver archived events of a window to the stack's rule (an EventBridge replay), and
report its progress. Safe because processing is idempotent: events already processed are duplicates.

    gcevents replay --from 2026-03-01T08:00Z --to 2026-03-01T09:30Z --archive ARCHIVE_ARN --rule RULE_ARN
    gcevents replay ... --topic customer.end --topic acw      # only these topics (a temporary rule)
    gcevents replay --status gcevents-replay-20260301T101500-1a2b   # progress; cleans up once it ended

The template's outputs name the archive (ArchiveArn) and the rule (RuleArn). docs/operations.md says when to
replay, when to redrive the DLQ and when to reconcile."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gcevents.entrypoints.cli.exits import Exit, UsageError
from gcevents.entrypoints.cli.reconcile import parse_time
from gcevents.text import printable


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay archived events of a window to the rule (EventBridge)",
        description=(
            "Start an EventBridge replay of the archive's window to the stack's rule and report its progress until "
            "it ends (--no-wait: start and return; --status NAME: look again). Events already processed are "
            "duplicates. --topic narrows it through a temporary rule, deleted when the replay ends."
        ),
    )
    parser.add_argument("--from", dest="start", type=parse_time, metavar="ISO", help="first event time replayed")
    parser.add_argument("--to", dest="end", type=parse_time, metavar="ISO", help="end of the window (exclusive)")
    parser.add_argument(
        "--topic",
        action="append",
        default=[],
        metavar="TOPIC",
        help="only this detail-type (repeatable), e.g. customer.end or its full pattern",
    )
    parser.add_argument("--archive", metavar="ARN|NAME", help="the archive (template output ArchiveArn)")
    parser.add_argument("--rule", metavar="ARN", help="the rule to replay to (template output RuleArn)")
    parser.add_argument("--status", metavar="NAME", help="report a replay's progress instead of starting one")
    parser.add_argument("--no-wait", dest="wait", action="store_false", help="start and return (see --status)")
    parser.add_argument("--poll", type=float, default=10.0, metavar="SECONDS", help="seconds between progress reads")
    parser.add_argument("--json", action="store_true", help="machine-readable status lines")
    parser.set_defaults(func=cmd_replay)


def cmd_replay(args: argparse.Namespace) -> int:
    from gcevents.adapters.aws import make_client
    from gcevents.adapters.replay import EventBridgeReplays, ReplayRequest, ReplayStatus

    _check_usage(args)  # before any client: a usage error needs no AWS region or credentials
    replays = EventBridgeReplays(make_client("events"))

    def show(status: ReplayStatus) -> None:
        if args.json:
            print(json.dumps(status.as_dict()), flush=True)
        else:
            print(
                printable(
                    f"{status.name}: {status.state} {status.progress:.0%}"
                    f"{' (' + status.reason + ')' if status.reason else ''}"
                ),
                flush=True,
            )

    if args.status:
        status = replays.status(args.status)
        replays.finish(status)
        show(status)
        return _exit(status.state)
    request = ReplayRequest(args.archive, args.rule, args.start, args.end, tuple(args.topic))
    status = replays.start(request)
    if not args.wait:
        show(status)
        if not args.json:
            print(f"follow it with: gcevents replay --status {status.name}")
        return 0
    return _exit(replays.wait(status.name, poll=args.poll, on_progress=show).state)


def _check_usage(args: argparse.Namespace) -> None:
    if args.status:
        return
    if args.start is None or args.end is None or not args.archive or not args.rule:
        raise UsageError("replay: --from, --to, --archive and --rule are required (or --status NAME)")
    if args.end <= args.start:
        raise UsageError("replay: --to must be after --from")


def _exit(state: str) -> int:
    return Exit.FAILED if state in ("FAILED", "CANCELLED") else Exit.OK
