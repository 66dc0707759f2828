"""Completion timers on the local SQLite queue (it has per-message delays, like SQS DelaySeconds)."""

from __future__ import annotations

from collections.abc import Sequence

from gcevents.adapters.sqlite.queue import SqliteQueue


class SqliteTimerScheduler:
    def __init__(self, queue: SqliteQueue) -> None:
        self.queue = queue

    def schedule(self, messages: Sequence[tuple[str, float]]) -> None:
        by_delay: dict[float, list[str]] = {}
        for body, delay in messages:
            by_delay.setdefault(delay, []).append(body)
        for delay, bodies in by_delay.items():
            self.queue.send(bodies, delay=delay)
