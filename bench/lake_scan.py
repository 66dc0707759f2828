"""`python -m bench.lake_scan [--lake DIR]`: what Athena would scan for each named query, Parquet against gzipped
JSON lines of the same records (the lake's layout before this change).

Athena bills the bytes it reads. Over gzipped JSON it reads every object whole; over Parquet only the column chunks
a query names (row groups are not skipped here: the measure is an upper bound for Parquet). The lake is the demo's
(`gcevents demo --lake lake`), or a fresh workload of --conversations conversations. Writes
bench/results/lake-scan.json."""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from gcevents.ops import lake

OUT = Path(__file__).resolve().parent / "results" / "lake-scan.json"


def workload_documents(conversations: int, seed: int = 7) -> list[dict[str, Any]]:
    from gcevents.testing import run
    from gcevents.testing.workload import conversation_lifecycle

    rng = random.Random(seed)
    events = [
        e for n in range(conversations) for e in conversation_lifecycle(f"c-{n:05d}", 1_765_000_000_000 + n * 997, rng)
    ]
    return lake.documents_from_states(run([], events, batch_size=500).state.list(limit=10**9))


def parquet_bytes(root: Path, sql: str) -> int:
    """The compressed size of the column chunks whose top-level or nested column the query names."""
    words = set(re.findall(r"[a-z_]+", sql.lower()))
    total = 0
    for path in root.glob("type=conversation.completed/**/*.parquet"):
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                chunk = group.column(c)
                parts = [p for p in chunk.path_in_schema.split(".") if p not in ("list", "element", "key_value")]
                if parts[0] in words and (len(parts) == 1 or parts[-1] in words):
                    total += chunk.total_compressed_size
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lake", help="an existing lake (e.g. the demo's); default: a fresh workload")
    parser.add_argument("--conversations", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(args.lake) if args.lake else Path(scratch) / "lake"
        if not args.lake:
            lake.write(workload_documents(args.conversations), root)
        rows = lake.query(root, "SELECT * FROM conversations WHERE type = 'conversation.completed'")
        documents = [dict(zip(rows.columns, r, strict=True)) for r in rows.rows]
        json_gz = len(gzip.compress("".join(json.dumps(d, default=str) + "\n" for d in documents).encode()))
        parquet_total = sum(p.stat().st_size for p in root.glob("**/*.parquet"))
        result: dict[str, Any] = {"records": len(documents), "json_gzip_bytes": json_gz, "parquet_bytes": parquet_total}
        for name, query in lake.named_queries().items():
            scanned = parquet_bytes(root, query.sql)
            result[name] = {
                "parquet_scanned": scanned,
                "json_gzip_scanned": json_gz,
                "ratio": round(json_gz / scanned, 1),
            }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
