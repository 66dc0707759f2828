"""Event builders shared by the state tests."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from gcevents.core.events import GenesysEvent, RawRecord, parse_record
from gcevents.core.state_store import OptimisticStateStore
from gcevents.testing.events import topic_for, wrap

BASE_MS = 1_700_000_000_000


def envelope(kind: str, entity: str, body: dict[str, Any]) -> dict[str, Any]:
    """`body` exactly as given (the state tests choose every field), in the public builder's envelope."""
    return wrap(topic_for("agent.state" if kind == "state" else kind, entity), body, envelope_id="aws-event-id")


def make_event(
    kind: str,
    conversation_id: str = "c1",
    participant_id: str | None = "p1",
    *,
    at: int = BASE_MS,
    session_id: str | None = "s1",
    **extra: Any,
) -> GenesysEvent:
    body: dict[str, Any] = {"eventTime": at, "conversationId": conversation_id, **extra}
    if participant_id is not None:
        body["participantId"] = participant_id
    if session_id is not None:
        body["sessionId"] = session_id
    parsed = parse_record(RawRecord(payload=envelope(kind, conversation_id, body)))
    assert isinstance(parsed, GenesysEvent), parsed
    return parsed


def dynamodb_store_factory(endpoint: str, table: str) -> Callable[..., OptimisticStateStore]:
    import boto3
    from botocore.config import Config

    from gcevents.adapters.dynamodb.state import DynamoDbStateStore, create_state_table

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(max_pool_connections=32, retries={"mode": "standard", "max_attempts": 2}),
    )
    create_state_table(client, table)
    return lambda **kw: DynamoDbStateStore(client, table, **kw)


# ------------------------------------------------------------------------------------ hypothesis strategies
def _strategies() -> Any:
    from hypothesis import strategies as st

    from gcevents.core.events import CONVERSATION_KINDS

    label = st.sampled_from(["x", "y", "z"])
    extras = st.fixed_dictionaries(
        {},
        optional={
            "mediaType": st.sampled_from(["VOICE", "CHAT", "EMAIL"]),
            "direction": st.sampled_from(["inbound", "outbound"]),
            "userId": label,
            "queueId": label,
            "wrapupCode": label,
            "disconnectType": st.sampled_from(["client", "peer", "endpoint"]),
            "interactingDurationMs": st.integers(0, 10**6),
            "wrapupDurationMs": st.integers(0, 10**6) | st.just(1500.0),
            "purpose": st.sampled_from(["customer", "agent"]),
            "attributes": st.dictionaries(label, st.text(max_size=3) | st.integers(0, 9), max_size=2),
            "unknownField": st.integers(0, 3),
        },
    )
    enrichment = st.none() | st.fixed_dictionaries(
        {},
        optional={
            "conversationStart": st.just("2023-11-14T22:13:20.000Z"),
            "conversationEnd": st.sampled_from(["2023-11-14T22:20:00.000Z", "2023-11-14T22:21:00.000Z"]),
            "originatingDirection": st.sampled_from(["inbound", "outbound"]),
            "divisionIds": st.lists(st.sampled_from(["d1", "d2"]), max_size=2),
            "participants": st.lists(st.just({"sessions": [{"mediaType": "VOICE"}]}), max_size=3),
        },
    )
    spec = st.tuples(
        st.sampled_from(sorted(CONVERSATION_KINDS)),
        st.sampled_from(["p1", "p2", "p3", None]),
        st.sampled_from(["s1", "s2"]),
        st.integers(0, 4),  # few distinct times: ties on eventTime are common, as in real bursts
        extras,
        enrichment,
    )
    return spec


def event_specs(min_size: int = 1, max_size: int = 10) -> Any:
    from hypothesis import strategies as st

    return st.lists(_strategies(), min_size=min_size, max_size=max_size)


def build(spec: tuple[Any, ...], conversation_id: str) -> Any:
    from gcevents.core.state import Observation

    kind, participant, session, offset, extras, enrichment = spec
    event = make_event(kind, conversation_id, participant, at=BASE_MS + offset * 1000, session_id=session, **extras)
    return Observation(event, enrichment)


def shuffled_batches(items: list[Any], duplicates: list[int], rng: Any, cuts: int) -> list[list[Any]]:
    """Every item at least once, some twice or more, in a random order, split into random batches."""
    stream = items + [items[i % len(items)] for i in duplicates]
    rng.shuffle(stream)
    points = sorted(rng.randrange(0, len(stream) + 1) for _ in range(cuts))
    bounds = [0, *points, len(stream)]
    return [stream[a:b] for a, b in pairwise(bounds) if b > a]
