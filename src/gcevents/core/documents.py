"""The conversation document (the derived record sinks receive): one per conversation, computed from the
order-independent state. ("Record" alone is an SQS delivery, `RawRecord`.)

`conversation.completed` is the first version of it a sink receives, once the state shows the conversation ended
and every agent participant's wrap-up was applied (or once the grace period for a missing wrap-up ran out);
`conversation.updated` is any later version. The schema is `gcevents/schemas/conversation.completed.v1.json`.

Everything here is a pure function of the state, so any order, batching or duplication of a conversation's
events yields the same record and the same version. The version is a hash of the record's canonical content:
it changes exactly when a late event changes the record, and is the second half of the idempotency key
`<conversationId>:<version>` that every sink passes on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gcevents.core.state import SOURCES, SOURCES_TRUNCATED, view
from gcevents.core.times import iso_z, parse_iso

SPEC_VERSION = "1"
COMPLETED = "conversation.completed"
UPDATED = "conversation.updated"
RAW_EVENT = "genesys.event"
# Purposes of the participants whose wrap-up completes a conversation (Genesys uses both for agents).
AGENT_PURPOSES = frozenset({"agent", "user"})
# Participant registers summed into the conversation's durations, where the events carried them.
_DURATIONS = {"talkMs": "interactingDurationMs", "holdMs": "heldDurationMs", "acwMs": "wrapupDurationMs"}


def is_ended(state: Mapping[str, Any]) -> bool:
    return "endTime" in state


def pending_wrapups(state: Mapping[str, Any]) -> list[str]:
    """Agent participants whose wrap-up code has not been applied yet."""
    return sorted(
        pid
        for pid, participant in state.get("participants", {}).items()
        if _value(participant, "purpose") in AGENT_PURPOSES and "wrapupCode" not in participant
    )


def is_wrapped_up(state: Mapping[str, Any]) -> bool:
    """Ended, and every agent participant wrapped up: the record is complete without waiting for a grace."""
    return is_ended(state) and not pending_wrapups(state)


def derive(conversation_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """The record's content (the `conversation` object of the schema): the state's view plus durations,
    wrap-up codes, analytics and source keys. Deterministic: equal states give equal content."""
    content = view(conversation_id, state)
    # Which event happened to arrive last is an accident of delivery, not a fact of the conversation.
    content.pop("lastEventKind", None)
    content.pop("lastEventTime", None)
    if "startTime" in state and "endTime" in state:
        content["durationMs"] = max(0, int(state["endTime"]) - int(state["startTime"]))
    participants = content.get("participants", [])
    for flat, (_pid, raw) in zip(participants, _ordered_participants(state), strict=True):
        flat.pop("lastEventKind", None)
        if "startTime" in raw and "endTime" in raw:
            flat["durationMs"] = max(0, int(raw["endTime"]) - int(raw["startTime"]))
    agents = [p for p in participants if p.get("purpose") in AGENT_PURPOSES]
    durations = {
        name: sum(int(p[source]) for p in agents if isinstance(p.get(source), int | float))
        for name, source in _DURATIONS.items()
        if any(isinstance(p.get(source), int | float) for p in agents)
    }
    content["durations"] = durations
    content["wrapupCodes"] = sorted({str(p["wrapupCode"]) for p in agents if "wrapupCode" in p})
    content["wrapupComplete"] = not pending_wrapups(state)
    if "enrichment" in content:
        content["analytics"] = _one_time_shape(content.pop("enrichment"))
    content["sourceEventKeys"] = list(state.get(SOURCES, []))
    content["sourceEventKeysTruncated"] = bool(state.get(SOURCES_TRUNCATED, False))
    return content


def _one_time_shape(analytics: Any) -> Any:
    """Analytics' times as every other time of the record: Genesys writes "...18.256Z" or "...18Z"."""
    if not isinstance(analytics, Mapping):
        return analytics
    out = dict(analytics)
    for name in ("conversationStart", "conversationEnd"):
        if (moment := parse_iso(out.get(name))) is not None:
            out[name] = iso_z(moment)
    return out


# Bookkeeping, not facts: a late event that only adds its key (a wrap-up repeating the ACW's code, a re-sent
# event under a new content) must not make a new version, or every straggler would cost each sink an update.
_NOT_VERSIONED = frozenset({"sourceEventKeys", "sourceEventKeysTruncated"})


def version_of(content: Mapping[str, Any]) -> str:
    """16 hex digits of SHA-256 over the canonical JSON of the content's facts (source keys left out)."""
    facts = {name: value for name, value in content.items() if name not in _NOT_VERSIONED}
    return hashlib.sha256(canonical(facts).encode()).hexdigest()[:16]


def document_key(conversation_id: str, version: str) -> str:
    return f"{conversation_id}:{version}"


def document(kind: str, conversation_id: str, version: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """The delivered JSON document. Its key and version are fixed by the facts; `sourceEventKeys` lists the events
    known when it was (re)sent, so a retry after a failure may list more of them under the same key."""
    return {
        "specVersion": SPEC_VERSION,
        "type": kind,
        "id": document_key(conversation_id, version),
        "conversationId": conversation_id,
        "version": version,
        "conversation": dict(content),
    }


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def encode(value: Any) -> bytes:
    return canonical(value).encode("utf-8")


def _value(part: Mapping[str, Any], name: str) -> Any:
    register = part.get(name)
    return register.get("value") if isinstance(register, Mapping) else None


def _ordered_participants(state: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    # The order `view` uses, so raw participants line up with their flat renderings.
    return sorted(state.get("participants", {}).items(), key=lambda p: (p[1].get("startTime", 0), p[0]))


# ------------------------------------------------------------------------------------------- typed model
@dataclass(frozen=True, slots=True)
class DocumentParticipant:
    participant_id: str
    purpose: str | None = None
    user_id: str | None = None
    queue_id: str | None = None
    wrapup_code: str | None = None
    start_time: str | None = None  # ISO 8601, UTC
    end_time: str | None = None
    duration_ms: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)  # every field, unknown ones included


@dataclass(frozen=True, slots=True)
class ConversationDocument:
    """A received `conversation.completed` / `conversation.updated` document, typed (for Python receivers)."""

    type: str
    id: str  # the idempotency key: `<conversationId>:<version>`
    conversation_id: str
    version: str
    media_type: str | None
    direction: str | None
    start_time: str | None
    end_time: str | None
    duration_ms: int | None
    participants: tuple[DocumentParticipant, ...]
    wrapup_codes: tuple[str, ...]
    wrapup_complete: bool
    talk_ms: int | None
    hold_ms: int | None
    acw_ms: int | None
    analytics: Mapping[str, Any] | None
    source_event_keys: tuple[str, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    reconciled: bool = False  # some facts were rebuilt from Genesys analytics (`gcevents reconcile`)

    @classmethod
    def from_document(cls, doc: Mapping[str, Any]) -> ConversationDocument:
        body: Mapping[str, Any] = doc.get("conversation") or {}
        durations: Mapping[str, Any] = body.get("durations") or {}
        return cls(
            type=str(doc["type"]),
            id=str(doc["id"]),
            conversation_id=str(doc["conversationId"]),
            version=str(doc["version"]),
            media_type=body.get("mediaType"),
            direction=body.get("direction"),
            start_time=body.get("startTime"),
            end_time=body.get("endTime"),
            duration_ms=body.get("durationMs"),
            participants=tuple(_participant(p) for p in body.get("participants", [])),
            wrapup_codes=tuple(body.get("wrapupCodes", [])),
            wrapup_complete=bool(body.get("wrapupComplete")),
            talk_ms=durations.get("talkMs"),
            hold_ms=durations.get("holdMs"),
            acw_ms=durations.get("acwMs"),
            analytics=body.get("analytics"),
            source_event_keys=tuple(body.get("sourceEventKeys", [])),
            raw=doc,
            reconciled=bool(body.get("reconciled")),
        )


def _participant(flat: Mapping[str, Any]) -> DocumentParticipant:
    return DocumentParticipant(
        participant_id=str(flat.get("participantId")),
        purpose=flat.get("purpose"),
        user_id=flat.get("userId"),
        queue_id=flat.get("queueId"),
        wrapup_code=flat.get("wrapupCode"),
        start_time=flat.get("startTime"),
        end_time=flat.get("endTime"),
        duration_ms=flat.get("durationMs"),
        raw=flat,
    )


__all__ = [
    "COMPLETED",
    "RAW_EVENT",
    "SPEC_VERSION",
    "UPDATED",
    "ConversationDocument",
    "DocumentParticipant",
    "derive",
    "document",
    "document_key",
    "is_ended",
    "is_wrapped_up",
    "pending_wrapups",
    "version_of",
]
