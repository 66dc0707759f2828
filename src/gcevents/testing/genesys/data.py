"""The simulator's conversations: deterministic analytics and live documents derived from a conversation id (same
id, same document, every run), over fixed pools of queues, agents and wrap-up codes."""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from gcevents.core.times import iso_z

MEDIA_TYPES = ("voice", "voice", "voice", "chat", "email", "callback", "message")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def _rng_for(conversation_id: str) -> random.Random:
    digest = hashlib.sha256(conversation_id.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _pool_id(kind: str, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gcevents-sim/{kind}/{index}"))


def _child_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


QUEUES = tuple(_pool_id("queue", i) for i in range(6))
AGENTS = tuple(_pool_id("user", i) for i in range(40))
WRAPUP_CODES = tuple(_pool_id("wrapup", i) for i in range(8))
DIVISION = _pool_id("division", 0)


def analytics_conversation(conversation_id: str) -> dict[str, Any]:
    """Deterministic analytics conversation details for an id (same id -> same document, every run)."""
    rng = _rng_for(conversation_id)
    media = rng.choice(MEDIA_TYPES)
    start = _EPOCH + timedelta(seconds=rng.randrange(365 * 86400), milliseconds=rng.randrange(1000))
    queue_wait = timedelta(seconds=rng.randint(0, 300))
    talk = timedelta(seconds=rng.randint(20, 1200))
    acw = timedelta(seconds=rng.randint(0, 120))
    answered = start + queue_wait
    end = answered + talk
    queue_id = rng.choice(QUEUES)
    user_id = rng.choice(AGENTS)
    wrapup_code = rng.choice(WRAPUP_CODES)
    direction = "outbound" if media == "callback" else "inbound"
    customer_address = f"tel:+1555{rng.randrange(10**7):07d}" if media in ("voice", "callback") else "customer"
    return {
        "conversationId": conversation_id,
        "conversationStart": iso_z(start),
        "conversationEnd": iso_z(end + acw),
        "originatingDirection": direction,
        "divisionIds": [DIVISION],
        "participants": [
            {
                "participantId": _child_id(rng),
                "participantName": f"Customer {rng.randrange(10000)}",
                "purpose": "customer",
                "sessions": [
                    {
                        "sessionId": _child_id(rng),
                        "mediaType": media,
                        "direction": direction,
                        "ani": customer_address,
                        "dnis": "tel:+18005550100",
                        "segments": [
                            {
                                "segmentStart": iso_z(start),
                                "segmentEnd": iso_z(end),
                                "segmentType": "interact",
                                "disconnectType": "peer",
                            }
                        ],
                    }
                ],
            },
            {
                "participantId": _child_id(rng),
                "participantName": "Queue",
                "purpose": "acd",
                "sessions": [
                    {
                        "sessionId": _child_id(rng),
                        "mediaType": media,
                        "direction": direction,
                        "segments": [
                            {
                                "segmentStart": iso_z(start),
                                "segmentEnd": iso_z(answered),
                                "segmentType": "delay",
                                "queueId": queue_id,
                            }
                        ],
                    }
                ],
            },
            {
                "participantId": _child_id(rng),
                "participantName": f"Agent {AGENTS.index(user_id)}",
                "purpose": "agent",
                "userId": user_id,
                "sessions": [
                    {
                        "sessionId": _child_id(rng),
                        "mediaType": media,
                        "direction": direction,
                        "segments": [
                            {
                                "segmentStart": iso_z(answered - timedelta(seconds=5)),
                                "segmentEnd": iso_z(answered),
                                "segmentType": "alert",
                                "queueId": queue_id,
                            },
                            {
                                "segmentStart": iso_z(answered),
                                "segmentEnd": iso_z(end),
                                "segmentType": "interact",
                                "queueId": queue_id,
                                "disconnectType": "client",
                            },
                            {
                                "segmentStart": iso_z(end),
                                "segmentEnd": iso_z(end + acw),
                                "segmentType": "wrapup",
                                "queueId": queue_id,
                                "wrapUpCode": wrapup_code,
                            },
                        ],
                    }
                ],
            },
        ],
    }


def live_conversation(conversation_id: str) -> dict[str, Any]:
    """`GET /api/v2/conversations/{id}` shape (simplified), consistent with the analytics document."""
    details = analytics_conversation(conversation_id)
    rng = _rng_for(conversation_id + "/live")
    participants: list[dict[str, Any]] = []
    for participant in details["participants"]:
        session = participant["sessions"][0]
        segments = session["segments"]
        entry: dict[str, Any] = {
            "id": participant["participantId"],
            "name": participant["participantName"],
            "purpose": participant["purpose"],
            "startTime": segments[0]["segmentStart"],
            "endTime": segments[-1]["segmentEnd"],
            "attributes": {},
        }
        queue_id = next((s["queueId"] for s in segments if "queueId" in s), None)
        if queue_id:
            entry["queueId"] = queue_id
        if participant["purpose"] == "customer":
            entry["address"] = session.get("ani", "")
            entry["attributes"] = {
                "accountTier": rng.choice(["gold", "silver", "bronze"]),
                "language": rng.choice(["en-US", "es-US", "fr-CA"]),
            }
        if participant["purpose"] == "agent":
            entry["userId"] = participant["userId"]
            entry["wrapup"] = {"code": segments[-1]["wrapUpCode"], "durationSeconds": 0}
        participants.append(entry)
    return {
        "id": conversation_id,
        "startTime": details["conversationStart"],
        "endTime": details["conversationEnd"],
        "divisions": [{"division": {"id": DIVISION}, "entities": []}],
        "participants": participants,
    }
