"""A local queue with SQS semantics on SQLite (visibility timeout, receive count, redrive after
maxReceiveCount), for `gcevents worker --sqlite-queue` and the demo."""

from __future__ import annotations

import dataclasses
import time
import uuid
from collections.abc import Callable, Mapping, Sequence

from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.ports import DeadLetter, DeadLetterSink, RawRecord

_QUEUE_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    visible_at REAL NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT,
    sent_at REAL NOT NULL
)"""


class SqliteQueue:
    """A local SQS standard queue. Messages received more than `max_receive_count` times are moved to
    `redrive_to` with reason `max_receive_count`, as an SQS redrive policy would; `explain` (body -> message, e.g.
    `gcevents.ops.dlq.failure_explainer`) says why in the letter, from the last failure the pipeline recorded."""

    def __init__(
        self,
        db: SqliteDatabase,
        *,
        max_receive_count: int = 5,
        redrive_to: DeadLetterSink | None = None,
        poll_interval: float = 0.05,
        explain: Callable[[str], str | None] | None = None,
    ) -> None:
        self.db = db
        self.max_receive_count = max_receive_count
        self.redrive_to = redrive_to
        self.poll_interval = poll_interval
        self.explain = explain
        with db.transaction() as conn:
            conn.execute(_QUEUE_SCHEMA)
            conn.execute("CREATE INDEX IF NOT EXISTS queue_visible ON queue_messages (visible_at)")
            conn.execute("CREATE INDEX IF NOT EXISTS queue_receipt ON queue_messages (receipt)")

    def send(self, bodies: Sequence[str], delay: float = 0.0) -> list[str]:
        now = time.time()
        ids = [str(uuid.uuid4()) for _ in bodies]
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO queue_messages (message_id, body, visible_at, sent_at) VALUES (?, ?, ?, ?)",
                [(mid, body, now + delay, now) for mid, body in zip(ids, bodies, strict=True)],
            )
        return ids

    def receive(self, max_messages: int, wait_seconds: float, visibility_timeout: float) -> list[RawRecord]:
        give_up = time.monotonic() + wait_seconds
        while True:
            records, exhausted = self._receive_once(max_messages, visibility_timeout)
            if exhausted and self.redrive_to is not None:
                # Letter first, delete second: a crash in between yields a duplicate dead letter, never a loss.
                self.redrive_to.send([self._explained(letter) for _, letter in exhausted])
                self.ack([receipt for receipt, _ in exhausted])
            if records or time.monotonic() >= give_up:
                return records
            time.sleep(self.poll_interval)

    def _receive_once(
        self, max_messages: int, visibility_timeout: float
    ) -> tuple[list[RawRecord], list[tuple[str, DeadLetter]]]:
        now = time.time()
        records: list[RawRecord] = []
        exhausted: list[tuple[str, DeadLetter]] = []
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT id, message_id, body, receive_count FROM queue_messages WHERE visible_at <= ?"
                " ORDER BY visible_at, id LIMIT ?",
                (now, max_messages),
            ).fetchall()
            for row_id, message_id, body, count in rows:
                receipt = uuid.uuid4().hex
                redrive = count >= self.max_receive_count and self.redrive_to is not None
                conn.execute(
                    "UPDATE queue_messages SET receive_count = receive_count + ?, receipt = ?, visible_at = ?"
                    " WHERE id = ?",
                    (0 if redrive else 1, receipt, now + (60.0 if redrive else visibility_timeout), row_id),
                )
                if redrive:
                    letter = DeadLetter(
                        "max_receive_count", f"received {count} times without success", body, message_id=message_id
                    )
                    exhausted.append((receipt, letter))
                else:
                    records.append(RawRecord(body, message_id, receipt, count + 1, "sqlite-queue"))
        return records, exhausted

    def _explained(self, letter: DeadLetter) -> DeadLetter:
        """Outside the queue's transaction: the explanation reads another store."""
        try:
            message = self.explain(letter.body) if self.explain is not None else None
        except Exception:  # best effort: the letter is sent either way
            message = None
        return dataclasses.replace(letter, message=message) if message else letter

    def ack(self, receipts: Sequence[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM queue_messages WHERE receipt = ?", [(r,) for r in receipts])

    def change_visibility(self, receipts: Mapping[str, float]) -> None:
        now = time.time()
        with self.db.transaction() as conn:
            conn.executemany(
                "UPDATE queue_messages SET visible_at = ? WHERE receipt = ?",
                [(now + max(0.0, s), r) for r, s in receipts.items()],
            )

    def receive_limit(self) -> int | None:
        return self.max_receive_count if self.redrive_to is not None else None

    def requeue(self, records: Sequence[tuple[RawRecord, float]]) -> set[str]:
        """Implements `EventSource.requeue` in place: the row's receive count starts over and it becomes visible
        after the delay (on SQS this is a new message; here the same row, atomically)."""
        now = time.time()
        done: set[str] = set()
        with self.db.transaction() as conn:
            for record, seconds in records:
                changed = conn.execute(
                    "UPDATE queue_messages SET receive_count = 0, visible_at = ?, receipt = NULL WHERE receipt = ?",
                    (now + max(0.0, seconds), record.receipt_handle),
                ).rowcount
                if changed and record.message_id:
                    done.add(record.message_id)
        return done

    def depth(self) -> dict[str, int]:
        now = time.time()
        with self.db.reading() as conn:
            visible, hidden = conn.execute(
                "SELECT COALESCE(SUM(visible_at <= ?), 0), COALESCE(SUM(visible_at > ?), 0) FROM queue_messages",
                (now, now),
            ).fetchone()
        return {"visible": int(visible), "in_flight": int(hidden)}

    def is_drained(self) -> bool:
        return sum(self.depth().values()) == 0
