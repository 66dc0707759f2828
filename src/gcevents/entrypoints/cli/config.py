"""`gcevents config`: the environment variables gcevents reads, as the README's Markdown table; `config check`: the
configuration this environment resolves to, and what is wrong with it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from gcevents.entrypoints.cli.exits import Exit
from gcevents.text import printable


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="print the environment variables gcevents reads (Markdown); `config check` validates this environment",
        description=(
            "Every environment variable gcevents reads, its default and meaning, as a Markdown table. "
            "`gcevents config check` resolves this environment as every entry point does: each variable's value "
            "(secrets masked) and source (env, default, derived, alias), and every problem; exit 78 if there is one."
        ),
    )
    parser.add_argument("--json", action="store_true", help="the variables as a JSON array")
    parser.set_defaults(func=cmd_config)
    actions = parser.add_subparsers(metavar="ACTION")
    check = actions.add_parser(
        "check",
        help="the resolved configuration, with the source of each value; exit 78 on a problem",
        description=(
            "Resolves the configuration from this environment as the Lambda handler, the worker and every command "
            "do: each variable's value (secrets masked) and where it came from, then every problem found, the "
            "GCEVENTS_HANDLERS imported as a start would. Exit 0 when there is none, 78 (configuration error) when "
            "there is."
        ),
    )
    check.add_argument("--json", action="store_true", help="machine-readable: {ok, variables, problems}")
    check.set_defaults(func=cmd_check)


def cmd_config(args: argparse.Namespace) -> int:
    from gcevents.config import VARIABLES, markdown_table

    if args.json:
        rows = [
            {
                "name": v.name,
                "default": v.default_cell(),
                "meaning": v.meaning,
                "allowed": v.allowed,
                "secret": v.secret,
            }
            for v in VARIABLES
        ]
        print(json.dumps(rows))
    else:
        print(markdown_table())
    return Exit.OK


def cmd_check(args: argparse.Namespace) -> int:
    from gcevents.config import resolution

    rows, problems = resolution()
    problems = problems or _handler_problems()
    if args.json:
        variables = [{"name": r.name, "value": r.value, "source": r.source, "allowed": r.allowed} for r in rows]
        print(json.dumps({"ok": not problems, "variables": variables, "problems": problems}))
    else:
        width = max(len(r.name) for r in rows)
        print(f"{'variable':<{width}}  source{' ' * 20}value")
        for row in rows:  # values come from the environment: escaped, so none can drive the terminal
            print(f"{row.name:<{width}}  {row.source:<26}{printable(row.value, 100)}")
        print("configuration OK" if not problems else f"{len(problems)} problem(s):")
    for problem in problems:
        print(f"gcevents: {printable(problem, 400)}", file=sys.stderr)
    return Exit.CONFIG if problems else Exit.OK


def _handler_problems() -> list[str]:
    """GCEVENTS_HANDLERS loaded as every start loads them: a module that does not import is a problem too."""
    from gcevents.config import Config
    from gcevents.core.router import Router
    from gcevents.entrypoints.runtime import load_handlers
    from gcevents.errors import ConfigError

    try:
        load_handlers(Router(), Config.from_env().handler_modules)
    except ConfigError as exc:
        return [str(exc)]
    return []
