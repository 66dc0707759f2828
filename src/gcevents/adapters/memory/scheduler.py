"""A `CompletionTimerScheduler` in memory."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence


class CollectingScheduler:
    """Keeps the conversations of the timers instead of queueing them: `gcevents process` has no queue, and
    evaluates every pending grace at the end of its run (`core.outputs.due_timers(scheduler.waiting())`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conversations: dict[str, None] = {}

    def schedule(self, messages: Sequence[tuple[str, float]]) -> None:
        with self._lock:
            for body, _delay in messages:
                cid = json.loads(body)["detail"]["eventBody"]["conversationId"]
                self._conversations[str(cid)] = None

    def waiting(self) -> list[str]:
        """The conversations with a timer scheduled, in order; forgets them."""
        with self._lock:
            cids, self._conversations = list(self._conversations), {}
        return cids
