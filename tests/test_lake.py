"""The conversation lake locally: records written as Parquet in the template's layout answer every named query with
DuckDB, the handle-time totals are the records' own durations, and the CLI works as typed from a fresh folder."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from gcevents.entrypoints.cli import main
from gcevents.errors import GcEventsError
from gcevents.ops import lake
from gcevents.ops.lake.columns import partition
from gcevents.testing import run
from gcevents.testing.workload import conversation_lifecycle

START_MS = 1_765_000_000_000


def _documents(conversations: int, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for n in range(conversations):
        # Two days apart every fifth conversation: more than one date partition.
        start = START_MS + n * 7_000 + (86_400_000 if n % 5 == 0 else 0)
        events += conversation_lifecycle(f"c-{n:03d}", start, rng)
    result = run([], events)
    return lake.documents_from_states(result.state.list(limit=10_000))


@pytest.fixture(scope="module")
def lake_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    documents = _documents(40)
    root = tmp_path_factory.mktemp("lake")
    lake.write(documents, root)
    return root, documents


def test_records_land_in_type_and_start_date_partitions(lake_dir: tuple[Path, list[dict[str, Any]]]) -> None:
    root, documents = lake_dir
    folders = {p.parent.relative_to(root).as_posix() for p in root.glob("**/*.parquet")}
    expected = {f"type={partition(d)['type']}/date={partition(d)['date']}" for d in documents}
    assert folders == expected
    assert len(folders) == 2
    assert lake.query(root, "SELECT count(*) FROM conversations").rows == ((len(documents),),)


@pytest.mark.parametrize("name", sorted(lake.named_queries()))
def test_every_named_query_answers(lake_dir: tuple[Path, list[dict[str, Any]]], name: str) -> None:
    root, _ = lake_dir
    result = lake.query(root, lake.named_queries()[name].sql)
    assert result.columns
    if name != "reconciled_conversations":  # the workload's conversations were never repaired
        assert result.rows


def test_handle_time_totals_are_the_records_durations(lake_dir: tuple[Path, list[dict[str, Any]]]) -> None:
    root, documents = lake_dir
    result = lake.query(root, lake.named_queries()["handle_time_by_queue_day"].sql)
    column = {name: i for i, name in enumerate(result.columns)}
    for query_column, record_field in (("talk_ms", "talkMs"), ("hold_ms", "holdMs"), ("acw_ms", "acwMs")):
        total = sum(row[column[query_column]] for row in result.rows)
        assert total == sum(d["conversation"]["durations"].get(record_field, 0) for d in documents)


def test_writing_the_same_records_again_rewrites_the_same_files(tmp_path: Path) -> None:
    documents = _documents(6)
    first = lake.write(documents, tmp_path)
    second = lake.write(documents, tmp_path)
    assert first.files == second.files
    assert lake.query(tmp_path, "SELECT count(*) FROM conversations").rows == ((len(documents),),)


def test_the_cli_as_typed_from_a_fresh_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    rng = random.Random(5)
    events = [e for n in range(5) for e in conversation_lifecycle(f"c-{n}", START_MS + n * 1000, rng)]
    run([], events, env={"GCEVENTS_STATE_STORE": "sqlite:state.db"})
    assert main(["lake", "write", "--store", "sqlite:state.db"]) == 0
    assert "5 records" in capsys.readouterr().out
    assert main(["lake", "query", "conversations_by_media_direction", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert sum(r["conversations"] for r in rows) == 5
    assert main(["lake", "query", "SELECT count(*) AS n FROM conversations", "--csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ["n", "5"]
    assert main(["lake", "query", "no_such_query"]) == 2  # usage: docs/cli.md
    assert "no named query" in capsys.readouterr().err


def test_process_writes_the_lake_after_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GCEVENTS_DB", "g.db")
    rng = random.Random(9)
    lines = [json.dumps(e) for n in range(4) for e in conversation_lifecycle(f"c-{n}", START_MS + n * 1000, rng)]
    Path("events.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["process", "events.jsonl", "--lake", "lake", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["lake"]["records"] == 4
    assert lake.query("lake", "SELECT count(*) FROM conversations").rows == ((4,),)


def test_a_record_stored_twice_is_counted_once(tmp_path: Path) -> None:
    """Firehose delivers at least once: the same records in a second object change no query's answer."""
    documents = _documents(10)
    lake.write(documents, tmp_path)
    before = {name: lake.query(tmp_path, q.sql).rows for name, q in lake.named_queries().items()}
    for path in list(tmp_path.glob("type=*/date=*/records-*.parquet")):
        path.with_name("redelivered.parquet").write_bytes(path.read_bytes())
    assert lake.query(tmp_path, "SELECT count(*) FROM conversations").rows == ((2 * len(documents),),)
    assert {name: lake.query(tmp_path, q.sql).rows for name, q in lake.named_queries().items()} == before


def test_bad_sql_is_one_line(tmp_path: Path) -> None:
    lake.write(_documents(2), tmp_path)
    with pytest.raises(GcEventsError, match=r"^query failed: .*nosuchcolumn") as raised:
        lake.query(tmp_path, "SELECT nosuchcolumn FROM conversations")
    assert "\n" not in str(raised.value)
