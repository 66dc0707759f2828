"""The Genesys Cloud topic families gcevents knows, as one table: the parser (`core.events`), the typed models
(`core.models`), the state's merge rule (`core.state`, `core.projection`), the test kit's builders
(`gcevents.testing.events`), `gcevents connect` and `gcevents topics`, and the template's `TopicPatterns` default (a
test keeps them equal) all read it. Adding a family is one entry here and its model in `core.models`.

A topic *pattern* has a literal `{id}` where the concrete topic has the conversation or user id; the EventBridge
integration subscribes to patterns and puts the pattern in the event's `detail-type`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


@dataclass(frozen=True, slots=True)
class Kind:
    model: str  # the typed model's class name in core.models
    example: Mapping[str, Any]  # the fields Genesys sends for it besides the family's common ones (the test kit's)


@dataclass(frozen=True, slots=True)
class Family:
    """Topics `<prefix><id>.<suffix>`; their events' kind is `<name>.<suffix>`."""

    name: str
    prefix: str
    kinds: Mapping[str, Kind]  # suffix -> kind, in the order Genesys documents them
    id_is_conversation: bool  # the topic's id is the conversation id (used when the body names none)
    merged_into_state: bool  # the conversation state projection merges these events
    subscribed_by_default: bool  # in `gcevents connect`'s eventFilter and the template's TopicPatterns
    description: str
    # How a re-send is recognised (no Genesys event id exists): detail events by what they are about and when
    # (kind, subject, participant, session, eventTime); notification topics, which carry no eventTime, by their body.
    identified_by_body: bool = False

    def topic(self, suffix: str, entity_id: str = "{id}") -> str:
        return f"{self.prefix}{entity_id}.{suffix}"

    def kind(self, suffix: str) -> str:
        return f"{self.name}.{suffix}"


_USER, _QUEUE, _FLOW = "u-1", "q-1", "f-1"


def _kinds(**kinds: tuple[str, Mapping[str, Any]]) -> Mapping[str, Kind]:
    """`acd_start=("AcdStartEvent", {...})` -> {"acd.start": Kind(...)}: suffixes use dots, keywords cannot."""
    return MappingProxyType({name.replace("_", "."): Kind(model, example) for name, (model, example) in kinds.items()})


CONVERSATION = Family(
    name="conversation",
    prefix="v2.detail.events.conversation.",
    kinds=_kinds(
        acd_start=("AcdStartEvent", {"queueId": _QUEUE}),
        acd_end=("AcdEndEvent", {"queueId": _QUEUE, "acdOutcome": "ANSWERED", "connectedDurationMs": 12_000}),
        acw=("AcwEvent", {"userId": _USER, "queueId": _QUEUE, "wrapupCode": "Sale", "wrapupDurationMs": 25_000}),
        attributes=("AttributesEvent", {"attributes": {"customerTier": "gold"}}),
        contact=("ContactEvent", {"externalContactId": "ec-1", "externalOrganizationId": "eo-1"}),
        customer_start=("CustomerStartEvent", {"provider": "Edge", "ani": "tel:+15550100", "dnis": "tel:+15550199"}),
        customer_end=("CustomerEndEvent", {"disconnectType": "client", "interactingDurationMs": 180_000}),
        flow_start=(
            "FlowStartEvent",
            {"flowId": _FLOW, "flowName": "Main IVR", "flowType": "INBOUNDCALL", "flowVersion": "3.0"},
        ),
        flow_end=(
            "FlowEndEvent",
            {"flowId": _FLOW, "flowType": "INBOUNDCALL", "exitReason": "TRANSFER", "transferType": "ACD"},
        ),
        flow_outcome=(
            "FlowOutcomeEvent",
            {"flowId": _FLOW, "flowOutcome": "Known", "flowOutcomeId": "o-1", "flowOutcomeValue": "SUCCESS"},
        ),
        outbound=(
            "OutboundEvent",
            {"outboundCampaignId": "oc-1", "outboundContactListId": "ol-1", "outboundContactId": "ct-1"},
        ),
        user_start=("UserStartEvent", {"userId": _USER, "queueId": _QUEUE}),
        user_end=(
            "UserEndEvent",
            {"userId": _USER, "queueId": _QUEUE, "disconnectType": "client", "interactingDurationMs": 180_000},
        ),
        voicemail_start=("VoicemailStartEvent", {"userId": _USER, "queueId": _QUEUE}),
        voicemail_end=("VoicemailEndEvent", {"userId": _USER, "queueId": _QUEUE, "voicemailDurationMs": 30_000}),
        wrapup=("WrapupEvent", {"userId": _USER, "queueId": _QUEUE, "wrapupCode": "Sale", "wrapupDurationMs": 25_000}),
    ),
    id_is_conversation=True,
    merged_into_state=True,
    subscribed_by_default=True,
    description="conversation detail events: one per participant step of a conversation",
)
AGENT = Family(
    name="agent",
    prefix="v2.detail.events.agent.",
    kinds=_kinds(
        state=(
            "AgentStateEvent",
            {"routingStatus": "IDLE", "systemPresence": "AVAILABLE", "presenceDefinitionId": "pd-1"},
        )
    ),
    id_is_conversation=False,
    merged_into_state=False,
    subscribed_by_default=False,
    description="an agent's routing and presence state",
)
USER = Family(
    name="user",
    prefix="v2.users.",
    kinds=_kinds(
        presence=(
            "UserPresenceEvent",
            {"presenceDefinition": {"id": "pd-1", "systemPresence": "Available"}, "message": ""},
        )
    ),
    id_is_conversation=False,
    merged_into_state=False,
    subscribed_by_default=False,
    description="a user's presence (Available, Away, Busy, ...) as the notification topic sends it",
    identified_by_body=True,
)
FAMILIES: tuple[Family, ...] = (CONVERSATION, AGENT, USER)

# Kind -> (family, suffix), for every kind the parser types.
_KINDS: Mapping[str, tuple[Family, str]] = {f.kind(s): (f, s) for f in FAMILIES for s in f.kinds}


def family_of(kind: str) -> Family | None:
    entry = _KINDS.get(kind)
    return entry[0] if entry else None


def model_names() -> dict[str, str]:
    """Kind -> the class name of its typed model (core.models builds its map from this)."""
    return {kind: family.kinds[suffix].model for kind, (family, suffix) in _KINDS.items()}


def classify(topic: str) -> tuple[str, str | None]:
    """`v2.detail.events.conversation.<id>.customer.end` -> ("conversation.customer.end", "<id>");
    ("other", None) for a topic of no family."""
    for family in FAMILIES:
        if topic.startswith(family.prefix):
            entity, _, suffix = topic[len(family.prefix) :].partition(".")
            if entity and suffix in family.kinds:
                return family.kind(suffix), entity
    return "other", None


def kind_of_pattern(pattern: str) -> str:
    """`v2.detail.events.conversation.{id}.acw` -> `conversation.acw`; `other` for a pattern we do not parse."""
    kind, entity = classify(pattern)
    return kind if entity == "{id}" else "other"


def merged_into_state(kind: str) -> bool:
    """Whether the conversation state merges events of this kind: a field of the kind's family, not its name."""
    family = family_of(kind)
    return family is not None and family.merged_into_state


def topic_of(kind: str, entity_id: str = "{id}") -> str:
    """`conversation.acw` -> `v2.detail.events.conversation.<entity_id>.acw`."""
    family, suffix = _KINDS[kind]
    return family.topic(suffix, entity_id)


# Kept names: the conversation family's kinds and prefix, the agent family's.
CONVERSATION_PREFIX = CONVERSATION.prefix
AGENT_PREFIX = AGENT.prefix
CONVERSATION_KINDS: tuple[str, ...] = tuple(CONVERSATION.kinds)
AGENT_KINDS: tuple[str, ...] = tuple(AGENT.kinds)


def conversation_topic(kind: str) -> str:
    """`customer.end` -> `v2.detail.events.conversation.{id}.customer.end`."""
    return CONVERSATION.topic(kind)


def agent_topic(kind: str) -> str:
    return AGENT.topic(kind)


# What a deployment subscribes to unless told otherwise: every topic of the families subscribed by default.
DEFAULT_TOPICS: tuple[str, ...] = tuple(f.topic(s) for f in FAMILIES if f.subscribed_by_default for s in f.kinds)
# Every pattern the parser turns into a typed kind (anything else parses as kind "other").
KNOWN_TOPICS: tuple[str, ...] = tuple(f.topic(s) for f in FAMILIES for s in f.kinds)
