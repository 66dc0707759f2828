"""`DeadLetterStore` in memory."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from gcevents.ports import DeadLetter, StoredDeadLetter


class MemoryDeadLetterSink:
    """A `DeadLetterStore` in memory; `letters` is what was sent and is still there."""

    def __init__(self) -> None:
        self._rows: dict[int, DeadLetter] = {}
        self._next = 0
        self._lock = threading.Lock()

    @property
    def letters(self) -> list[DeadLetter]:
        with self._lock:
            return list(self._rows.values())

    def send(self, letters: Sequence[DeadLetter]) -> None:
        with self._lock:
            for letter in letters:
                self._rows[self._next] = letter
                self._next += 1

    def list(self, limit: int = 1000) -> list[StoredDeadLetter]:
        with self._lock:
            return [StoredDeadLetter(letter, str(i)) for i, letter in list(self._rows.items())[:limit]]

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        yield from self.list(limit)

    def remove(self, handles: Sequence[str]) -> None:
        with self._lock:
            for handle in handles:
                self._rows.pop(int(handle), None)

    def release(self, handles: Sequence[str]) -> None:
        """Nothing is hidden by reading."""
