"""`gcevents topics`: the Genesys Cloud topic patterns gcevents subscribes to by default and parses."""

from __future__ import annotations

import argparse
import json
from typing import Any

from gcevents.core import topics


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "topics",
        help="print the Genesys Cloud topics gcevents subscribes to by default",
        description=(
            "The topic patterns `gcevents connect` subscribes the EventBridge integration to, and the default of "
            "the template's TopicPatterns parameter: one per line, or a comma-separated list for a template "
            "parameter (--sam), or JSON (--json)."
        ),
    )
    parser.add_argument("--all", action="store_true", help="also list the agent topics the parser understands")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="a JSON array")
    output.add_argument("--sam", action="store_true", help="TopicPatterns=<comma-separated list>")
    parser.set_defaults(func=cmd_topics)


def cmd_topics(args: argparse.Namespace) -> int:
    selected = topics.KNOWN_TOPICS if args.all else topics.DEFAULT_TOPICS
    if args.json:
        print(json.dumps(list(selected)))
    elif args.sam:
        print("TopicPatterns=" + ",".join(selected))
    else:
        print("\n".join(selected))
    return 0
