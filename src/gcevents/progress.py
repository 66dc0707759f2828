"""A progress line for commands that can run longer than a few seconds: redrawn in place on a terminal, and
only there (`terminal_progress`): a log, a pipe or `--json` output never carries it."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import IO


class Progress:
    """`[#####     ] 120/700 events  85/s  1.4s`; without a total (a scan of unknown length): `120 letters ...`."""

    def __init__(
        self, total: int | None, label: str = "events", stream: IO[str] | None = None, every: float = 0.5
    ) -> None:
        self.total = None if total is None else max(1, total)
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
            finished = self.total is not None and self.done >= self.total
            if now - self._last >= (self.every if self._tty else 5.0) or finished:
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        elapsed = max(1e-9, now - self.started)
        rate = f"{self.done / elapsed:,.0f}/s  {elapsed:.1f}s"
        if self.total is None:
            line = f"{self.done} {self.label}  {rate}"
        else:
            bar = "#" * int(min(1.0, self.done / self.total) * 30)
            line = f"[{bar:<30}] {self.done}/{self.total} {self.label}  {rate}"
        self.stream.write(("\r" + line) if self._tty else line + "\n")
        self.stream.flush()

    def close(self) -> None:
        """On a terminal: the final count (draws are throttled, so the last one may be behind), then a newline."""
        if self._tty:
            with self._lock:
                self._draw(time.perf_counter())
            self.stream.write("\n")
            self.stream.flush()


def terminal_progress(total: int | None, label: str, *, quiet: bool = False) -> Progress | None:
    """A progress line on stderr when a person is watching it (a terminal) and the output is for a person (not
    `quiet`, i.e. not --json); otherwise None, and nothing is drawn."""
    if quiet or not sys.stderr.isatty():
        return None
    return Progress(total, label, sys.stderr)


class Phases:
    """One progress line per phase of a command, in turn (`reconcile`: conversations read, then facts applied):
    a phase's line ends when the next one starts counting."""

    def __init__(self, *, quiet: bool) -> None:
        self.quiet = quiet
        self._label: str | None = None
        self._line: Progress | None = None

    def counter(self, label: str) -> Callable[[int], None]:
        def advance(n: int) -> None:
            if self._label != label:
                self.close()
                self._label, self._line = label, terminal_progress(None, label, quiet=self.quiet)
            if self._line is not None:
                self._line.advance(n)

        return advance

    def close(self) -> None:
        if self._line is not None:
            self._line.close()
        self._line = None
