"""`gcevents config`: the environment variables gcevents reads, as the README's Markdown table."""

from __future__ import annotations

import argparse
from typing import Any


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="print the environment variables gcevents reads (Markdown)",
        description="Every environment variable gcevents reads, its default and meaning, as a Markdown table.",
    )
    parser.set_defaults(func=cmd_config)


def cmd_config(args: argparse.Namespace) -> int:
    from gcevents.config import markdown_table

    print(markdown_table())
    return 0
