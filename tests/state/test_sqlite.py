"""SQLite specifics: two processes on one file, lock contention and expiry."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gcevents.adapters.sqlite.state import SqliteStateStore
from gcevents.errors import StoreUnavailableError
from gcevents.testing.fakes import FakeClock

from .helpers import make_event

WRITER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[3])
    from state.helpers import make_event
    from gcevents.adapters.sqlite.state import SqliteStateStore

    store = SqliteStateStore(sys.argv[1], max_attempts=50)
    writer = sys.argv[2]
    for n in range(40):
        event = make_event("attributes", "shared", f"{writer}-{n}", attributes={f"{writer}-{n}": n})
        result = store.apply({"shared": [event]})
        assert not result.failed, result.failed
    """
)


def test_two_processes_on_one_conversation_lose_no_update(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    SqliteStateStore(db)  # create the schema before the race
    tests_dir = str(Path(__file__).resolve().parents[1])
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(db), name, tests_dir], stderr=subprocess.PIPE, text=True)
        for name in ("a", "b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    item = SqliteStateStore(db).get("shared")
    assert item is not None
    assert len(item.state["attributes"]) == 80
    assert len(item.state["participants"]) == 80
    assert item.version == 80  # every apply changed the item exactly once


def test_a_locked_database_is_a_transient_per_conversation_failure(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    store = SqliteStateStore(db, busy_timeout_s=0.05)
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        result = store.apply({"c1": [make_event("customer.start")], "c2": [make_event("customer.start", "c2")]})
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert set(result.failed) == {"c1", "c2"}
    assert all(isinstance(e, StoreUnavailableError) for e in result.failed.values())
    assert not store.apply({"c1": [make_event("customer.start")]}).failed  # fine once the lock is gone


def test_expired_rows_are_purged_when_a_store_opens(tmp_path: Path) -> None:
    clock = FakeClock(1_700_000_000.0)
    SqliteStateStore(tmp_path / "s.db", clock=clock, ttl_days=1).apply({"c1": [make_event("customer.start")]})
    clock.advance(2 * 86400)
    reopened = SqliteStateStore(tmp_path / "s.db", clock=clock)
    assert reopened.get("c1") is None


def test_an_unopenable_path_raises_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StoreUnavailableError):
        SqliteStateStore(tmp_path / "dir.db")
