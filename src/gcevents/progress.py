"""A progress line for long local runs: redrawn in place on a terminal, a periodic log line otherwise."""

from __future__ import annotations

import sys
import threading
import time
from typing import IO


class Progress:
    def __init__(self, total: int, label: str = "events", stream: IO[str] | None = None, every: float = 0.5) -> None:
        self.total = max(1, total)
        self.label = label
        self.stream = stream or sys.stderr
        self.every = every
        self.done = 0
        self.started = time.perf_counter()
        self._last = 0.0
        self._lock = threading.Lock()
        self._tty = self.stream.isatty()

    def advance(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.perf_counter()
            if now - self._last >= (self.every if self._tty else 5.0) or self.done >= self.total:
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(1e-9, now - self.started)
        share = min(1.0, self.done / self.total)
        bar = "#" * int(share * 30)
        line = f"[{bar:<30}] {self.done}/{self.total} {self.label}  {self.done / elapsed:,.0f}/s  {elapsed:.1f}s"
        self.stream.write(("\r" + line) if self._tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self._tty:
            self.stream.write("\n")
            self.stream.flush()
