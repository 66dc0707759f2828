"""SQLite state store: the embedded default. One row per conversation, the state as JSON text.

Safe across threads (a connection per thread) and processes (WAL, a busy timeout, and writes conditional on
the version read). Reads happen outside the write lock, so merging never holds it."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.core import state_format
from gcevents.core.state_store import DEFAULT_TTL_DAYS, Conflict, OptimisticStateStore, PendingWrite
from gcevents.errors import StoreUnavailableError
from gcevents.ports import Clock, StoredState
from gcevents.text import is_scalar

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS conversation_state (
        conversation_id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        version INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        ttl INTEGER NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS conversation_state_updated_at ON conversation_state (updated_at)",
    "CREATE INDEX IF NOT EXISTS conversation_state_ttl ON conversation_state (ttl)",
)
_COLUMNS = "conversation_id, state, version, updated_at, ttl"
_CHUNK = 500  # below SQLite's bound-parameter limit


class SqliteStateStore(OptimisticStateStore):
    def __init__(
        self,
        path: str | Path | SqliteDatabase,
        *,
        ttl_days: int = DEFAULT_TTL_DAYS,
        clock: Clock | None = None,
        busy_timeout_s: float = 30.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(ttl_days=ttl_days, clock=clock, **kwargs)
        self.db = path if isinstance(path, SqliteDatabase) else SqliteDatabase(path, busy_timeout_s=busy_timeout_s)
        with self._translated(), self.db.transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)
        self.purge_expired()

    def purge_expired(self) -> int:
        """SQLite has no TTL service: expired rows are deleted when a store opens the file."""
        with self._translated(), self.db.transaction() as conn:
            return conn.execute("DELETE FROM conversation_state WHERE ttl < ?", (int(self.clock.now()),)).rowcount

    # hooks ---------------------------------------------------------------------------------------------
    def _load(self, conversation_ids: Sequence[str]) -> dict[str, StoredState]:
        found: dict[str, StoredState] = {}
        with self._translated(), self.db.reading() as conn:
            for start in range(0, len(conversation_ids), _CHUNK):
                chunk = conversation_ids[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM conversation_state WHERE conversation_id IN ({marks})",  # noqa: S608
                    chunk,
                )
                found.update((row[0], _from_row(row)) for row in rows)
        return found

    def _save(self, writes: Sequence[PendingWrite]) -> dict[str, Conflict | Exception]:
        lost: dict[str, Conflict | Exception] = {}
        with self._translated(), self.db.transaction() as conn:  # one commit for the whole batch
            for write in writes:
                item = write.item
                row = (
                    state_format.dumps(item.state),
                    item.version,
                    item.updated_at_ms,
                    item.ttl,
                )
                if write.expected_version is None:
                    cursor = conn.execute(
                        f"INSERT INTO conversation_state ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)"  # noqa: S608
                        " ON CONFLICT(conversation_id) DO NOTHING",
                        (item.conversation_id, *row),
                    )
                else:
                    cursor = conn.execute(
                        "UPDATE conversation_state SET state = ?, version = ?, updated_at = ?, ttl = ?"
                        " WHERE conversation_id = ? AND version = ?",
                        (*row, item.conversation_id, write.expected_version),
                    )
                if cursor.rowcount != 1:
                    lost[item.conversation_id] = Conflict()  # someone else wrote first: re-read and re-merge
        return lost

    # queries -------------------------------------------------------------------------------------------
    def get(self, conversation_id: str) -> StoredState | None:
        if not is_scalar(conversation_id):
            return None  # no item can have such a key (`apply` refuses it)
        with self._translated(), self.db.reading() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM conversation_state WHERE conversation_id = ?",  # noqa: S608
                (conversation_id,),
            ).fetchone()
        return _from_row(row) if row else None

    def delete(self, conversation_id: str) -> bool:
        with self._translated(), self.db.transaction() as conn:
            cursor = conn.execute("DELETE FROM conversation_state WHERE conversation_id = ?", (conversation_id,))
            return cursor.rowcount > 0

    def list(self, *, since: datetime | None = None, limit: int = 50) -> list[StoredState]:
        floor = int(since.timestamp() * 1000) if since else 0
        with self._translated(), self.db.reading() as conn:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM conversation_state WHERE updated_at >= ?"  # noqa: S608
                " ORDER BY updated_at DESC, conversation_id DESC LIMIT ?",
                (floor, limit),
            ).fetchall()
        return [_from_row(row) for row in rows]

    @contextmanager
    def _translated(self) -> Iterator[None]:
        # SqliteDatabase translates OperationalError; anything else from sqlite3 is ours to translate.
        try:
            yield
        except sqlite3.Error as exc:
            raise StoreUnavailableError(f"sqlite state store {Path(self.db.path).name}: {exc}") from exc


def _from_row(row: tuple[Any, ...]) -> StoredState:
    conversation_id, state, version, updated_at, ttl = row
    return StoredState(conversation_id, state_format.loads(state), int(version), int(updated_at), int(ttl))
