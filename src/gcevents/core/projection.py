"""The built-in batch handler: one state item per conversation, one store write per conversation per batch."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence

from gcevents.core.router import WorkItem
from gcevents.core.state import Observation
from gcevents.ports import StateStore


class StateProjection:
    """`router.add_batch(StateProjection(store))`. Order-independent: batches may arrive in any order, twice,
    or concurrently with another worker's. Agent-state and unrecognised events succeed without a write."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        # Cumulative, for metrics: events that changed nothing (older than or equal to what is stored).
        self.stale_events = 0
        self.conversations_written = 0
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {"stale_events_ignored": self.stale_events, "conversations_written": self.conversations_written}

    def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
        observations: dict[str, list[Observation]] = defaultdict(list)
        keys: dict[str, list[str]] = defaultdict(list)
        for item in items:
            event = item.event
            if not event.kind.startswith("conversation.") or not event.conversation_id:
                continue
            observations[event.conversation_id].append(Observation(event, item.context.enrichment))
            keys[event.conversation_id].append(event.content_key)
        if not observations:
            return {}
        try:
            result = self.store.apply(observations)
        except Exception as exc:  # a store bug: fail (retry) what we were given, never more
            failed: Mapping[str, Exception] = dict.fromkeys(observations, exc)
        else:
            failed = result.failed
            with self._lock:
                self.stale_events += sum(len(observations[cid]) for cid in result.unchanged)
                self.conversations_written += len(result.written)
        return {key: error for cid, error in failed.items() for key in keys.get(cid, ())}
