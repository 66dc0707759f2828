"""The data the ports carry and the core defines: kept apart from both so that `ports` may name core types and
the core may name port data without an import cycle (tests/test_layering.py)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


# ---------------------------------------------------------------------------------------------- delivery
@dataclass(frozen=True, slots=True)
class RawRecord:
    """One delivered item before parsing: SQS body text, or an event object delivered directly."""

    payload: str | Mapping[str, Any] | Any
    message_id: str | None = None
    receipt_handle: str | None = None
    receive_count: int = 1
    source_arn: str | None = None

    def text(self) -> str:
        """The original text, for the dead-letter sink (objects are serialised, never repr'd). Bytes that are not
        UTF-8 are kept as `surrogateescape` characters (`gcevents.text.original_bytes` gives them back)."""
        if isinstance(self.payload, str):
            return self.payload
        if isinstance(self.payload, bytes):
            return self.payload.decode("utf-8", "surrogateescape")
        try:
            return json.dumps(self.payload, separators=(",", ":"), default=str)
        except (TypeError, ValueError):  # e.g. circular structures from a hand-made invoke
            return str(self.payload)


@dataclass(frozen=True, slots=True)
class StoredState:
    """One conversation's item: the merged state plus store metadata (not part of the merge)."""

    conversation_id: str
    state: Mapping[str, Any]
    version: int  # bumped by every write; the condition of the next one
    updated_at_ms: int  # wall clock of the last write
    ttl: int  # epoch seconds; only for garbage collection (DynamoDB TTL, SQLite purge)


@dataclass(frozen=True, slots=True)
class SeenKeys:
    """What a conversation's stored state knew of the content keys of one write (its bounded set of the keys it was
    built from, `core.state.SOURCES`), for exact outcome labels of events that take no idempotency claim."""

    seen: frozenset[str] = frozenset()  # recorded before this write: re-sends
    new: frozenset[str] = frozenset()  # provably never recorded before: first seen
    superseded: frozenset[str] = frozenset()  # new ones that changed nothing else: newer facts were there first
    # Keys the state does not hold after this write (not admitted, or pushed out, past the bound): a re-send of one
    # cannot be recognised by the state, so the pipeline leaves an idempotency mark for each.
    unrecorded: frozenset[str] = frozenset()
