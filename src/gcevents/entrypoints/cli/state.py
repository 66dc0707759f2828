"""`gcevents state get|list`: read the conversation state items."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any

from gcevents.config import Config, StoreSpec
from gcevents.core.state import stored_view
from gcevents.core.state_store import DEFAULT_TTL_DAYS
from gcevents.core.times import parse_iso
from gcevents.entrypoints.cli.exits import Exit
from gcevents.errors import ConfigError
from gcevents.ports import StateStore, StoredState
from gcevents.text import printable

STORE_KINDS = ("sqlite", "dynamodb", "memory")


def open_state_store(spec: StoreSpec | str, *, ttl_days: int = DEFAULT_TTL_DAYS) -> StateStore:
    """`sqlite:PATH`, `dynamodb:TABLE` or `memory` -> a store (boto3 honours AWS_ENDPOINT_URL)."""
    from gcevents.entrypoints.resources import Resources
    from gcevents.entrypoints.runtime import make_state_store

    if isinstance(spec, str):
        try:
            spec = StoreSpec.parse(spec, allowed=STORE_KINDS)
        except ValueError as exc:
            raise ConfigError(f"state store {spec!r}: {exc}") from exc
    store = make_state_store(spec, Resources(), ttl_days=ttl_days)
    if store is None:
        raise ConfigError("state tracking is off (GCEVENTS_STATE_STORE=off): name a store with --store")
    return store


def configured_state_store(args: argparse.Namespace) -> StateStore:
    """`--store`, else the configuration's state store (GCEVENTS_STATE_STORE, else the SQLite file GCEVENTS_DB),
    with GCEVENTS_STATE_TTL_DAYS."""
    config = Config.from_env()
    return open_state_store(args.store or config.state_store, ttl_days=config.state_ttl_days)


def register(subparsers: Any) -> None:
    """Add `state get` and `state list` to the main CLI's subparsers."""
    state = subparsers.add_parser(
        "state",
        help="inspect conversation state items",
        description="The state gcevents keeps per conversation (GCEVENTS_STATE_STORE): one, or the latest updated.",
    )
    commands = state.add_subparsers(metavar="COMMAND")
    store_help = "sqlite:PATH, dynamodb:TABLE or memory (default: $GCEVENTS_STATE_STORE, else sqlite:$GCEVENTS_DB)"

    get = commands.add_parser("get", help="show one conversation's state", description="One conversation's state item.")
    get.add_argument("conversation_id", metavar="CONVERSATION_ID", help="the Genesys conversation id")
    get.add_argument("--store", help=store_help)
    get.add_argument("--json", action="store_true", help="machine-readable output")
    get.set_defaults(func=cmd_get)

    listing = commands.add_parser(
        "list",
        help="list conversations, most recently updated first",
        description="Conversations, latest update first.",
    )
    listing.add_argument("--since", type=_parse_since, help="only items updated at or after (ISO 8601)")
    listing.add_argument("--limit", type=_positive_int, default=50, help="at most this many (%(default)s)")
    listing.add_argument("--store", help=store_help)
    listing.add_argument("--json", action="store_true", help="machine-readable output (a JSON array)")
    listing.set_defaults(func=cmd_list)

    delete = commands.add_parser(
        "delete",
        help="erase one conversation's state (data protection requests)",
        description="Erase one conversation's state item. Other places its data rests: the Data protection guide.",
    )
    delete.add_argument("conversation_id", metavar="CONVERSATION_ID", help="the Genesys conversation id")
    delete.add_argument("--store", help=store_help)
    delete.add_argument("--json", action="store_true", help="machine-readable output")
    delete.set_defaults(func=cmd_delete)

    state.set_defaults(func=lambda _args: _usage(state))


def cmd_get(args: argparse.Namespace) -> int:
    item = configured_state_store(args).get(args.conversation_id)
    if item is None:
        print(f"no state for conversation {printable(args.conversation_id)}", file=sys.stderr)
        return Exit.FAILED
    if args.json:
        print(json.dumps(stored_view(item), indent=2, sort_keys=True))
    else:
        print(_describe(item))
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    """0 when the item was erased or was not there (erasure is idempotent); the message says which."""
    name = printable(args.conversation_id)
    deleted = configured_state_store(args).delete(args.conversation_id)
    if args.json:
        print(json.dumps({"conversationId": args.conversation_id, "deleted": deleted}))
    elif deleted:
        print(f"deleted the state of conversation {name}")
    else:
        print(f"no state for conversation {name} (nothing to delete)")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    items = configured_state_store(args).list(since=args.since, limit=args.limit)
    if args.json:
        print(json.dumps([stored_view(item) for item in items], indent=2, sort_keys=True))
        return 0
    columns = ("conversationId", "mediaType", "direction", "lastEventKind", "lastEventTime", "updatedAt")
    views = [stored_view(item) for item in items]
    rows = [[printable(str(v.get(c, "-")), 80) for c in columns] for v in views]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    print(f"{len(items)} conversation(s)", file=sys.stderr)
    return 0


def _describe(item: StoredState) -> str:
    """Human output: every line is escaped (ids and attributes come from input data)."""
    return "\n".join(printable(line) for line in _lines(item))


def _lines(item: StoredState) -> list[str]:
    data = stored_view(item)
    lines = [f"conversation {data['conversationId']}"]
    for name in ("mediaType", "direction", "startTime", "endTime", "lastEventKind", "lastEventTime"):
        if name in data:
            lines.append(f"  {name}: {data[name]}")
    for participant in data["participants"]:
        details = ", ".join(f"{k}={v}" for k, v in participant.items() if k != "participantId")
        lines.append(f"  participant {participant['participantId']}: {details}")
    if "attributes" in data:
        lines.append(f"  attributes: {json.dumps(data['attributes'], sort_keys=True)}")
    if "enrichment" in data:
        lines.append(f"  enrichment: {json.dumps(data['enrichment'], sort_keys=True)}")
    lines.append(f"  updatedAt: {data['updatedAt']}  version: {data['version']}  ttl: {data['ttl']}")
    return lines


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return Exit.USAGE


def _parse_since(text: str) -> datetime:
    parsed = parse_iso(text)
    if parsed is None:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}")
    return parsed


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value
