"""Business logic plugs in here: handlers per topic pattern (`{id}` = one topic segment, `*` = anything)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from gcevents.core.events import GenesysEvent


@dataclass(frozen=True, slots=True)
class HandlerContext:
    """What a handler gets besides the event.

    Handlers run on a thread pool (`GCEVENTS_HANDLER_CONCURRENCY`, 8): the conversations of a batch in parallel,
    one conversation's events in event-time order on one thread. A handler must be thread-safe (guard shared
    mutable state with a lock; share only thread-safe clients) and idempotent on `idempotency_key`."""

    enrichment: Mapping[str, Any] | None  # analytics conversation details, when this kind is enriched
    deadline: float  # epoch seconds: finish (or raise TransientError) before this
    idempotency_key: str  # the event's content key: pass it downstream (e.g. an Idempotency-Key header)
    services: Mapping[str, Any]  # e.g. {"genesys": GenesysClient} for live lookups
    # A fact `gcevents reconcile` rebuilt from Genesys analytics because the stream lost it (docs/operations.md).
    reconciled: bool = False
    # Once-per-session kinds (customer.start/end, user.start/end, acw): the key a reconciled copy of this fact and
    # the real event share. Pass it downstream instead of `idempotency_key` to dedupe across the two.
    fact_key: str | None = None

    def remaining(self) -> float:
        return self.deadline - time.time()


EventHandler = Callable[[GenesysEvent, HandlerContext], None]


@dataclass(frozen=True, slots=True)
class WorkItem:
    event: GenesysEvent
    context: HandlerContext


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """What a self-guarding batch handler may return instead of a plain failures mapping: what it knows of the content
    keys it was given (the state projection: from the keys its conversation states record). An event that runs
    claim-free is a DUPLICATE (`already_applied`) when a handler wanting it had it before and none saw it first,
    PROCESSED when one saw it first; when none can tell, the pipeline decides with an idempotency mark."""

    failures: Mapping[str, Exception] = field(default_factory=dict)
    already_applied: frozenset[str] = frozenset()  # seen before: re-sends
    first_seen: frozenset[str] = frozenset()  # never seen before
    superseded: frozenset[str] = frozenset()  # first seen, and changed nothing: newer facts were there first
    # Keys it will not recognise if they come again (past a size bound): the pipeline leaves a mark for each.
    unrecorded: frozenset[str] = frozenset()


class BatchHandler(Protocol):
    """A handler that wants the whole batch at once (e.g. to write one item per conversation).

    A handler may set a class attribute `guards_itself = True` when running it twice for an event has the effect of
    running it once (the state projection: an idempotent merge whose conditional write is its own guard; sinks
    deliver under their own claim keys). An event that only such handlers want takes no idempotency claim: the
    claim and its COMPLETED mark would cost two writes to guard nothing (`Router.needs_claim`)."""

    def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception] | BatchOutcome:
        """Return content_key -> exception for the items that failed; the rest succeeded (or a `BatchOutcome`)."""
        ...


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """`{id}`: one segment (anything but a dot, newlines included); `*`: anything at all. DOTALL, so a topic
    holding a newline still matches `*` instead of being acknowledged with no handler run."""
    parts = re.split(r"(\{[^}.]*\}|\*)", pattern)
    regex = "".join("[^.]+" if p.startswith("{") else ".*" if p == "*" else re.escape(p) for p in parts if p)
    return re.compile(regex + r"\Z", re.DOTALL)


def topic_matches(pattern: str, topic: str) -> bool:
    return compile_pattern(pattern).match(topic) is not None


class Router:
    """Topic patterns -> handlers. Registration is not thread-safe (do it at import time); dispatch is. The
    handlers themselves are called from several threads at once (see `HandlerContext`): they must be thread-safe."""

    def __init__(self) -> None:
        self._handlers: list[tuple[str, EventHandler]] = []
        self._batch_handlers: list[tuple[tuple[str, ...], BatchHandler]] = []
        self._cache: dict[str, tuple[EventHandler, ...]] = {}
        self._needs_claim: dict[str, bool] = {}

    def on(self, *patterns: str) -> Callable[[EventHandler], EventHandler]:
        """Decorator: `@router.on("v2.detail.events.conversation.{id}.customer.end")`."""

        def register(fn: EventHandler) -> EventHandler:
            for pattern in patterns:
                self.add(pattern, fn)
            return fn

        return register

    def add(self, pattern: str, handler: EventHandler) -> None:
        compile_pattern(pattern)
        self._handlers.append((pattern, handler))
        self._cache.clear()
        self._needs_claim.clear()

    def add_batch(self, handler: BatchHandler, patterns: Sequence[str] = ("*",)) -> None:
        for pattern in patterns:
            compile_pattern(pattern)
        self._batch_handlers.append((tuple(patterns), handler))
        self._needs_claim.clear()

    def include(self, other: Router) -> None:
        """Merge another router's handlers (e.g. one a user module built)."""
        for pattern, handler in other._handlers:
            self.add(pattern, handler)
        for patterns, batch_handler in other._batch_handlers:
            self.add_batch(batch_handler, patterns)

    def handlers_for(self, topic: str) -> tuple[EventHandler, ...]:
        found = self._cache.get(topic)
        if found is None:
            found = tuple(fn for pattern, fn in self._handlers if topic_matches(pattern, topic))
            if len(self._cache) < 10_000:  # topics embed ids: bound the cache
                self._cache[topic] = found
        return found

    def needs_claim(self, topic: str) -> bool:
        """Whether an event of this topic must be claimed before its handlers run: a per-event handler wants it, or
        a batch handler that does not guard itself (`BatchHandler`). Events nothing but self-guarding handlers want
        (the state projection, sinks) run without a claim: exactly-once in effect comes from those handlers."""
        found = self._needs_claim.get(topic)
        if found is None:
            found = bool(self.handlers_for(topic)) or any(
                not getattr(handler, "guards_itself", False) and any(topic_matches(p, topic) for p in patterns)
                for patterns, handler in self._batch_handlers
            )
            if len(self._needs_claim) < 10_000:  # topics embed ids: bound the cache
                self._needs_claim[topic] = found
        return found

    def routes(self) -> list[tuple[str, EventHandler]]:
        """(pattern, handler) in the order registered: for tools that wrap handlers (the test kit records calls)."""
        return list(self._handlers)

    def batch_handlers(self) -> list[tuple[tuple[str, ...], BatchHandler]]:
        return list(self._batch_handlers)

    def __len__(self) -> int:
        return len(self._handlers) + len(self._batch_handlers)
