"""The conversation state as a join-semilattice: `join` is commutative, associative and idempotent, so any
order, any batching and any number of duplicates of the same events converge to the same state.

A state is a plain JSON-able dict (it is stored as-is in SQLite and DynamoDB). Every part records what set
it, so an older event never overwrites a newer one:

- registers `{"value": V, "at": eventTime ms, "by": content_key}`: "last" registers keep the greatest stamp
  (latest event wins), "first" registers the smallest (earliest event wins: originating direction). Equal
  stamps with different values are ordered by the value's canonical JSON, so the join stays a function.
- plain integers for min/max times (the time is its own stamp).
- maps of parts (participants, attributes) joined key by key.

Store metadata (version, updatedAt, ttl) is deliberately *not* part of the state: it depends on when and
how often a store wrote, which would break convergence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from gcevents.core.attributes import DEFAULT_POLICY, AttributePolicy
from gcevents.core.events import GenesysEvent
from gcevents.core.times import epoch_ms, iso_from_ms
from gcevents.core.topics import merged_into_state
from gcevents.core.types import SeenKeys, StoredState

State = dict[str, Any]


# Part name -> how two values of it join. Conversation level:
_FIRST_REGISTERS = frozenset({"mediaType", "direction"})  # what the conversation started as
_LAST_REGISTERS = frozenset({"lastEvent", "enrichment"})
_MIN_TIMES = frozenset({"startTime"})
_MAX_TIMES = frozenset({"endTime"})
_REGISTER_MAPS = frozenset({"attributes"})  # name -> last register
# The content keys of the events a state was built from, for the derived record's `sourceEventKeys`. Bounded
# so a conversation with thousands of events cannot grow its item past DynamoDB's 400 KB: the join keeps the
# MAX_SOURCE_KEYS smallest keys of the union, which is still a semilattice (the smallest n of A | B | C do not
# depend on how the union was grouped), and `sourcesTruncated` (an OR) says that some were left out.
SOURCES = "sources"
SOURCES_TRUNCATED = "sourcesTruncated"
MAX_SOURCE_KEYS = 100
# True once a fact `gcevents reconcile` rebuilt from analytics was merged (an OR: states only grow).
RECONCILED = "reconciled"

# Participant fields copied from event bodies (scalars only). Phone numbers, addresses and notes are left
# out on purpose: the state table should not become a second store of customer PII.
PARTICIPANT_FIELDS = (
    "purpose",
    "userId",
    "queueId",
    "divisionId",
    "wrapupCode",
    "disconnectType",
    "acdOutcome",
    "flowId",
    "flowName",
    "flowType",
    "flowVersion",
    "exitReason",
    "flowOutcome",
    "flowOutcomeId",
    "flowOutcomeValue",
    "transferType",
    "outboundCampaignId",
    "outboundContactListId",
    "outboundContactId",
    "externalContactId",
    "externalOrganizationId",
    "provider",
    "sessionId",
    "mediaType",
    "direction",
)
_PARTICIPANT_MIN = frozenset({"startTime"})
_PARTICIPANT_MAX = frozenset({"endTime"})

# The participant an event is about, when the body does not say (`purpose` in the body wins).
PURPOSE_BY_KIND = {
    "customer.start": "customer",
    "customer.end": "customer",
    "user.start": "agent",
    "user.end": "agent",
    "acw": "agent",
    "wrapup": "agent",
    "acd.start": "acd",
    "acd.end": "acd",
    "flow.start": "ivr",
    "flow.end": "ivr",
    "flow.outcome": "ivr",
    "voicemail.start": "voicemail",
    "voicemail.end": "voicemail",
    "outbound": "outbound",
}
CONVERSATION_END_KINDS = frozenset({"customer.end"})  # the customer hanging up ends the conversation


@dataclass(frozen=True, slots=True)
class Observation:
    """One event as the projection sees it: the event plus the analytics details fetched for it, if any."""

    event: GenesysEvent
    enrichment: Mapping[str, Any] | None = None
    # Record the event's content key in the state's bounded `sources` set: the derived records list them, and a
    # re-send of an event that took no claim is told from a first-seen one by them (`seen_keys`). The projection
    # always does; it costs a write for a first-seen event that changes nothing else.
    track_source: bool = False
    # What of the participant attributes the state may keep (GCEVENTS_ATTRIBUTES): by default names only.
    attributes: AttributePolicy = DEFAULT_POLICY


# ------------------------------------------------------------------------------------------------ join
def merge(state: Mapping[str, Any] | None, events: Iterable[GenesysEvent | Observation]) -> State:
    """Fold events into a state. Pure: the input state is not modified."""
    merged: State = dict(state) if state else {}
    for item in events:
        observation = item if isinstance(item, Observation) else Observation(item)
        merged = join(merged, delta(observation))
    return merged


def join(left: Mapping[str, Any], right: Mapping[str, Any]) -> State:
    """The least upper bound of two states."""
    out: State = dict(left)
    for name, value in right.items():
        mine = out.get(name)
        if mine is None:
            out[name] = value
        elif name in _FIRST_REGISTERS:
            out[name] = _first_register(mine, value)
        elif name in _LAST_REGISTERS:
            out[name] = _last_register(mine, value)
        elif name in _MIN_TIMES:
            out[name] = min(mine, value)
        elif name in _MAX_TIMES:
            out[name] = max(mine, value)
        elif name in _REGISTER_MAPS:
            out[name] = _join_maps(mine, value, _join_last)
        elif name == "participants":
            out[name] = _join_maps(mine, value, _join_participant)
        elif name == SOURCES:
            union = sorted(set(mine) | set(value))
            out[name] = union[:MAX_SOURCE_KEYS]
            if len(union) > MAX_SOURCE_KEYS:
                out[SOURCES_TRUNCATED] = True
        elif name in (SOURCES_TRUNCATED, RECONCILED):
            out[name] = bool(mine) or bool(value)
        else:  # a part this version does not know (written by a newer one): keep a deterministic value
            out[name] = max(mine, value, key=_canonical)
    return out


def _join_participant(left: Mapping[str, Any], right: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(left)
    for name, value in right.items():
        mine = out.get(name)
        if mine is None:
            out[name] = value
        elif name in _PARTICIPANT_MIN:
            out[name] = min(mine, value)
        elif name in _PARTICIPANT_MAX:
            out[name] = max(mine, value)
        else:
            out[name] = _last_register(mine, value)
    return out


def _join_last(left: Any, right: Any) -> Any:
    return _last_register(left, right)


def _join_maps(
    left: Mapping[str, Any], right: Mapping[str, Any], join_values: Callable[[Any, Any], Any]
) -> dict[str, Any]:
    out = dict(left)
    for key, value in right.items():
        out[key] = value if key not in out else join_values(out[key], value)
    return out


def _register_order(register: Mapping[str, Any]) -> tuple[Any, ...]:
    """Registers are ordered by (rank, at, by, canonical JSON of the value). "rank" lets a register prefer some
    values regardless of time (complete analytics over partial ones)."""
    return (*_stamp(register), _canonical(register.get("value")))


def _stamp(register: Mapping[str, Any]) -> tuple[Any, ...]:
    return register.get("rank", 0), register.get("at", 0), register.get("by", "")


def _after(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """a > b in `_register_order`. The canonical JSON of the values is computed only when the stamps tie: it was a
    tenth of the client's CPU per event when every comparison computed it (docs/benchmarks.md)."""
    stamp_a, stamp_b = _stamp(a), _stamp(b)
    if stamp_a != stamp_b:
        return bool(stamp_a > stamp_b)
    return _canonical(a.get("value")) > _canonical(b.get("value"))


def _last_register(mine: Any, value: Any) -> Any:
    """`max(mine, value, key=_register_order)`: the later register, `mine` on a tie."""
    return value if _after(value, mine) else mine


def _first_register(mine: Any, value: Any) -> Any:
    """`min(mine, value, key=_register_order)`: the earlier register, `mine` on a tie."""
    return value if _after(mine, value) else mine


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


# -------------------------------------------------------------------------------------------- seen keys
def seen_keys(stored: Mapping[str, Any] | None, merged: Mapping[str, Any], items: Iterable[object]) -> SeenKeys:
    """What `stored` knew of the content keys the observations among `items` record (`track_source`), and which keys
    `merged` (stored joined with them) no longer holds.

    Exact, bound included: `SOURCES` holds the smallest MAX_SOURCE_KEYS keys of every one ever joined, so a key
    missing from it was never recorded if the set was never truncated, or if it is below the largest key kept. Any
    other missing key is one the state cannot tell about (left out of `seen` and `new`). A state written when keys
    were recorded only for sinks (earlier versions) counts as having recorded none: a re-send of one of its events
    is new to it, once."""
    observations = [o for o in items if isinstance(o, Observation) and o.track_source and _tracked(o.event)]
    keys = {o.event.content_key for o in observations}
    stored = stored or {}
    known = set(stored.get(SOURCES, ()))
    truncated, ceiling = bool(stored.get(SOURCES_TRUNCATED)), max(known, default="")
    seen = keys & known
    new = {k for k in keys - known if not truncated or k < ceiling}
    return SeenKeys(
        seen=frozenset(seen),
        new=frozenset(new),
        superseded=frozenset(_superseded(stored, merged, observations, new, unsure=len(keys) > len(seen) + len(new))),
        unrecorded=frozenset((known | keys) - set(merged.get(SOURCES, ()))),
    )


def _superseded(
    stored: Mapping[str, Any], merged: Mapping[str, Any], observations: list[Observation], new: set[str], unsure: bool
) -> set[str]:
    """The new keys whose event the stored state already covered (it said nothing the state did not hold). One
    comparison per conversation in the common cases; a join per new event only when several may have changed it."""
    if not new:
        return set()
    if _facts(merged) == _facts(stored):
        return new
    if len(new) == 1 and not unsure:  # the change is the new event's: re-sends changed nothing before
        return set()
    return {
        o.event.content_key
        for o in observations
        if o.event.content_key in new and join(stored, _facts(delta(o))) == stored
    }


def _facts(state: Mapping[str, Any]) -> Mapping[str, Any]:
    """A state without the record of the keys it was built from."""
    if SOURCES not in state and SOURCES_TRUNCATED not in state:
        return state
    return {name: value for name, value in state.items() if name not in (SOURCES, SOURCES_TRUNCATED)}


# ----------------------------------------------------------------------------------------------- delta
def _tracked(event: GenesysEvent) -> bool:
    """Whether the conversation state takes anything from this event."""
    return merged_into_state(event.kind) and bool(event.conversation_id)


def delta(observation: Observation) -> State:
    """The state that one event alone implies (empty for events the projection does not track)."""
    event = observation.event
    if not _tracked(event):
        return {}
    kind = event.kind.partition(".")[2]  # the suffix: "customer.end"
    at = event_ms(event)
    by = event.content_key
    body = event.body

    def register(value: Any) -> dict[str, Any]:
        return {"value": _plain(value), "at": at, "by": by}

    state: State = {"startTime": at, "lastEvent": register(kind)}
    if observation.track_source:
        state[SOURCES] = [by]
    if event.reconciled:
        state[RECONCILED] = True
    for name in ("mediaType", "direction"):
        value = body.get(name)
        if _is_scalar(value):
            state[name] = register(value)
    if kind in CONVERSATION_END_KINDS:
        state["endTime"] = at

    if event.participant_id:
        participant: dict[str, Any] = {"startTime": at, "lastEvent": register(kind)}
        if kind.endswith(".end"):
            participant["endTime"] = at
        purpose = body.get("purpose") if _is_scalar(body.get("purpose")) else PURPOSE_BY_KIND.get(kind)
        if purpose is not None:
            participant["purpose"] = register(purpose)
        for name, value in body.items():
            if (name in PARTICIPANT_FIELDS and name != "purpose" and _is_scalar(value)) or (
                name.endswith("DurationMs") and isinstance(value, int | float) and not isinstance(value, bool)
            ):
                participant[name] = register(value)
        state["participants"] = {event.participant_id: participant}

    attributes = body.get("attributes")
    if kind == "attributes" and isinstance(attributes, Mapping):
        plain = {name: value if _is_scalar(value) else _canonical(value) for name, value in attributes.items()}
        kept = observation.attributes.apply(plain)
        if kept:
            state["attributes"] = {name: register(value) for name, value in kept.items()}

    if observation.enrichment:
        summary = enrichment_summary(observation.enrichment)
        if summary:
            # Complete analytics (with conversationEnd) beat partial ones fetched later for an older event.
            rank = 1 if summary.get("conversationEnd") else 0
            state["enrichment"] = {"value": summary, "at": at, "by": by, "rank": rank}
    return state


def enrichment_summary(details: Mapping[str, Any]) -> dict[str, Any]:
    """The few analytics facts worth keeping next to the state (the full details can be large)."""
    summary: dict[str, Any] = {}
    for name in ("conversationStart", "conversationEnd", "originatingDirection"):
        if _is_scalar(details.get(name)):
            summary[name] = _plain(details[name])
    divisions = details.get("divisionIds")
    if isinstance(divisions, list):
        summary["divisionIds"] = sorted(str(d) for d in divisions)
    participants = details.get("participants")
    if isinstance(participants, list):
        summary["participantCount"] = len(participants)
        media = _first_media_type(participants)
        if media is not None:
            summary["mediaType"] = media
    return summary


def _first_media_type(participants: list[Any]) -> str | None:
    for participant in participants:
        sessions = participant.get("sessions") if isinstance(participant, Mapping) else None
        for session in sessions if isinstance(sessions, list) else ():
            media = session.get("mediaType") if isinstance(session, Mapping) else None
            if isinstance(media, str):
                return media
    return None


def event_ms(event: GenesysEvent) -> int:
    """Exact integer milliseconds (float timestamps can be off by one, which would break tie-breaks)."""
    return epoch_ms(event.event_time)


def _is_scalar(value: Any) -> bool:
    # NaN and infinities would poison comparisons and cannot be stored in DynamoDB.
    return isinstance(value, str | int | bool) or (isinstance(value, float) and math.isfinite(value))


def _plain(value: Any) -> Any:
    """1000.0 -> 1000: DynamoDB hands numbers back without that distinction, and the join compares values."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# ------------------------------------------------------------------------------------------------ view
def view(conversation_id: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """A flat, human-friendly rendering (registers -> values, ms -> ISO 8601) for the CLI and users."""
    out: dict[str, Any] = {"conversationId": conversation_id}
    for name in ("mediaType", "direction"):
        if name in state:
            out[name] = state[name]["value"]
    for name in ("startTime", "endTime"):
        if name in state:
            out[name] = iso(state[name])
    if "lastEvent" in state:
        out["lastEventKind"] = state["lastEvent"]["value"]
        out["lastEventTime"] = iso(state["lastEvent"]["at"])
    participants = []
    for participant_id, participant in sorted(
        state.get("participants", {}).items(), key=lambda p: (p[1].get("startTime", 0), p[0])
    ):
        flat: dict[str, Any] = {"participantId": participant_id}
        for name, part in sorted(participant.items()):
            if name in ("startTime", "endTime"):
                flat[name] = iso(part)
            elif name == "lastEvent":
                flat["lastEventKind"] = part["value"]
            else:
                flat[name] = part["value"]
        participants.append(flat)
    out["participants"] = participants
    if state.get("attributes"):
        out["attributes"] = {k: v["value"] for k, v in sorted(state["attributes"].items())}
    if "enrichment" in state:
        out["enrichment"] = state["enrichment"]["value"]
    if state.get(RECONCILED):
        out[RECONCILED] = True
    return out


def stored_view(item: StoredState) -> dict[str, Any]:
    """`view` plus the store metadata of an item, for people and the CLI."""
    out = view(item.conversation_id, item.state)
    out.update(updatedAt=iso(item.updated_at_ms), ttl=item.ttl, version=item.version)
    return out


def iso(epoch_ms: int | float) -> str:
    """The one time shape of views and records: ISO-8601 UTC with milliseconds ("2026-12-07T10:11:31.309Z")."""
    return iso_from_ms(epoch_ms)
