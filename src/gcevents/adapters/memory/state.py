"""`StateStore` in memory."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from gcevents.core.state_store import DEFAULT_TTL_DAYS, Conflict, OptimisticStateStore, PendingWrite
from gcevents.ports import Clock, StoredState


class MemoryStateStore(OptimisticStateStore):
    def __init__(self, *, ttl_days: int = DEFAULT_TTL_DAYS, clock: Clock | None = None, **kwargs: Any) -> None:
        super().__init__(ttl_days=ttl_days, clock=clock, **kwargs)
        self._items: dict[str, StoredState] = {}
        self._lock = threading.Lock()

    def _load(self, conversation_ids: Sequence[str]) -> dict[str, StoredState]:
        with self._lock:
            return {cid: self._items[cid] for cid in conversation_ids if cid in self._items}

    def _save(self, writes: Sequence[PendingWrite]) -> dict[str, Conflict | Exception]:
        outcomes: dict[str, Conflict | Exception] = {}
        with self._lock:
            for write in writes:
                cid = write.item.conversation_id
                stored = self._items.get(cid)
                if (stored.version if stored else None) != write.expected_version:
                    outcomes[cid] = Conflict(stored, known=True)
                    continue
                # A JSON round trip, as the real stores do: a value they could not store fails here too.
                state = json.loads(json.dumps(write.item.state))
                self._items[cid] = StoredState(cid, state, write.item.version, write.item.updated_at_ms, write.item.ttl)
        return outcomes

    def get(self, conversation_id: str) -> StoredState | None:
        with self._lock:
            return self._items.get(conversation_id)

    def delete(self, conversation_id: str) -> bool:
        with self._lock:
            return self._items.pop(conversation_id, None) is not None

    def list(self, *, since: datetime | None = None, limit: int = 50) -> list[StoredState]:
        floor = int(since.timestamp() * 1000) if since else 0
        with self._lock:
            items = [i for i in self._items.values() if i.updated_at_ms >= floor]
        items.sort(key=lambda i: (i.updated_at_ms, i.conversation_id), reverse=True)
        return items[:limit]
