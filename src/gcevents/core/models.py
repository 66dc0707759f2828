"""Typed views of Genesys detail events, for handlers that prefer attributes to dict lookups.

    from gcevents.core.models import WrapupEvent, typed_handler

    @router.on("v2.detail.events.conversation.{id}.wrapup")
    @typed_handler
    def on_wrapup(event: WrapupEvent, ctx: HandlerContext) -> None: ...

Plain frozen dataclasses (no pydantic: the Lambda cold start stays lean). Tolerant by design: a missing or
mistyped field becomes None, and the whole body stays available as `raw`, unknown fields included.
Field names are the body's camelCase keys in snake_case (`wrapupDurationMs` -> `wrapup_duration_ms`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from gcevents.core import topics
from gcevents.core.events import GenesysEvent

if TYPE_CHECKING:
    from gcevents.core.router import EventHandler, HandlerContext


@dataclass(frozen=True, slots=True, kw_only=True)
class DetailEvent:
    """Fields every event has."""

    topic: str
    kind: str  # "conversation.wrapup", "agent.state", "other"
    content_key: str  # also the handler context's idempotency_key
    event_time: datetime  # timezone-aware UTC
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)  # the full eventBody


@dataclass(frozen=True, slots=True, kw_only=True)
class ConversationEvent(DetailEvent):
    """Fields every `v2.detail.events.conversation.{id}.*` event has."""

    conversation_id: str | None = None
    participant_id: str | None = None
    session_id: str | None = None
    media_type: str | None = None  # VOICE, CHAT, EMAIL, CALLBACK, MESSAGE, ...
    direction: str | None = None  # inbound, outbound


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdStartEvent(ConversationEvent):
    """acd.start: the interaction entered a queue."""

    queue_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdEndEvent(ConversationEvent):
    """acd.end: the interaction left the queue (answered, abandoned, transferred...)."""

    queue_id: str | None = None
    acd_outcome: str | None = None
    disconnect_type: str | None = None
    connected_duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AcwEvent(ConversationEvent):
    """acw: after-call work finished, with the wrap-up code the agent chose."""

    user_id: str | None = None
    queue_id: str | None = None
    wrapup_code: str | None = None
    wrapup_duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AttributesEvent(ConversationEvent):
    """attributes: participant data (attributes) changed."""

    attributes: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ContactEvent(ConversationEvent):
    """contact: the conversation was associated with an external contact."""

    external_contact_id: str | None = None
    external_organization_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerStartEvent(ConversationEvent):
    """customer.start: the customer participant connected."""

    provider: str | None = None
    ani: str | None = None
    dnis: str | None = None
    external_contact_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CustomerEndEvent(ConversationEvent):
    """customer.end: the customer disconnected."""

    disconnect_type: str | None = None
    interacting_duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowStartEvent(ConversationEvent):
    """flow.start: an Architect flow (IVR, bot, ...) started."""

    flow_id: str | None = None
    flow_name: str | None = None
    flow_type: str | None = None
    flow_version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowEndEvent(ConversationEvent):
    """flow.end: the flow ended."""

    flow_id: str | None = None
    flow_type: str | None = None
    exit_reason: str | None = None
    transfer_type: str | None = None
    disconnect_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FlowOutcomeEvent(ConversationEvent):
    """flow.outcome: the flow reached a configured outcome."""

    flow_id: str | None = None
    flow_outcome: str | None = None
    flow_outcome_id: str | None = None
    flow_outcome_value: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboundEvent(ConversationEvent):
    """outbound: an outbound campaign placed the interaction."""

    outbound_campaign_id: str | None = None
    outbound_contact_list_id: str | None = None
    outbound_contact_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserStartEvent(ConversationEvent):
    """user.start: an agent (user) was connected."""

    user_id: str | None = None
    queue_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserEndEvent(ConversationEvent):
    """user.end: the agent's session ended."""

    user_id: str | None = None
    queue_id: str | None = None
    disconnect_type: str | None = None
    interacting_duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailStartEvent(ConversationEvent):
    """voicemail.start: the interaction went to voicemail."""

    user_id: str | None = None
    queue_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailEndEvent(ConversationEvent):
    """voicemail.end: the voicemail ended."""

    user_id: str | None = None
    queue_id: str | None = None
    voicemail_duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WrapupEvent(ConversationEvent):
    """wrapup: the wrap-up code was set."""

    user_id: str | None = None
    queue_id: str | None = None
    wrapup_code: str | None = None
    wrapup_duration_ms: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentStateEvent(DetailEvent):
    """`v2.detail.events.agent.{id}.state`: an agent's routing/presence state changed."""

    user_id: str | None = None  # from the body, else the topic's {id}
    routing_status: str | None = None
    system_presence: str | None = None
    presence_definition_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class OtherEvent(DetailEvent):
    """Audit, presence and anything else routed through: only `raw`."""


@dataclass(frozen=True, slots=True, kw_only=True)
class UserPresenceEvent(DetailEvent):
    """`v2.users.{id}.presence`: a user's presence changed (a notification topic: no conversation)."""

    user_id: str | None = None  # the topic's {id}
    presence_definition: Mapping[str, Any] = field(default_factory=dict)  # {"id", "systemPresence"}
    message: str | None = None
    modified_date: str | None = None

    @property
    def system_presence(self) -> str | None:
        value = self.presence_definition.get("systemPresence")
        return value if isinstance(value, str) else None


# Kind -> model, from the topic families' table (core/topics.py): a kind without a model there is OtherEvent.
MODELS: Mapping[str, type[DetailEvent]] = {kind: globals()[name] for kind, name in topics.model_names().items()}

# Filled from the GenesysEvent itself, not read from the body by field name.
_FROM_EVENT = frozenset(
    {"topic", "kind", "content_key", "event_time", "raw", "conversation_id", "participant_id", "session_id"}
)
_plans: dict[type[DetailEvent], tuple[tuple[str, str, Callable[[Any], Any]], ...]] = {}


def typed(event: GenesysEvent) -> DetailEvent:
    """The model for this event's kind (OtherEvent for kinds without one). Never raises on body data."""
    model = MODELS.get(event.kind, OtherEvent)
    values: dict[str, Any] = {
        "topic": event.topic,
        "kind": event.kind,
        "content_key": event.content_key,
        "event_time": event.event_time,
        "raw": event.body,
    }
    if issubclass(model, ConversationEvent):
        values.update(
            conversation_id=event.conversation_id,
            participant_id=event.participant_id,
            session_id=event.session_id,
        )
    body = event.body
    for name, key, convert in _plan(model):
        if key in body:
            values[name] = convert(body[key])
    if "user_id" in _names(model) and values.get("user_id") is None:  # a user's topic names them: its {id}
        values["user_id"] = topics.classify(event.topic)[1]
    return model(**values)


M = TypeVar("M", bound=DetailEvent)


def typed_handler(fn: Callable[[M, HandlerContext], None], *, model: type[M] | None = None) -> EventHandler:
    """Adapt `fn(typed_event, ctx)` to the router's `handler(GenesysEvent, ctx)`.

    `router.on(pattern)(typed_handler(fn))`; with `model=WrapupEvent`, events of other kinds are skipped
    (useful on broad patterns)."""

    def handler(event: GenesysEvent, context: HandlerContext) -> None:
        typed_event = typed(event)
        if model is not None and not isinstance(typed_event, model):
            return
        fn(cast(M, typed_event), context)

    handler.__name__ = getattr(fn, "__name__", "typed_handler")
    handler.__qualname__ = getattr(fn, "__qualname__", handler.__name__)
    handler.__doc__ = fn.__doc__
    return handler


def _plan(model: type[DetailEvent]) -> tuple[tuple[str, str, Callable[[Any], Any]], ...]:
    """(attribute, body key, converter) per body-backed field, derived once per class from its annotations."""
    plan = _plans.get(model)
    if plan is None:
        plan = tuple(
            (f.name, _camel(f.name), _converter(str(f.type))) for f in fields(model) if f.name not in _FROM_EVENT
        )
        _plans[model] = plan
    return plan


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _converter(annotation: str) -> Callable[[Any], Any]:
    if annotation.startswith("int"):
        return _as_int
    if annotation.startswith("Mapping"):
        return _as_mapping
    return _as_str


def _as_str(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)  # e.g. flowVersion sent as a number
    return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        # Not str.isdigit: "²" is a digit that int() rejects, and a bad field must give None, never raise.
        try:
            return int(value.strip()) if value.strip().lstrip("-").isdecimal() else None
        except ValueError:
            return None
    return None


def _as_mapping(value: Any) -> Mapping[str, Any]:
    return {str(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _names(model: type[DetailEvent]) -> frozenset[str]:
    return frozenset(name for name, _key, _convert in _plan(model))
