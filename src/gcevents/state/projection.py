"""The built-in batch handler: one state item per conversation, one store write per conversation per batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from ..router import WorkItem
from .model import Observation
from .store import StateStore


class StateProjection:
    """`router.add_batch(StateProjection(store))`. Order-independent: batches may arrive in any order, twice,
    or concurrently with another worker's. Agent-state and unrecognised events succeed without a write."""

    PATTERNS = ("v2.detail.events.conversation.*",)  # optional narrower registration; the filter below holds

    def __init__(self, store: StateStore) -> None:
        self.store = store

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
            failed: Mapping[str, Exception] = self.store.apply(observations).failed
        except Exception as exc:  # a store bug: fail (retry) what we were given, never more
            failed = dict.fromkeys(observations, exc)
        return {key: error for cid, error in failed.items() for key in keys.get(cid, ())}
