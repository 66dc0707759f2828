"""SQLite adapters: the embedded default. Safe across threads (a connection per thread) and processes
(WAL + BEGIN IMMEDIATE, so a claim is one atomic conditional upsert)."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from ..errors import StoreUnavailableError
from ..ports import Claim, ClaimResult, ClaimStatus, DeadLetter, StoredDeadLetter


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


_IDEMPOTENCY_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    pk TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    token TEXT NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL DEFAULT 0
)"""


class SqliteIdempotencyStore:
    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        with db.transaction() as conn:
            conn.execute(_IDEMPOTENCY_SCHEMA)

    def completed(self, keys: Sequence[str], now_ms: int) -> set[str]:
        found: set[str] = set()
        with self.db.reading() as conn:
            for start in range(0, len(keys), 500):  # stay below SQLite's bound-parameter limit
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    f"SELECT pk FROM idempotency WHERE pk IN ({marks}) AND status='COMPLETED' AND expires_at > ?",  # noqa: S608
                    (*chunk, now_ms),
                )
                found.update(row[0] for row in rows)
        return found

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
        with self.db.transaction() as conn:
            won = conn.execute(
                """INSERT INTO idempotency (pk, status, token, lease_until, expires_at)
                   VALUES (?, 'IN_PROGRESS', ?, ?, 0)
                   ON CONFLICT(pk) DO UPDATE SET status='IN_PROGRESS', token=excluded.token,
                       lease_until=excluded.lease_until, expires_at=0
                   WHERE (status='IN_PROGRESS' AND (lease_until < ? OR token = excluded.token))
                      OR (status='COMPLETED' AND expires_at < ?)
                   RETURNING pk""",
                (key, token, lease_until_ms, now_ms, now_ms),
            ).fetchone()
            if won is not None:
                return ClaimResult(ClaimStatus.CLAIMED)
            status, lease_until = conn.execute(
                "SELECT status, lease_until FROM idempotency WHERE pk = ?", (key,)
            ).fetchone()
        if status == ClaimStatus.COMPLETED.value:
            return ClaimResult(ClaimStatus.COMPLETED)
        return ClaimResult(ClaimStatus.IN_PROGRESS, int(lease_until))

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                """INSERT INTO idempotency (pk, status, token, lease_until, expires_at)
                   VALUES (?, 'COMPLETED', ?, 0, ?)
                   ON CONFLICT(pk) DO UPDATE SET status='COMPLETED', token=excluded.token,
                       lease_until=0, expires_at=excluded.expires_at""",
                [(c.key, c.token, expires_at_ms) for c in claims],
            )

    def release(self, claim: Claim) -> None:
        with self.db.transaction() as conn:
            conn.execute(  # only our own IN_PROGRESS claim: a late release must not delete a completion
                "DELETE FROM idempotency WHERE pk = ? AND token = ? AND status = 'IN_PROGRESS'",
                (claim.key, claim.token),
            )

    def purge_expired(self, now_ms: int) -> int:
        """SQLite has no TTL: the CLI calls this to garbage-collect, as DynamoDB TTL would."""
        with self.db.transaction() as conn:
            cursor = conn.execute(
                "DELETE FROM idempotency WHERE (status='COMPLETED' AND expires_at < ?)"
                " OR (status='IN_PROGRESS' AND lease_until < ?)",
                (now_ms, now_ms),
            )
            return cursor.rowcount


_DEAD_LETTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    body TEXT NOT NULL,
    topic TEXT,
    conversation_id TEXT,
    message_id TEXT,
    failed_at REAL NOT NULL
)"""


class SqliteDeadLetterSink:
    """Dead letters in a table; `list`/`remove` serve `gcevents dlq inspect|redrive`."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        with db.transaction() as conn:
            conn.execute(_DEAD_LETTER_SCHEMA)

    def send(self, letters: Sequence[DeadLetter]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO dead_letters (reason, message, body, topic, conversation_id, message_id, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(x.reason, x.message, x.body, x.topic, x.conversation_id, x.message_id, x.failed_at) for x in letters],
            )

    def list(self, limit: int = 1000) -> list[StoredDeadLetter]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT id, reason, message, body, topic, conversation_id, message_id, failed_at"
                " FROM dead_letters ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredDeadLetter(DeadLetter(r[1], r[2], r[3], r[4], r[5], r[6], r[7]), str(r[0])) for r in rows]

    def remove(self, handles: Sequence[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(int(h),) for h in handles])

    def count(self) -> int:
        with self.db.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])


def dead_letter_json(letter: DeadLetter) -> str:
    """A stable JSON rendering for `dlq inspect --json`."""
    return json.dumps(
        {
            "reason": letter.reason,
            "message": letter.message,
            "topic": letter.topic,
            "conversationId": letter.conversation_id,
            "messageId": letter.message_id,
            "failedAt": letter.failed_at,
            "ageSeconds": round(time.time() - letter.failed_at, 1),
            "body": letter.body,
        }
    )
