"""One SQLite file, shared by the embedded adapters: a connection per thread (safe across threads) and WAL +
BEGIN IMMEDIATE (a read-then-write inside one transaction is atomic across processes)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gcevents.errors import StoreUnavailableError


class SqliteDatabase:
    """One file, one connection per thread. Translates sqlite3 errors into StoreUnavailableError."""

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 30.0) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()

    def connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=self._busy_timeout_s, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL is durable against process crashes
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front: read-then-write inside is atomic across processes."""
        try:
            conn = self.connection()  # inside: opening (PRAGMA journal_mode=WAL) can be "database is locked" too
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.OperationalError:
                if conn.in_transaction:  # else this thread's connection stays inside a dead transaction forever
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(f"sqlite {Path(self.path).name}: {exc}") from exc

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = self.connection()
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(f"sqlite {Path(self.path).name}: {exc}") from exc
        try:
            yield conn
        except sqlite3.OperationalError as exc:
            raise StoreUnavailableError(f"sqlite {Path(self.path).name}: {exc}") from exc
