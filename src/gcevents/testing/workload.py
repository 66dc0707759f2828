"""Realistic synthetic Genesys traffic: conversation lifecycles as EventBridge envelopes, with the faults real
traffic has (re-sends under new envelope ids, shuffled order, malformed and untrusted events, events the source
dropped), and the Genesys analytics documents that agree with them (for `gcevents reconcile`).

Used by `gcevents demo`, the benchmarks and the fault-injection tests, so all three exercise the same shapes."""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gcevents.core.times import iso_from_ms
from gcevents.testing.events import topic_for, wrap

ORG_ID = "5f0c1e2d-0000-4000-8000-00000000beef"
TRUSTED_SOURCE = f"aws.partner/genesys.com/cloud/{ORG_ID}/gcevents-demo"
TRUSTED_PREFIX = f"aws.partner/genesys.com/cloud/{ORG_ID}/"
UNTRUSTED_SOURCE = "aws.partner/genesys.com/cloud/00000000-0000-4000-8000-000000000bad/other"

_WRAPUP_CODES = ("Sale", "Support", "Callback requested", "No answer", "Escalated")
_DISCONNECTS = ("client", "peer", "endpoint", "transfer")


def envelope(
    kind: str,
    entity_id: str,
    body: dict[str, Any],
    *,
    source: str = TRUSTED_SOURCE,
    envelope_id: str | None = None,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """`conversation.acw` (or `agent.state`) of `entity_id` in its exact EventBridge envelope (`events.wrap`), with
    ids drawn from `rng` when given, so a seeded workload is the same every time."""

    def make_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4)) if rng else str(uuid.uuid4())

    envelope_id = envelope_id or make_id()
    return wrap(topic_for(kind, entity_id), body, source=source, envelope_id=envelope_id, correlation_id=make_id())


def conversation_lifecycle(conversation_id: str, start_ms: int, rng: random.Random) -> list[dict[str, Any]]:
    """One inbound voice (or chat) conversation: customer, IVR flow, queue, one agent, wrap-up."""
    media = rng.choice(("VOICE", "VOICE", "VOICE", "CHAT", "CALLBACK"))
    customer, agent = str(uuid.UUID(int=rng.getrandbits(128))), str(uuid.UUID(int=rng.getrandbits(128)))
    customer_session, agent_session = f"s-{rng.getrandbits(48):x}", f"s-{rng.getrandbits(48):x}"
    user_id, queue_id = f"user-{rng.randrange(200):03d}", f"queue-{rng.randrange(12):02d}"
    base = {"conversationId": conversation_id, "mediaType": media, "direction": "INBOUND"}
    t = start_ms
    events: list[dict[str, Any]] = []

    def add(kind: str, participant: str, session: str, after_ms: int | None = None, **extra: Any) -> None:
        """The event `after_ms` after the previous one (a step of 0.2-30 s when not given)."""
        nonlocal t
        t += rng.randrange(200, 30_000) if after_ms is None else after_ms
        body = {**base, "eventTime": t, "participantId": participant, "sessionId": session, **extra}
        events.append(envelope(f"conversation.{kind}", conversation_id, body, rng=rng))

    add("customer.start", customer, customer_session, ani="tel:+1555" + f"{rng.randrange(10**7):07d}")
    add("flow.start", customer, customer_session, flowId="flow-main", flowName="Main IVR")
    add("flow.end", customer, customer_session, flowId="flow-main", disconnectType="transfer")
    add("acd.start", customer, customer_session, queueId=queue_id)
    add("acd.end", customer, customer_session, queueId=queue_id, acdOutcome="ANSWERED")
    add("user.start", agent, agent_session, userId=user_id, queueId=queue_id)
    # The durations are the time between the events: the agent talks from user.start to user.end, the customer
    # hangs up just after, and the after-call work ends with the acw event.
    talk, acw = rng.randrange(20_000, 900_000), rng.randrange(5_000, 120_000)
    agent_fields = {"userId": user_id, "queueId": queue_id}
    add(
        "user.end",
        agent,
        agent_session,
        talk,
        **agent_fields,
        interactingDurationMs=talk,
        disconnectType=rng.choice(_DISCONNECTS),
    )
    hangup = rng.randrange(200, 2_000)
    add(
        "customer.end",
        customer,
        customer_session,
        hangup,
        disconnectType=rng.choice(_DISCONNECTS),
        interactingDurationMs=talk,
    )
    add(
        "acw",
        agent,
        agent_session,
        acw - hangup,
        **agent_fields,
        wrapupCode=rng.choice(_WRAPUP_CODES),
        wrapupDurationMs=acw,
    )
    add("wrapup", agent, agent_session, userId=user_id, queueId=queue_id, wrapupCode=rng.choice(_WRAPUP_CODES))
    return events


@dataclass
class Spike:
    """A shuffled stream of SQS-style bodies (text) and what an honest processor must end up with."""

    bodies: list[str] = field(default_factory=list)
    unique_events: int = 0  # delivered (not dropped)
    duplicates: int = 0
    malformed: int = 0
    untrusted: int = 0
    conversations: set[str] = field(default_factory=set)  # with at least one delivered event
    # What Genesys analytics knows: one document per conversation, agreeing with its events (ids, purposes, wrap-up
    # codes; times within a second); without `conversationEnd` for a conversation the spike cut short.
    analytics: dict[str, dict[str, Any]] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)  # the events the source dropped (one body each), in order
    withheld: int = 0  # bodies the source dropped: the dropped events and their re-sends
    delivered_kinds: dict[str, set[str]] = field(default_factory=dict)  # conversationId -> kinds delivered

    @property
    def total(self) -> int:
        return len(self.bodies)

    def expected_gaps(self) -> dict[str, set[str]]:
        """What reconciliation must find, from the delivered events alone: per ended conversation, `unknown` (none
        delivered), `not_ended` (no customer.end) and `missing_wrapup` (neither acw nor wrapup)."""
        gaps: dict[str, set[str]] = {}
        for cid, document in self.analytics.items():
            if not document.get("conversationEnd"):
                continue
            kinds = self.delivered_kinds.get(cid, set())
            found = {"unknown"} if not kinds else set()
            if kinds and "customer.end" not in kinds:
                found.add("not_ended")
            if kinds and not kinds & {"acw", "wrapup"}:
                found.add("missing_wrapup")
            if found:
                gaps[cid] = found
        return gaps


def make_spike(
    total: int = 20_000,
    *,
    duplicate_rate: float = 0.10,
    malformed: int = 10,
    untrusted: int = 10,
    seed: int = 7,
    start_ms: int = 1_764_000_000_000,
    drop_rate: float = 0.0,
) -> Spike:
    """`total` bodies: unique lifecycle events, re-sends of some of them (same content, new envelope id and
    delivery time, as EventBridge/Genesys re-sends look), malformed and untrusted events; shuffled. With
    `drop_rate`, that share of the conversations loses events before the queue (`drop_events`)."""
    rng = random.Random(seed)
    spike = Spike()
    n_faulty = malformed + untrusted
    n_unique = max(0, round((total - n_faulty) / (1 + duplicate_rate)))
    unique: list[dict[str, Any]] = []
    lifecycles: list[list[dict[str, Any]]] = []
    while len(unique) < n_unique:
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        lifecycles.append(conversation_lifecycle(cid, start_ms + rng.randrange(0, 3_600_000), rng))
        unique.extend(lifecycles[-1])
    unique = unique[:n_unique]
    spike.analytics = {
        lifecycle[0]["detail"]["eventBody"]["conversationId"]: lifecycle_analytics(lifecycle, ended=n_unique >= end)
        for lifecycle, end in zip(lifecycles, _ends(lifecycles), strict=True)
    }
    resent = [
        dict(rng.choice(unique), id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        for _ in range(total - n_faulty - n_unique)
    ]
    bodies = [json.dumps(e, separators=(",", ":")) for e in unique + resent]
    bodies += list(_malformed_bodies(malformed, rng))
    for _ in range(untrusted):
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        event = conversation_lifecycle(cid, start_ms, rng)[0]
        event["source"] = UNTRUSTED_SOURCE
        bodies.append(json.dumps(event))
    rng.shuffle(bodies)
    lost = drop_events(spike.analytics, drop_rate, seed) if drop_rate > 0 else set()
    spike.dropped = [json.dumps(e, separators=(",", ":")) for e in unique if _identity(e) in lost]
    spike.bodies = [b for b in bodies if not lost or _identity_of(b) not in lost]
    spike.withheld = len(bodies) - len(spike.bodies)
    spike.unique_events = len(unique) - len(spike.dropped)
    spike.duplicates = sum(1 for e in resent if _identity(e) not in lost)
    spike.malformed = malformed
    spike.untrusted = untrusted
    for event in unique:
        if _identity(event) not in lost:
            cid, kind = _identity(event)
            spike.delivered_kinds.setdefault(cid, set()).add(kind)
    spike.conversations = set(spike.delivered_kinds)
    return spike


DROP_PATTERNS: Mapping[str, frozenset[str]] = {
    "whole": frozenset(
        {
            "customer.start",
            "flow.start",
            "flow.end",
            "acd.start",
            "acd.end",
            "user.start",
            "user.end",
            "customer.end",
            "acw",
            "wrapup",
        }
    ),
    "end": frozenset({"customer.end"}),
    "wrapup": frozenset({"acw", "wrapup"}),
    "end+wrapup": frozenset({"customer.end", "acw", "wrapup"}),
}


def drop_events(analytics: Mapping[str, Mapping[str, Any]], rate: float, seed: int) -> set[tuple[str, str]]:
    """(conversationId, kind) of the events the source loses: `rate` of the ended conversations, each losing its
    whole stream (the first one, at least), its end, its wrap-up or both. Its own Random: the rest of the spike is
    the same with and without drops."""
    rng = random.Random(seed * 7919 + 1)
    ended = sorted(cid for cid, document in analytics.items() if document.get("conversationEnd"))
    chosen = rng.sample(ended, min(len(ended), max(1, round(rate * len(ended)))))
    lost: set[tuple[str, str]] = set()
    for n, cid in enumerate(chosen):
        pattern = "whole" if n == 0 else rng.choice(sorted(DROP_PATTERNS))
        lost.update((cid, kind) for kind in DROP_PATTERNS[pattern])
    return lost


def _identity(event: Mapping[str, Any]) -> tuple[str, str]:
    """(conversationId, kind): a lifecycle has one event of each kind."""
    topic = event["detail"]["topicName"]
    cid, _, kind = topic.removeprefix("v2.detail.events.conversation.").partition(".")
    return cid, kind


def _identity_of(body: str) -> tuple[str, str] | None:
    try:
        return _identity(json.loads(body))
    except (ValueError, KeyError, TypeError, AttributeError):
        return None  # malformed on purpose: never dropped


def _ends(lifecycles: Sequence[Sequence[Any]]) -> list[int]:
    """The count of unique events up to and including each lifecycle (a lifecycle past the cut is not ended)."""
    total, ends = 0, []
    for lifecycle in lifecycles:
        total += len(lifecycle)
        ends.append(total)
    return ends


# ------------------------------------------------------------------------------------------------ analytics
def lifecycle_analytics(events: Sequence[Mapping[str, Any]], *, ended: bool = True) -> dict[str, Any]:
    """The Genesys analytics conversation document for one `conversation_lifecycle`: the same conversation,
    participant and session ids, purposes, user, queue and final wrap-up code, segment times within +-0.5 s of the
    events' eventTimes (analytics and the event stream do not agree to the millisecond). `ended=False`: still
    ongoing (no `conversationEnd`, no end segments)."""
    by_kind = {_identity(e)[1]: e["detail"]["eventBody"] for e in events}
    cid = by_kind["customer.start"]["conversationId"]
    jitter = random.Random(int.from_bytes(hashlib.sha256(cid.encode()).digest()[:8], "big"))

    def at(kind: str) -> str:
        ms = by_kind[kind]["eventTime"] + jitter.randrange(-500, 500)
        return iso_from_ms(ms)

    customer, agent = by_kind["customer.start"], by_kind["user.start"]
    media, direction = customer["mediaType"].lower(), customer["direction"].lower()
    customer_segment: dict[str, Any] = {"segmentStart": at("customer.start"), "segmentType": "interact"}
    agent_segments: list[dict[str, Any]] = [
        {"segmentStart": at("user.start"), "segmentType": "interact", "queueId": agent["queueId"]}
    ]
    document: dict[str, Any] = {
        "conversationId": cid,
        "conversationStart": customer_segment["segmentStart"],
        "originatingDirection": direction,
        "divisionIds": [],
    }
    if ended:
        customer_segment.update(segmentEnd=at("customer.end"), disconnectType=by_kind["customer.end"]["disconnectType"])
        agent_segments[0].update(segmentEnd=at("user.end"), disconnectType=by_kind["user.end"]["disconnectType"])
        agent_segments.append(
            {
                "segmentStart": agent_segments[0]["segmentEnd"],
                "segmentEnd": at("acw"),
                "segmentType": "wrapup",
                "queueId": agent["queueId"],
                "wrapUpCode": by_kind["wrapup"]["wrapupCode"],
            }
        )
        document["conversationEnd"] = at("wrapup")
    session = {"mediaType": media, "direction": direction}
    document["participants"] = [
        {
            "participantId": customer["participantId"],
            "purpose": "customer",
            "sessions": [{**session, "sessionId": customer["sessionId"], "segments": [customer_segment]}],
        },
        {
            "participantId": agent["participantId"],
            "purpose": "agent",
            "userId": agent["userId"],
            "sessions": [{**session, "sessionId": agent["sessionId"], "segments": agent_segments}],
        },
    ]
    return document


def _malformed_bodies(count: int, rng: random.Random) -> Iterator[str]:
    shapes = (
        lambda: '{"version":"0","detail":{"topicName":',  # truncated JSON
        lambda: json.dumps({"version": "0", "id": "x", "source": TRUSTED_SOURCE}),  # no detail
        lambda: json.dumps({"detail": {"eventBody": {"conversationId": "c"}}, "source": TRUSTED_SOURCE}),  # no topic
        lambda: json.dumps([1, 2, 3]),  # not an object
        lambda: json.dumps(
            {
                "detail": {"topicName": "v2.detail.events.conversation.c.acw", "eventBody": "oops"},
                "source": TRUSTED_SOURCE,
            }
        ),
    )
    for i in range(count):
        yield shapes[i % len(shapes)]() if i % 7 else shapes[rng.randrange(len(shapes))]()
