"""The one algorithm every state store adapter shares (the port itself is `gcevents.ports.StateStore`).

`OptimisticStateStore.apply` reads every affected conversation at once, merges each conversation's events
(pure, see `model.merge`), and writes each changed conversation ONCE, conditional on the version it read.
A writer that lost the race re-merges onto what is stored now and tries again, so concurrent writers lose
no update. Adapters implement two hooks, `_load` and `_save`, and translate their errors at that boundary.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gcevents.core.events import GenesysEvent
from gcevents.core.state import Observation, State, merge, seen_keys
from gcevents.errors import PermanentError, StoreUnavailableError
from gcevents.ports import ApplyResult, Clock, StoredState, SystemClock, Updates
from gcevents.retry import RetryBudget
from gcevents.text import is_scalar

DEFAULT_TTL_DAYS = 30
_CONTENTION_BASE = 0.01  # seconds before the second write round; doubles per round (full jitter)
_CONTENTION_CAP = 0.2


# -------------------------------------------------------------------------------------------- the algorithm
def _keyable(
    events: dict[str, list[GenesysEvent | Observation]], result: ApplyResult
) -> dict[str, list[GenesysEvent | Observation]]:
    """Conversations no store can key an item by (a lone surrogate in the id: the parser rejects such events,
    this guards other callers) fail one by one, not the read of every conversation in the batch."""
    for cid in [cid for cid in events if not is_scalar(cid)]:
        del events[cid]
        result.failed[cid] = PermanentError("conversation id is not valid Unicode text", reason="invalid_text")
    return events


@dataclass(frozen=True, slots=True)
class PendingWrite:
    item: StoredState  # what to store (version already bumped)
    expected_version: int | None  # the version read; None: the item must not exist yet


@dataclass(frozen=True, slots=True)
class Conflict:
    """A conditional write lost. `current` is what is stored now, when the backend said (DynamoDB ALL_OLD)."""

    current: StoredState | None = None
    known: bool = False


class OptimisticStateStore(abc.ABC):
    """Base class: owns read -> merge -> conditional write -> retry. Adapters implement the abstract hooks
    (`_load`, `_save`); the queries of the `StateStore` port (`get`, `list`) are theirs too."""

    def __init__(
        self,
        *,
        ttl_days: int = DEFAULT_TTL_DAYS,
        clock: Clock | None = None,
        max_attempts: int = 10,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if ttl_days <= 0:
            raise ValueError("ttl_days must be positive")
        self.ttl_days = ttl_days
        self.clock = clock or SystemClock()
        self.max_attempts = max_attempts
        self._sleep = sleep

    # hooks ---------------------------------------------------------------------------------------------
    @abc.abstractmethod
    def _load(self, conversation_ids: Sequence[str]) -> dict[str, StoredState]:
        """The stored items among these ids (absent ids are simply missing). Raise gcevents errors only."""

    @abc.abstractmethod
    def _save(self, writes: Sequence[PendingWrite]) -> dict[str, Conflict | Exception]:
        """Write each item iff its stored version still equals `expected_version`. Returns only the writes
        that did not happen, by conversationId. Raising means none of them happened."""

    @abc.abstractmethod
    def delete(self, conversation_id: str) -> bool:
        """Erase the item, whatever its version (an erasure request, not a merge); True when there was one."""

    # algorithm -----------------------------------------------------------------------------------------
    def get_many(self, conversation_ids: Sequence[str]) -> dict[str, StoredState]:
        """The stored items among these ids, in batched reads (the `_load` hook)."""
        return self._load(list(dict.fromkeys(conversation_ids))) if conversation_ids else {}

    def apply(self, updates: Updates) -> ApplyResult:
        result = ApplyResult()
        events = _keyable({cid: list(evs) for cid, evs in updates.items() if evs}, result)
        if not events:
            return result
        try:
            loaded = self._load(list(events))
        except Exception as exc:
            result.failed.update(dict.fromkeys(events, exc))
            return result
        current: dict[str, StoredState | None] = {cid: loaded.get(cid) for cid in events}
        todo = list(events)
        # Jitter between rounds so writers that collided do not collide again in lockstep.
        budget = RetryBudget(
            max(0, self.max_attempts - 1), base=_CONTENTION_BASE, cap=_CONTENTION_CAP, sleep=self._sleep
        )
        while True:
            writes = self._plan(todo, events, current, result)
            if not writes:
                return result
            try:
                outcomes = self._save(writes)
            except Exception as exc:
                result.failed.update({w.item.conversation_id: exc for w in writes})
                return result
            todo, reload = [], []
            for write in writes:
                cid = write.item.conversation_id
                outcome = outcomes.get(cid)
                if outcome is None:
                    result.written[cid] = write.item
                elif isinstance(outcome, Conflict):
                    todo.append(cid)
                    if outcome.known:
                        current[cid] = outcome.current
                    else:
                        reload.append(cid)
                else:
                    result.failed[cid] = outcome
            if not todo:
                return result
            if reload:
                try:
                    fresh = self._load(reload)
                except Exception as exc:
                    result.failed.update(dict.fromkeys(reload, exc))
                    todo = [cid for cid in todo if cid not in result.failed]
                else:
                    current.update({cid: fresh.get(cid) for cid in reload})
            if not budget.retry():
                break
        for cid in todo:
            result.failed[cid] = StoreUnavailableError(
                f"state of conversation {cid}: still contended after {self.max_attempts} attempts"
            )
        return result

    def _plan(
        self,
        todo: Sequence[str],
        events: Mapping[str, Sequence[GenesysEvent | Observation]],
        current: Mapping[str, StoredState | None],
        result: ApplyResult,
    ) -> list[PendingWrite]:
        now = self.clock.now()
        writes: list[PendingWrite] = []
        for cid in todo:
            stored = current.get(cid)
            try:
                merged: State = merge(stored.state if stored else None, events[cid])
            except Exception as exc:  # a bug on odd data must cost one conversation, not the batch
                result.failed[cid] = exc
                continue
            result.keys[cid] = seen_keys(stored.state if stored else None, merged, events[cid])
            if (stored is not None and merged == stored.state) or (stored is None and not merged):
                result.unchanged.add(cid)
                if stored is not None:
                    result.current[cid] = stored
                continue
            item = StoredState(
                conversation_id=cid,
                state=merged,
                version=(stored.version if stored else 0) + 1,
                updated_at_ms=int(now * 1000),
                ttl=int(now) + self.ttl_days * 86400,
            )
            writes.append(PendingWrite(item, stored.version if stored else None))
        return writes
