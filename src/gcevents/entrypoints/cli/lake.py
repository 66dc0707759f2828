"""`gcevents lake write|query|queries`: the conversation lake locally (Parquet + DuckDB, the `lake` extra)."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from gcevents.entrypoints.cli.exits import UsageError
from gcevents.errors import ConfigError

if TYPE_CHECKING:
    from gcevents.ports import StateStore

DEFAULT_LAKE = "lake"


def register(subparsers: Any) -> None:
    lake = subparsers.add_parser(
        "lake",
        help="the conversation lake locally: Parquet records and the named Athena queries over them",
        description=(
            "Writes the derived conversation records as Parquet in the layout the template's lake uses "
            "(type=<record type>/date=<conversation start date>/) and runs the same named queries Athena runs, "
            "with DuckDB. Needs the lake extra: pip install 'gcevents[lake]'."
        ),
    )
    commands = lake.add_subparsers(metavar="COMMAND")
    write = commands.add_parser(
        "write",
        help="write every ended conversation's record as Parquet",
        description="The conversation.completed record of every ended conversation in the state store, as Parquet.",
    )
    write.add_argument("directory", nargs="?", default=DEFAULT_LAKE, help="the lake folder (%(default)s)")
    write.add_argument(
        "--store", help="sqlite:PATH, dynamodb:TABLE (default: $GCEVENTS_STATE_STORE, else sqlite:$GCEVENTS_DB)"
    )
    write.add_argument("--json", action="store_true", help="machine-readable output")
    write.set_defaults(func=cmd_write)

    run = commands.add_parser(
        "query",
        help="run a named query (or SQL) over the lake",
        description="A named query (`gcevents lake queries`) or SQL over the table `conversations`, with DuckDB.",
    )
    run.add_argument("query", metavar="NAME|SQL", help="a named query, or SQL")
    run.add_argument("--lake", default=DEFAULT_LAKE, help="the lake folder (%(default)s)")
    form = run.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="rows as JSON objects")
    form.add_argument("--csv", action="store_true", help="rows as CSV with a header")
    run.set_defaults(func=cmd_query)

    listing = commands.add_parser("queries", help="list the named queries", description="The named queries.")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(func=cmd_queries)


def lake_module() -> Any:
    try:
        import duckdb  # noqa: F401
        import pyarrow  # noqa: F401
    except ModuleNotFoundError as exc:
        raise ConfigError(f"the lake needs {exc.name}: pip install 'gcevents[lake]'") from exc
    from gcevents.ops import lake

    return lake


def write_from_store(store: StateStore, directory: str) -> dict[str, Any]:
    """Every ended conversation of `store` as Parquet under `directory`: `lake write`, and `--lake DIR` of demo and
    process. The summary: directory, records, files (relative to it), bytes."""
    lake = lake_module()
    written = lake.write(lake.documents_from_states(store.list(limit=10**9)), directory)
    return {"directory": directory, "records": written.records, "files": list(written.files), "bytes": written.bytes}


def cmd_write(args: argparse.Namespace) -> int:
    from gcevents.entrypoints.cli.state import configured_state_store

    summary = write_from_store(configured_state_store(args), args.directory)
    if args.json:
        print(json.dumps(summary))
    else:
        count = len(summary["files"])
        files = f"{count} file" + ("" if count == 1 else "s")
        print(f"{summary['records']} records in {files} ({summary['bytes']:,} bytes) under {args.directory}")
        if not summary["records"]:
            print("no ended conversation in that state store: name another with --store (e.g. the demo's:")
            print("  --store sqlite:.gcevents/demo/gcevents.db)")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    lake = lake_module()
    named = lake.named_queries()
    sql = named[args.query].sql if args.query in named else args.query
    if args.query not in named and " " not in args.query.strip():
        raise UsageError(f"no named query {args.query!r}: `gcevents lake queries` lists them")
    result = lake.query(args.lake, sql)
    rows = [[_plain(v) for v in row] for row in result.rows]
    if args.json:
        print(json.dumps([dict(zip(result.columns, row, strict=True)) for row in rows]))
    elif args.csv:
        out = csv.writer(sys.stdout)
        out.writerow(result.columns)
        out.writerows(rows)
    else:
        print(table(result.columns, rows))
    return 0


def cmd_queries(args: argparse.Namespace) -> int:
    named = lake_module().named_queries()
    if args.json:
        print(json.dumps({q.name: {"description": q.description, "sql": q.sql} for q in named.values()}))
    else:
        width = max(len(name) for name in named)
        for q in named.values():
            print(f"{q.name:<{width}}  {q.description}")
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    return value


def table(columns: tuple[str, ...], rows: list[list[Any]]) -> str:
    """A plain text table: numbers right-aligned, NULL as an empty cell."""
    cells = [[("" if v is None else f"{v:,}" if isinstance(v, int) else str(v)) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    numeric = [all(isinstance(r[i], int | float) or r[i] is None for r in rows) and rows for i in range(len(columns))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(
                (v.rjust(w) if numeric[i] else v.ljust(w)) for i, (v, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    lines.append(f"({len(rows)} rows)")
    return "\n".join(lines)
