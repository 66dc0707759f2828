"""SQLite dead letters: a table that `gcevents dlq inspect|redrive` reads back."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator, Sequence

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
    failed_at REAL NOT NULL
)"""


class SqliteDeadLetterSink:
    """Dead letters in a table; implements `DeadLetterStore` for `gcevents dlq inspect|redrive`."""

    def __init__(self, db: SqliteDatabase) -> None:
        self.db = db
        with db.transaction() as conn:
            conn.execute(_DEAD_LETTER_SCHEMA)

    def send(self, letters: Sequence[DeadLetter]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO dead_letters (reason, message, body, topic, conversation_id, message_id, failed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [_row(x) for x in letters],
            )

    def list(self, limit: int = 1000) -> list[StoredDeadLetter]:
        with self.db.reading() as conn:
            rows = conn.execute(
                "SELECT id, reason, message, body, topic, conversation_id, message_id, failed_at"
                " FROM dead_letters ORDER BY id LIMIT ?",
                (limit,),
            ).fetchall()
        return [StoredDeadLetter(DeadLetter(r[1], r[2], _body(r[3]), r[4], r[5], r[6], r[7]), str(r[0])) for r in rows]

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        yield from self.list(limit)

    def release(self, handles: Sequence[str]) -> None:
        """Reading a table hides nothing: there is nothing to give back."""

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
