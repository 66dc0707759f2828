"""SQLite idempotency store: a claim is one atomic conditional upsert (`INSERT ... ON CONFLICT DO UPDATE WHERE`).

SQLite has no TTL service: rows whose lease, completion or failure record has ended are purged by the first claim
after a store opens the file and then at most once per `purge_interval_s`, on the claimant's clock (the one every
validity decision uses), in chunks so the write lock is never held for long."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.ports import Claim, ClaimResult, ClaimStatus, Failure
from gcevents.text import storable

_IDEMPOTENCY_SCHEMA = """
CREATE TABLE IF NOT EXISTS idempotency (
    pk TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    token TEXT NOT NULL,
    lease_until INTEGER NOT NULL DEFAULT 0,
    expires_at INTEGER NOT NULL DEFAULT 0
)"""
# Added after the first release: a FAILED record's `Failure` (files written before get them on open).
_FAILURE_COLUMNS = {"last_error": "TEXT", "attempts": "INTEGER", "failed_at": "INTEGER"}
_INDEXES = (
    "CREATE INDEX IF NOT EXISTS idempotency_expires_at ON idempotency (expires_at)",
    "CREATE INDEX IF NOT EXISTS idempotency_lease_until ON idempotency (lease_until)",
)
PURGE_INTERVAL_S = 3600.0
_PURGE_CHUNK = 5000  # rows per purge transaction


class SqliteIdempotencyStore:
    def __init__(self, db: SqliteDatabase, *, purge_interval_s: float = PURGE_INTERVAL_S) -> None:
        self.db = db
        self.purge_interval_ms = int(purge_interval_s * 1000)
        with db.transaction() as conn:
            conn.execute(_IDEMPOTENCY_SCHEMA)
            present = {row[1] for row in conn.execute("PRAGMA table_info(idempotency)")}
            for name, kind in _FAILURE_COLUMNS.items():
                if name not in present:
                    conn.execute(f"ALTER TABLE idempotency ADD COLUMN {name} {kind}")
            for statement in _INDEXES:
                conn.execute(statement)
        self._purge_lock = threading.Lock()
        self._next_purge_ms = 0  # the first claim purges

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
        self._purge_if_due(now_ms)
        with self.db.transaction() as conn:
            won = conn.execute(
                """INSERT INTO idempotency (pk, status, token, lease_until, expires_at)
                   VALUES (?, 'IN_PROGRESS', ?, ?, 0)
                   ON CONFLICT(pk) DO UPDATE SET status='IN_PROGRESS', token=excluded.token,
                       lease_until=excluded.lease_until, expires_at=0
                   WHERE (status='IN_PROGRESS' AND (lease_until < ? OR token = excluded.token))
                      OR (status='COMPLETED' AND expires_at < ?)
                      OR status='FAILED'
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

    def release(self, claim: Claim, failure: Failure | None = None) -> None:
        # Only our own IN_PROGRESS claim: a late release must not delete a completion.
        with self.db.transaction() as conn:
            if failure is None:
                conn.execute(
                    "DELETE FROM idempotency WHERE pk = ? AND token = ? AND status = 'IN_PROGRESS'",
                    (claim.key, claim.token),
                )
                return
            conn.execute(
                "UPDATE idempotency SET status = 'FAILED', lease_until = 0, expires_at = ?, last_error = ?,"
                " attempts = ?, failed_at = ? WHERE pk = ? AND token = ? AND status = 'IN_PROGRESS'",
                (
                    failure.keep_until_ms,
                    storable(failure.error),
                    failure.attempts,
                    failure.failed_at_ms,
                    claim.key,
                    claim.token,
                ),
            )

    def failures(self, keys: Sequence[str]) -> dict[str, Failure]:
        found: dict[str, Failure] = {}
        with self.db.reading() as conn:
            for start in range(0, len(keys), 500):
                chunk = keys[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT pk, last_error, attempts, failed_at, expires_at FROM idempotency"  # noqa: S608
                    f" WHERE pk IN ({marks}) AND status = 'FAILED'",
                    chunk,
                )
                for pk, error, attempts, failed_at, expires_at in rows:
                    found[pk] = Failure(error or "", int(attempts or 0), int(failed_at or 0), int(expires_at))
        return found

    def renew(self, claim: Claim, lease_until_ms: int) -> bool:
        with self.db.transaction() as conn:
            cursor = conn.execute(  # only our own IN_PROGRESS claim, as `release`
                "UPDATE idempotency SET lease_until = ? WHERE pk = ? AND token = ? AND status = 'IN_PROGRESS'",
                (lease_until_ms, claim.key, claim.token),
            )
            return cursor.rowcount == 1

    def purge_expired(self, now_ms: int) -> int:
        """Delete rows no one can need any more: ended leases, expired completions and failure records (all of
        them claimable anyway). Returns how many."""
        ended = (
            "SELECT pk FROM idempotency WHERE expires_at > 0 AND expires_at < ? AND status IN ('COMPLETED', 'FAILED')"
            " LIMIT ?",
            "SELECT pk FROM idempotency WHERE lease_until > 0 AND lease_until < ? AND status = 'IN_PROGRESS' LIMIT ?",
        )
        purged = 0
        for select in ended:
            while True:
                with self.db.transaction() as conn:
                    statement = f"DELETE FROM idempotency WHERE pk IN ({select})"  # noqa: S608
                    count = conn.execute(statement, (now_ms, _PURGE_CHUNK)).rowcount
                purged += count
                if count < _PURGE_CHUNK:
                    break
        return purged

    def _purge_if_due(self, now_ms: int) -> None:
        """At most once per interval, by one thread; the others do not wait for it."""
        if now_ms < self._next_purge_ms or not self._purge_lock.acquire(blocking=False):
            return
        try:
            if now_ms >= self._next_purge_ms:
                self._next_purge_ms = now_ms + self.purge_interval_ms
                self.purge_expired(now_ms)
        finally:
            self._purge_lock.release()
