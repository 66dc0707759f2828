"""The conversation lake, locally: derived records as Parquet in the layout the template's Firehose stream writes
(`type=<record type>/date=<conversation start date>/`), and the named queries run over it with DuckDB.

pyarrow and DuckDB are the `lake` extra (`pip install 'gcevents[lake]'`): imported here only when a command needs
them, never on the Lambda path. The named queries are files (`queries/*.sql`) that template.yaml's
`AWS::Athena::NamedQuery` resources carry verbatim (a test keeps the two equal), so a query answered here is the
query Athena runs."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from gcevents.core.documents import COMPLETED, derive, document, is_ended, version_of
from gcevents.errors import GcEventsError
from gcevents.ops.lake.columns import PARTITION_KEYS, partition, row
from gcevents.ports import StoredState

TABLE = "conversations"
SHARED = "_completed.sql"  # the `completed` CTE every named query starts with


@dataclass(frozen=True, slots=True)
class NamedQuery:
    name: str
    description: str
    sql: str


def named_queries() -> dict[str, NamedQuery]:
    """Every named query, by file name; the description is the file's first `--` line. Each is its file's text
    with `_completed.sql` (the one-row-per-conversation `completed` table they all read) after that line: a named
    query must run alone in the Athena console, so the template carries the composed text."""
    folder = resources.files("gcevents.ops.lake").joinpath("queries")
    shared = folder.joinpath(SHARED).read_text(encoding="utf-8").split("\n", 1)[1]
    out: dict[str, NamedQuery] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql") or entry.name == SHARED:
            continue
        first, body = entry.read_text(encoding="utf-8").split("\n", 1)
        name = entry.name.removesuffix(".sql")
        out[name] = NamedQuery(name, first.removeprefix("--").strip(), f"{first}\n{shared}{body}")
    return out


def documents_from_states(items: Iterable[StoredState]) -> list[dict[str, Any]]:
    """The `conversation.completed` record of every ended conversation, as the outputs would deliver it now."""
    out = []
    for item in items:
        if not is_ended(item.state):
            continue
        content = derive(item.conversation_id, item.state)
        out.append(document(COMPLETED, item.conversation_id, version_of(content), content))
    return out


@dataclass(frozen=True, slots=True)
class WriteReport:
    records: int
    files: tuple[str, ...]  # relative to the lake directory
    bytes: int


def write(documents: Sequence[Mapping[str, Any]], directory: str | Path) -> WriteReport:
    """Writes the records as Parquet, one file per partition: a snapshot of the records given. The files an earlier
    write made (`records-*.parquet` under `type=*/date=*/`) are replaced, so a conversation whose record changed
    since, or moved to another start date, is never counted twice; other files in the folder are left alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from gcevents.ops.lake.arrow import arrow_schema

    root = Path(directory)
    parts: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for doc in documents:
        keys = partition(doc)
        parts[tuple(keys[k] for k in PARTITION_KEYS)].append(row(doc))
    for old in root.glob("type=*/date=*/records-*.parquet"):
        old.unlink()
    schema, files, size = arrow_schema(), [], 0
    for values, rows in sorted(parts.items()):
        rows.sort(key=lambda r: (str(r.get("conversationid")), str(r.get("id"))))
        folder = root.joinpath(*(f"{k}={v}" for k, v in zip(PARTITION_KEYS, values, strict=True)))
        folder.mkdir(parents=True, exist_ok=True)
        name = hashlib.sha256("\n".join(str(r.get("id")) for r in rows).encode()).hexdigest()[:16]
        path = folder / f"records-{name}.parquet"
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, compression="snappy")
        files.append(path.relative_to(root).as_posix())
        size += path.stat().st_size
    return WriteReport(len(documents), tuple(files), size)


@dataclass(frozen=True, slots=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def query(directory: str | Path, sql: str) -> QueryResult:
    """Runs SQL over the lake with DuckDB: `conversations` is the table, with the partition keys as text columns,
    as Athena's partition projection declares them."""
    import duckdb

    root = Path(directory)
    if not any(root.glob("**/*.parquet")):
        raise GcEventsError(f"no Parquet files under {str(root)!r}: write some with `gcevents lake write {root}`")
    connection = duckdb.connect()
    try:
        pattern = (root / "**" / "*.parquet").as_posix().replace("'", "''")
        hive_types = ", ".join(f"'{k}': 'VARCHAR'" for k in PARTITION_KEYS)
        # The path is the caller's own folder, quoted; DuckDB takes no parameters in a view's definition.
        source = (
            f"read_parquet('{pattern}', hive_partitioning = true, hive_types = {{{hive_types}}}, union_by_name = true)"
        )
        connection.execute(f"CREATE VIEW {TABLE} AS SELECT * FROM {source}")  # noqa: S608
        try:
            cursor = connection.execute(sql)
            rows = cursor.fetchall()
        except duckdb.Error as exc:  # the user's SQL: one line saying what DuckDB found wrong
            raise GcEventsError(f"query failed: {str(exc).splitlines()[0]}") from None
        return QueryResult(tuple(d[0] for d in cursor.description or ()), tuple(tuple(r) for r in rows))
    finally:
        connection.close()
