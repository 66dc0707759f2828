"""`gcevents state get|list`, driven through argparse as the main CLI would."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gcevents.adapters.sqlite.state import SqliteStateStore
from gcevents.entrypoints.cli.state import configured_state_store, open_state_store, register
from gcevents.errors import ConfigError
from gcevents.testing.fakes import FakeClock

from .helpers import BASE_MS, make_event

START = time.time() - 7200


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="gcevents")
    register(parser.add_subparsers())
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "state.db"
    clock = FakeClock(START)  # recent: items older than the TTL are purged when a store opens
    store = SqliteStateStore(path, clock=clock)
    store.apply(
        {
            "c1": [
                make_event("customer.start", mediaType="VOICE"),
                make_event("acw", at=BASE_MS + 5, wrapupCode="sale"),
            ]
        }
    )
    clock.advance(3600)
    store.apply({"c2": [make_event("customer.start", "c2", mediaType="CHAT", direction="inbound")]})
    return path


def test_get_json(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["state", "get", "c1", "--store", f"sqlite:{db}", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["conversationId"] == "c1"
    assert shown["mediaType"] == "VOICE"
    assert shown["lastEventKind"] == "acw"
    assert shown["participants"][0]["wrapupCode"] == "sale"


def test_get_text_and_missing(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["state", "get", "c1", "--store", f"sqlite:{db}"]) == 0
    assert "participant p1" in capsys.readouterr().out
    assert run(["state", "get", "nope", "--store", f"sqlite:{db}"]) == 1
    assert "no state" in capsys.readouterr().err


def test_list_reads_the_store_from_the_environment(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCEVENTS_STATE_STORE", f"sqlite:{db}")
    assert run(["state", "list", "--json"]) == 0
    assert [i["conversationId"] for i in json.loads(capsys.readouterr().out)] == ["c2", "c1"]
    assert run(["state", "list", "--since", datetime.fromtimestamp(START + 1800, UTC).isoformat(), "--json"]) == 0
    assert [i["conversationId"] for i in json.loads(capsys.readouterr().out)] == ["c2"]
    assert run(["state", "list", "--limit", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("conversationId")
    assert len(lines) == 2
    assert "CHAT" in lines[1]


def test_list_reads_the_sqlite_file_of_the_configuration(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No GCEVENTS_STATE_STORE: the state lives where the pipeline put it, the SQLite file GCEVENTS_DB."""
    monkeypatch.delenv("GCEVENTS_STATE_STORE", raising=False)
    monkeypatch.setenv("GCEVENTS_DB", str(db))
    assert run(["state", "get", "c2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["mediaType"] == "CHAT"
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "")  # empty is unset
    assert run(["state", "list", "--json"]) == 0
    assert [i["conversationId"] for i in json.loads(capsys.readouterr().out)] == ["c2", "c1"]


def test_the_store_comes_from_the_configuration_unless_named(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GCEVENTS_STATE_STORE", f"sqlite:{tmp_path / 'other.db'}")
    monkeypatch.setenv("GCEVENTS_STATE_TTL_DAYS", "7")
    store = configured_state_store(argparse.Namespace(store=None))
    assert isinstance(store, SqliteStateStore)
    assert store.ttl_days == 7
    assert store.get("c1") is None
    named = configured_state_store(argparse.Namespace(store=f"sqlite:{db}"))  # --store wins
    assert named.get("c1") is not None
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    with pytest.raises(ConfigError, match="state tracking is off"):
        configured_state_store(argparse.Namespace(store=None))
    monkeypatch.setenv("GCEVENTS_STATE_TTL_DAYS", "a week")
    with pytest.raises(ConfigError, match="GCEVENTS_STATE_TTL_DAYS"):
        configured_state_store(argparse.Namespace(store=f"sqlite:{db}"))


def test_dynamodb_store_spec(aws: str, unique_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from gcevents.adapters.aws import make_client
    from gcevents.adapters.dynamodb.state import create_state_table

    create_state_table(make_client("dynamodb"), unique_name)
    open_state_store(f"dynamodb:{unique_name}").apply({"c9": [make_event("customer.start", "c9")]})
    assert run(["state", "list", "--store", f"dynamodb:{unique_name}", "--json"]) == 0
    assert [i["conversationId"] for i in json.loads(capsys.readouterr().out)] == ["c9"]


def test_bad_arguments() -> None:
    with pytest.raises(ConfigError):
        open_state_store("postgres:x")
    with pytest.raises(SystemExit):
        run(["state", "list", "--since", "yesterday"])
    with pytest.raises(SystemExit):
        run(["state", "list", "--limit", "0"])
