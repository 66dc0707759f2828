"""SQLite dead letters: a table that `gcevents dlq inspect|redrive` reads back."""

from __future__ import annotations

import base64
import json
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.ports import DeadLetter, StoredDeadLetter
from gcevents.text import is_scalar, original_bytes, storable

_DEAD_LETTER_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reason TEXT NOT NULL,
    message TEXT NOT NULL,
    body TEXT NOT NULL,
    topic TEXT,
    conversation_id TEXT,
    message_id TEXT,
    failed_at REAL NOT NULL,
    hidden_until REAL NOT NULL DEFAULT 0
)"""
_PAGE = 10  # letters hidden per read, as one SQS receive: a redrive holds only what it is about to handle


class SqliteDeadLetterSink:
    """Dead letters in a table; implements `DeadLetterStore` for `gcevents dlq inspect|redrive`.

    `scan` hides what it reads for `read_lease` seconds (like an SQS DLQ's visibility timeout), so two redrives at
    once split the letters instead of both re-sending each; a redrive that dies gives them back when the lease ends."""

    def __init__(
        self, db: SqliteDatabase, *, read_lease: float = 120.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.read_lease = read_lease
        self.clock = clock
        with db.transaction() as conn:
            conn.execute(_DEAD_LETTER_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(dead_letters)")}
            if "hidden_until" not in columns:  # a database written before letters could be held
                conn.execute("ALTER TABLE dead_letters ADD COLUMN hidden_until REAL NOT NULL DEFAULT 0")

    def send(self, letters: Sequence[DeadLetter]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO dead_letters (reason, message, body, topic, conversation_id, message_id, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [_row(x) for x in letters],
            )

    def list(self, limit: int = 1000) -> list[StoredDeadLetter]:
        """Every letter, held or not, without holding any (for tests and counts)."""
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT id, reason, message, body, topic, conversation_id, message_id, failed_at"
                " FROM dead_letters ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [_stored(r) for r in rows]

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        """Up to `limit` letters not held by another reader, oldest first, in pages held until `remove`/`release`."""
        seen = 0
        page: deque[StoredDeadLetter] = deque()
        try:
            while seen < limit:
                page.extend(self._hold(min(_PAGE, limit - seen)))
                if not page:
                    return
                seen += len(page)
                while page:
                    yield page.popleft()
        finally:  # closed early: the rest of the page was held but never handed out
            if page:
                self.release([s.handle for s in page])

    def _hold(self, count: int) -> Sequence[StoredDeadLetter]:
        now = self.clock()
        with self.db.transaction() as conn:  # read and hold in one write transaction: no other reader gets them
            rows = conn.execute(
                "SELECT id, reason, message, body, topic, conversation_id, message_id, failed_at"
                " FROM dead_letters WHERE hidden_until <= ? ORDER BY id LIMIT ?",
                (now, count),
            ).fetchall()
            conn.executemany(
                "UPDATE dead_letters SET hidden_until = ? WHERE id = ?", [(now + self.read_lease, r[0]) for r in rows]
            )
        return [_stored(r) for r in rows]

    def release(self, handles: Sequence[str]) -> None:
        """Give back letters read but not removed: visible to the next reader at once."""
        with self.db.transaction() as conn:
            conn.executemany("UPDATE dead_letters SET hidden_until = 0 WHERE id = ?", [(int(h),) for h in handles])

    def remove(self, handles: Sequence[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM dead_letters WHERE id = ?", [(int(h),) for h in handles])

    def count(self) -> int:
        with self.db.reading() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM dead_letters").fetchone()[0])


def _row(letter: DeadLetter) -> tuple[object, ...]:
    """Labels (reason, ids, topic, message) are escaped if UTF-8 cannot encode them; a body that is not text
    (undecodable bytes, lone surrogates) is kept byte for byte as a BLOB, so one such letter never fails the
    batch it came with and nothing of it is lost."""
    labels = [None if v is None else storable(v) for v in (letter.topic, letter.conversation_id, letter.message_id)]
    body: str | bytes = letter.body if is_scalar(letter.body) else letter.body.encode("utf-8", "surrogatepass")
    return (storable(letter.reason), storable(letter.message), body, *labels, letter.failed_at)


def _stored(row: Sequence[Any]) -> StoredDeadLetter:
    return StoredDeadLetter(DeadLetter(row[1], row[2], _body(row[3]), row[4], row[5], row[6], row[7]), str(row[0]))


def _body(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


def dead_letter_json(letter: DeadLetter) -> str:
    """A stable JSON rendering for `dlq inspect --json` (ASCII: any character is a JSON escape). A body that is
    not text also comes as `bodyBase64`: the original bytes (undecodable input bytes included)."""
    document: dict[str, object] = {
        "reason": letter.reason,
        "message": letter.message,
        "topic": letter.topic,
        "conversationId": letter.conversation_id,
        "messageId": letter.message_id,
        "failedAt": letter.failed_at,
        "ageSeconds": round(time.time() - letter.failed_at, 1),
        "body": letter.body,
    }
    if not is_scalar(letter.body):
        document["bodyBase64"] = base64.b64encode(original_bytes(letter.body)).decode("ascii")
    return json.dumps(document)
