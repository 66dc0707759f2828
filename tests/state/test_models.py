"""Typed event models: one per detail kind, tolerant of missing, extra and mistyped fields."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from gcevents.core import models
from gcevents.core.events import CONVERSATION_KINDS
from gcevents.core.models import (
    AcwEvent,
    AgentStateEvent,
    AttributesEvent,
    ConversationEvent,
    CustomerEndEvent,
    OtherEvent,
    WrapupEvent,
    typed,
    typed_handler,
)
from gcevents.core.router import HandlerContext, Router

from .helpers import BASE_MS, make_event


@pytest.mark.parametrize("kind", sorted(CONVERSATION_KINDS))
def test_every_conversation_kind_has_its_model(kind: str) -> None:
    model = typed(make_event(kind, mediaType="VOICE", direction="inbound"))
    assert type(model) is models.MODELS[f"conversation.{kind}"]
    assert isinstance(model, ConversationEvent)
    assert model.kind == f"conversation.{kind}"
    assert (model.conversation_id, model.participant_id, model.session_id) == ("c1", "p1", "s1")
    assert (model.media_type, model.direction) == ("VOICE", "inbound")
    assert model.event_time == datetime.fromtimestamp(BASE_MS / 1000, tz=UTC)


def test_per_kind_fields_are_typed() -> None:
    end = typed(make_event("customer.end", disconnectType="client", interactingDurationMs=8000, extra={"a": 1}))
    assert isinstance(end, CustomerEndEvent)
    assert (end.disconnect_type, end.interacting_duration_ms) == ("client", 8000)
    assert end.raw["extra"] == {"a": 1}  # unknown fields stay available

    acw = typed(make_event("acw", userId="u1", queueId="q1", wrapupCode="sale", wrapupDurationMs="3000"))
    assert acw == AcwEvent(
        topic=acw.topic,
        kind="conversation.acw",
        content_key=acw.content_key,
        event_time=acw.event_time,
        raw=acw.raw,
        conversation_id="c1",
        participant_id="p1",
        session_id="s1",
        user_id="u1",
        queue_id="q1",
        wrapup_code="sale",
        wrapup_duration_ms=3000,
    )

    attributes = typed(make_event("attributes", attributes={"crm": "42", "n": 1}))
    assert isinstance(attributes, AttributesEvent)
    assert attributes.attributes == {"crm": "42", "n": 1}


def test_missing_and_mistyped_fields_become_none() -> None:
    wrapup = typed(make_event("wrapup", participant_id=None, session_id=None, wrapupDurationMs="soon", userId=7))
    assert isinstance(wrapup, WrapupEvent)
    assert wrapup.participant_id is None
    assert wrapup.wrapup_duration_ms is None
    assert wrapup.user_id == "7"
    assert wrapup.wrapup_code is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("²", None),
        ("1²", None),
        ("-²", None),
        ("٣", 3),
        (" 42 ", 42),
        ("-7", -7),
        ("--7", None),
        ("", None),
        ("4.0", None),
    ],
)
def test_integer_fields_never_raise(raw: str, expected: int | None) -> None:
    """A digit int() rejects ("²", which str.isdigit accepts) gives None, never an exception."""
    acw = typed(make_event("acw", wrapupDurationMs=raw))
    assert isinstance(acw, AcwEvent)
    assert acw.wrapup_duration_ms == expected


def test_agent_state_and_other_topics() -> None:
    agent = typed(make_event("state", "user-9", None, session_id=None, routingStatus="IDLE"))
    assert isinstance(agent, AgentStateEvent)
    assert (agent.user_id, agent.routing_status) == ("user-9", "IDLE")
    assert not hasattr(agent, "conversation_id")

    from gcevents.core.events import GenesysEvent, RawRecord, parse_record

    audit = parse_record(
        RawRecord(
            {
                "detail": {
                    "topicName": "v2.audits.entitytype.x",
                    "eventBody": {"eventTime": "2024-01-01T00:00:00Z"},
                }
            }
        )
    )
    assert isinstance(audit, GenesysEvent)
    assert isinstance(typed(audit), OtherEvent)


def test_models_are_frozen_and_slotted() -> None:
    model = typed(make_event("customer.start"))
    with pytest.raises(AttributeError):
        model.topic = "x"  # type: ignore[misc]
    assert not hasattr(model, "__dict__")


def test_typed_handler_plugs_into_the_router() -> None:
    seen: list[tuple[str | None, str]] = []

    def on_wrapup(event: WrapupEvent, ctx: HandlerContext) -> None:
        seen.append((event.wrapup_code, ctx.idempotency_key))

    router = Router()
    router.on("v2.detail.events.conversation.{id}.wrapup")(typed_handler(on_wrapup))
    router.on("v2.detail.events.conversation.*")(typed_handler(on_wrapup, model=WrapupEvent))
    event = make_event("wrapup", wrapupCode="sale")
    ctx = HandlerContext(enrichment=None, deadline=0.0, idempotency_key=event.content_key, services={})
    for handler in router.handlers_for(event.topic):
        handler(event, ctx)
    other = make_event("customer.start")
    for handler in router.handlers_for(other.topic):
        handler(other, ctx)  # skipped by the model filter
    assert seen == [("sale", event.content_key), ("sale", event.content_key)]
    assert typed_handler(on_wrapup).__name__ == "on_wrapup"


def test_importing_models_stays_lean() -> None:
    code = "import sys, gcevents.core.models; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
    code += "('boto3', 'botocore', 'pydantic', 'httpx', 'sqlite3', 'concurrent'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
