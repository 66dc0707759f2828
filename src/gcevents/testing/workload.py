"""Realistic synthetic Genesys traffic: conversation lifecycles as EventBridge envelopes, with the faults real
traffic has (re-sends under new envelope ids, shuffled order, malformed and untrusted events).

Used by `gcevents demo`, the benchmarks and the fault-injection tests, so all three exercise the same shapes."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

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

    def add(kind: str, participant: str, session: str, **extra: Any) -> None:
        nonlocal t
        t += rng.randrange(200, 30_000)
        body = {**base, "eventTime": t, "participantId": participant, "sessionId": session, **extra}
        events.append(envelope(f"conversation.{kind}", conversation_id, body, rng=rng))

    add("customer.start", customer, customer_session, ani="tel:+1555" + f"{rng.randrange(10**7):07d}")
    add("flow.start", customer, customer_session, flowId="flow-main", flowName="Main IVR")
    add("flow.end", customer, customer_session, flowId="flow-main", disconnectType="transfer")
    add("acd.start", customer, customer_session, queueId=queue_id)
    add("acd.end", customer, customer_session, queueId=queue_id, acdOutcome="ANSWERED")
    add("user.start", agent, agent_session, userId=user_id, queueId=queue_id)
    talk = rng.randrange(20_000, 900_000)
    add(
        "user.end",
        agent,
        agent_session,
        userId=user_id,
        queueId=queue_id,
        interactingDurationMs=talk,
        disconnectType=rng.choice(_DISCONNECTS),
    )
    add("customer.end", customer, customer_session, disconnectType=rng.choice(_DISCONNECTS), interactingDurationMs=talk)
    add(
        "acw",
        agent,
        agent_session,
        userId=user_id,
        queueId=queue_id,
        wrapupCode=rng.choice(_WRAPUP_CODES),
        wrapupDurationMs=rng.randrange(5_000, 120_000),
    )
    add("wrapup", agent, agent_session, userId=user_id, queueId=queue_id, wrapupCode=rng.choice(_WRAPUP_CODES))
    return events


@dataclass
class Spike:
    """A shuffled stream of SQS-style bodies (text) and what an honest processor must end up with."""

    bodies: list[str] = field(default_factory=list)
    unique_events: int = 0
    duplicates: int = 0
    malformed: int = 0
    untrusted: int = 0
    conversations: set[str] = field(default_factory=set)

    @property
    def total(self) -> int:
        return len(self.bodies)


def make_spike(
    total: int = 20_000,
    *,
    duplicate_rate: float = 0.10,
    malformed: int = 10,
    untrusted: int = 10,
    seed: int = 7,
    start_ms: int = 1_764_000_000_000,
) -> Spike:
    """`total` bodies: unique lifecycle events, re-sends of some of them (same content, new envelope id and
    delivery time, as EventBridge/Genesys re-sends look), malformed and untrusted events; shuffled."""
    rng = random.Random(seed)
    spike = Spike()
    n_faulty = malformed + untrusted
    n_unique = max(0, round((total - n_faulty) / (1 + duplicate_rate)))
    unique: list[dict[str, Any]] = []
    while len(unique) < n_unique:
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        spike.conversations.add(cid)
        unique.extend(conversation_lifecycle(cid, start_ms + rng.randrange(0, 3_600_000), rng))
    unique = unique[:n_unique]
    spike.conversations = {e["detail"]["eventBody"]["conversationId"] for e in unique}
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
    spike.bodies = bodies
    spike.unique_events = len(unique)
    spike.duplicates = len(resent)
    spike.malformed = malformed
    spike.untrusted = untrusted
    return spike


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
