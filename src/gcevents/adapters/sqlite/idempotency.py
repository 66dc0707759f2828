"""SQLite idempotency store: a claim is one atomic conditional upsert (`INSERT ... ON CONFLICT DO UPDATE WHERE`)."""

from __future__ import annotations

from collections.abc import Sequence

from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.ports import Claim, ClaimResult, ClaimStatus

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
