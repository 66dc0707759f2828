"""Pure: what an analytics conversation says happened, compared with the tracked state; and the facts that repair
a gap, as events the pipeline takes like any other (marked `reconciled`).

A *gap* is one of: `unknown` (no state at all), `not_ended` (analytics has the end, the state has no customer.end)
and `missing_wrapup` (an agent participant analytics shows with a wrap-up code has none in the state).

The facts are the once-per-session kinds (`events.FACT_KINDS`), one set per participant session: customer.start
and customer.end for the customer, user.start, user.end and acw (with the wrap-up code) for each agent. Only what
the state lacks is rebuilt: every fact of a participant the state has never seen, the customer's end when the
conversation has not ended, an agent's acw when its wrap-up is missing. Each carries the ids analytics gives (which
are the event stream's) and the segment time, so its fact key is the real event's: whichever arrives first is
applied, the other is a duplicate."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gcevents.core.documents import AGENT_PURPOSES
from gcevents.core.events import RECONCILE_SOURCE
from gcevents.core.times import epoch_ms, iso_from_ms, parse_iso

UNKNOWN = "unknown"
NOT_ENDED = "not_ended"
MISSING_WRAPUP = "missing_wrapup"
GAP_KINDS = (UNKNOWN, NOT_ENDED, MISSING_WRAPUP)
_PREFIX = "v2.detail.events.conversation."


@dataclass(frozen=True, slots=True)
class Gap:
    conversation_id: str
    kinds: tuple[str, ...]  # of GAP_KINDS, in that order
    conversation_end: str  # as analytics says (ISO 8601)
    participants: tuple[str, ...] = ()  # agent participants whose wrap-up the state lacks

    def as_dict(self) -> dict[str, Any]:
        return {
            "conversationId": self.conversation_id,
            "gaps": list(self.kinds),
            "conversationEnd": self.conversation_end,
            "participants": list(self.participants),
        }


@dataclass(frozen=True, slots=True)
class _Session:
    participant_id: str
    purpose: str
    user_id: str | None
    session_id: str
    media_type: str | None
    direction: str | None
    segments: tuple[Mapping[str, Any], ...]


# ---------------------------------------------------------------------------------------------------- gaps
def find_gap(document: Mapping[str, Any], state: Mapping[str, Any] | None) -> Gap | None:
    """The gap between an ended analytics conversation and the conversation's state (None: none)."""
    cid = str(document.get("conversationId", ""))
    end = str(document.get("conversationEnd", ""))
    if state is None:
        return Gap(cid, (UNKNOWN,), end)
    kinds: list[str] = []
    sessions = _sessions(document)
    # The state's end is the customer's (`customer.end`): a conversation without a customer (agent to agent, say)
    # never has one, and that is no gap.
    if "endTime" not in state and any(s.purpose == "customer" for s in sessions):
        kinds.append(NOT_ENDED)
    missing = tuple(sorted({s.participant_id for s in sessions if _wraps_up(s)} - _wrapped_up(state)))
    if missing:
        kinds.append(MISSING_WRAPUP)
    return Gap(cid, tuple(kinds), end, missing) if kinds else None


def _wrapped_up(state: Mapping[str, Any]) -> set[str]:
    participants = state.get("participants")
    if not isinstance(participants, Mapping):
        return set()
    return {pid for pid, part in participants.items() if isinstance(part, Mapping) and "wrapupCode" in part}


def _wraps_up(session: _Session) -> bool:
    return session.purpose in AGENT_PURPOSES and _wrapup_segment(session) is not None


# ---------------------------------------------------------------------------------------------------- facts
def repair_facts(
    document: Mapping[str, Any], state: Mapping[str, Any] | None, *, checked_at_ms: int
) -> list[dict[str, Any]]:
    """The events that repair this conversation's gap (EventBridge envelopes, marked reconciled)."""
    participants = state.get("participants", {}) if state is not None else {}
    ended = state is not None and "endTime" in state
    wrapped = _wrapped_up(state) if state is not None else set()
    cid = str(document["conversationId"])
    facts: list[dict[str, Any]] = []
    for session in _sessions(document):
        known = isinstance(participants, Mapping) and session.participant_id in participants
        for kind, body in _session_facts(session):
            wanted = not known or (
                (kind == "customer.end" and not ended) or (kind == "acw" and session.participant_id not in wrapped)
            )
            if wanted:
                facts.append(fact_envelope(kind, cid, body, checked_at_ms=checked_at_ms))
    return facts


def _session_facts(session: _Session) -> list[tuple[str, dict[str, Any]]]:
    """(kind, body) of what this session's segments say happened, for the purposes whose facts we rebuild."""
    talk = [s for s in session.segments if s.get("segmentType") != "wrapup"]
    start, end = _min_ms(talk, "segmentStart"), _max_ms(talk, "segmentEnd")
    base = {
        "participantId": session.participant_id,
        "sessionId": session.session_id,
        "purpose": session.purpose,
        **({"mediaType": session.media_type.upper()} if session.media_type else {}),
        **({"direction": session.direction.upper()} if session.direction else {}),
    }
    disconnect = next((s["disconnectType"] for s in reversed(talk) if isinstance(s.get("disconnectType"), str)), None)
    closing = {"disconnectType": disconnect} if disconnect else {}
    if session.purpose == "customer":
        return _timed([("customer.start", start, base), ("customer.end", end, {**base, **closing})])
    if session.purpose not in AGENT_PURPOSES:
        return []
    agent = {**base, **_agent_ids(session)}
    facts = [("user.start", start, agent), ("user.end", end, {**agent, **closing})]
    wrapup = _wrapup_segment(session)
    if wrapup is not None:
        began, done = _ms_of(wrapup.get("segmentStart")), _ms_of(wrapup.get("segmentEnd"))
        acw = {**agent, "wrapupCode": wrapup["wrapUpCode"]}
        if began is not None and done is not None:
            acw["wrapupDurationMs"] = max(0, done - began)
        facts.append(("acw", done, acw))
    return _timed(facts)


def _timed(facts: Sequence[tuple[str, int | None, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    return [(kind, {**body, "eventTime": at}) for kind, at, body in facts if at is not None]


def _agent_ids(session: _Session) -> dict[str, Any]:
    ids: dict[str, Any] = {"userId": session.user_id} if session.user_id else {}
    queue = next((s["queueId"] for s in session.segments if isinstance(s.get("queueId"), str)), None)
    return {**ids, "queueId": queue} if queue else ids


def _wrapup_segment(session: _Session) -> Mapping[str, Any] | None:
    wrapups = [s for s in session.segments if s.get("segmentType") == "wrapup" and isinstance(s.get("wrapUpCode"), str)]
    return wrapups[-1] if wrapups else None


def fact_envelope(kind: str, conversation_id: str, body: Mapping[str, Any], *, checked_at_ms: int) -> dict[str, Any]:
    """An EventBridge event as the integration would have delivered it, from `RECONCILE_SOURCE`, with
    `detail.reconciled` saying where it came from. Its `id` is derived from the fact, so a re-run writes the same
    envelope (and a dead letter of it is recognisably the same)."""
    when = iso_from_ms(int(body["eventTime"]))
    identity = "/".join((conversation_id, kind, str(body.get("participantId")), str(body.get("sessionId"))))
    return {
        "version": "0",
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"gcevents-reconcile/{identity}")),
        "detail-type": f"{_PREFIX}{{id}}.{kind}",
        "source": RECONCILE_SOURCE,
        "time": when,
        "resources": [],
        "detail": {
            "topicName": f"{_PREFIX}{conversation_id}.{kind}",
            "version": "2",
            "eventBody": {"conversationId": conversation_id, **body},
            "reconciled": {"from": "analytics", "checkedAt": iso_from_ms(checked_at_ms)},
            "timestamp": when,
        },
    }


# ---------------------------------------------------------------------------------------------------- reading
def _sessions(document: Mapping[str, Any]) -> list[_Session]:
    """Every session of every participant with an id and a purpose; odd shapes are skipped, never fatal."""
    found: list[_Session] = []
    participants = document.get("participants")
    for participant in participants if isinstance(participants, list) else ():
        if not isinstance(participant, Mapping):
            continue
        pid, purpose = participant.get("participantId"), participant.get("purpose")
        user = participant.get("userId")
        sessions = participant.get("sessions")
        if not isinstance(pid, str) or not isinstance(purpose, str) or not isinstance(sessions, list):
            continue
        for session in sessions:
            sid = session.get("sessionId") if isinstance(session, Mapping) else None
            if not isinstance(sid, str):
                continue
            segments = tuple(s for s in session.get("segments") or () if isinstance(s, Mapping))
            media, direction = _text(session.get("mediaType")), _text(session.get("direction"))
            found.append(_Session(pid, purpose, _text(user), sid, media, direction, segments))
    return found


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _min_ms(segments: Sequence[Mapping[str, Any]], name: str) -> int | None:
    times = [t for s in segments if (t := _ms_of(s.get(name))) is not None]
    return min(times) if times else None


def _max_ms(segments: Sequence[Mapping[str, Any]], name: str) -> int | None:
    times = [t for s in segments if (t := _ms_of(s.get(name))) is not None]
    return max(times) if times else None


def _ms_of(value: Any) -> int | None:
    moment = parse_iso(value)
    return epoch_ms(moment) if moment is not None else None
