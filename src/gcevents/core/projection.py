"""The built-in batch handler: one state item per conversation, one store write per conversation per batch."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping, Sequence

from gcevents.core.attributes import DEFAULT_POLICY, AttributePolicy
from gcevents.core.events import TIMER_KIND
from gcevents.core.outputs import ConversationOutputs, timer_due
from gcevents.core.router import BatchOutcome, WorkItem
from gcevents.core.state import Observation
from gcevents.core.topics import merged_into_state
from gcevents.ports import ApplyResult, StateStore, StoredState


class StateProjection:
    """`router.add_batch(StateProjection(store))`. Order-independent: batches may arrive in any order, twice,
    or concurrently with another worker's. Agent-state and unrecognised events succeed without a write."""

    # The merge is idempotent and each write is conditional on the version read: applying an event twice is applying
    # it once, so events only the projection wants take no idempotency claim (`Router.needs_claim`). Derived records
    # keep their exactly-once delivery under their own `out:` keys (`gcevents.core.outputs`).
    guards_itself = True

    def __init__(
        self,
        store: StateStore,
        outputs: ConversationOutputs | None = None,
        attributes: AttributePolicy = DEFAULT_POLICY,
    ) -> None:
        self.store = store
        # GCEVENTS_ATTRIBUTES: what the state (and so every derived record) keeps of participant attributes.
        self.attributes = attributes
        # Derived records (`conversation.completed`/`updated`), evaluated on the current state of every
        # conversation the batch touched, written or not (see `gcevents.core.outputs`).
        self.outputs = outputs
        # Cumulative, for metrics: events that changed nothing (re-sends, and first-seen ones older than what is
        # stored: superseded).
        self.stale_events = 0
        self.conversations_written = 0
        self._lock = threading.Lock()

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return {"stale_events_ignored": self.stale_events, "conversations_written": self.conversations_written}

    def handle_batch(self, items: Sequence[WorkItem]) -> BatchOutcome:
        """Failures by content key, and what the states knew of the others' keys (`state.seen_keys`): re-sends, first
        seen (superseded when they changed nothing), and those no state can vouch for. Completion timers and events
        the state takes nothing from are left to the pipeline (it marks them)."""
        observations: dict[str, list[Observation]] = defaultdict(list)
        keys: dict[str, list[str]] = defaultdict(list)
        timers: dict[str, int] = {}  # completion timers (gcevents.core.outputs): conversationId -> due ms
        for item in items:
            event = item.event
            if self.outputs is not None and event.conversation_id and event.kind == TIMER_KIND:
                timers[event.conversation_id] = min(timer_due(event), timers.get(event.conversation_id, 2**62))
                keys[event.conversation_id].append(event.content_key)
                continue
            if not merged_into_state(event.kind) or not event.conversation_id:
                continue
            observations[event.conversation_id].append(
                Observation(event, item.context.enrichment, True, self.attributes)
            )
            keys[event.conversation_id].append(event.content_key)
        if not observations and not timers:
            return BatchOutcome()
        try:
            result = self.store.apply(observations) if observations else ApplyResult()
        except Exception as exc:  # a store bug: fail (retry) what we were given, never more
            failed: dict[str, Exception] = dict.fromkeys(observations, exc)
            result = ApplyResult()
        else:
            failed = dict(result.failed)
        if self.outputs is not None:
            failed.update(self._emit(result, timers, failed, min(i.context.deadline for i in items)))
        known = [seen for cid, seen in result.keys.items() if cid not in failed]
        with self._lock:
            self.stale_events += sum(len(seen.seen) + len(seen.superseded) for seen in known)
            self.conversations_written += len(result.written)
        return BatchOutcome(
            {key: error for cid, error in failed.items() for key in keys.get(cid, ())},
            already_applied=frozenset().union(*(seen.seen for seen in known)),
            first_seen=frozenset().union(*(seen.new for seen in known)),
            superseded=frozenset().union(*(seen.superseded for seen in known)),
            unrecorded=frozenset().union(*(k.unrecorded for cid, k in result.keys.items() if cid not in result.failed)),
        )

    def _emit(
        self, result: ApplyResult, timers: Mapping[str, int], failed: Mapping[str, Exception], deadline: float
    ) -> dict[str, Exception]:
        """Errors by conversation (`outputs.evaluate`)."""
        assert self.outputs is not None
        states: dict[str, StoredState] = {**result.current, **result.written}
        errors: dict[str, Exception] = {}
        for cid in timers:
            if cid in states or cid in failed:
                continue
            try:
                stored = self.store.get(cid)
            except Exception as exc:
                errors[cid] = exc
                continue
            if stored is not None:  # gone (TTL) or never seen: nothing to complete
                states[cid] = stored
        states = {cid: item for cid, item in states.items() if cid not in failed}
        errors.update(self.outputs.evaluate(states, timers, deadline))
        return errors
