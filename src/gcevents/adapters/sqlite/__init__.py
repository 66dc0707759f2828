"""SQLite adapters, the embedded default: idempotency, state, dead letters and a local queue in one file."""

from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.adapters.sqlite.dead_letters import SqliteDeadLetterSink
from gcevents.adapters.sqlite.idempotency import SqliteIdempotencyStore
from gcevents.adapters.sqlite.queue import SqliteQueue
from gcevents.adapters.sqlite.state import SqliteStateStore

__all__ = ["SqliteDatabase", "SqliteDeadLetterSink", "SqliteIdempotencyStore", "SqliteQueue", "SqliteStateStore"]
