"""gcevents: batched, exactly-once-in-effect processing of Genesys Cloud events on AWS.

The public API is what `__all__` lists (plus the test kit, `gcevents.testing`); every other module is
internal and may move. `gcevents.handler` is the Lambda entry point. Names resolve lazily, so
`import gcevents` stays cheap for the CLI and for users who only want the router or the event models."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from gcevents._version import __version__

if TYPE_CHECKING:
    from gcevents.core.documents import ConversationDocument, DocumentParticipant
    from gcevents.core.events import GenesysEvent, RawRecord
    from gcevents.core.models import (
        AcdEndEvent,
        AcdStartEvent,
        AcwEvent,
        AgentStateEvent,
        AttributesEvent,
        ContactEvent,
        ConversationEvent,
        CustomerEndEvent,
        CustomerStartEvent,
        DetailEvent,
        FlowEndEvent,
        FlowOutcomeEvent,
        FlowStartEvent,
        OtherEvent,
        OutboundEvent,
        UserEndEvent,
        UserPresenceEvent,
        UserStartEvent,
        VoicemailEndEvent,
        VoicemailStartEvent,
        WrapupEvent,
        typed,
        typed_handler,
    )
    from gcevents.core.records import ConversationRecord, RecordParticipant  # deprecated aliases
    from gcevents.core.router import BatchHandler, HandlerContext, Router, WorkItem
    from gcevents.errors import (
        ConfigError,
        GcEventsError,
        PermanentError,
        RateLimitedError,
        StoreUnavailableError,
        TransientError,
    )

_MODELS = (
    "AcdEndEvent",
    "AcdStartEvent",
    "AcwEvent",
    "AgentStateEvent",
    "AttributesEvent",
    "ContactEvent",
    "ConversationEvent",
    "CustomerEndEvent",
    "CustomerStartEvent",
    "DetailEvent",
    "FlowEndEvent",
    "FlowOutcomeEvent",
    "FlowStartEvent",
    "OtherEvent",
    "OutboundEvent",
    "UserEndEvent",
    "UserPresenceEvent",
    "UserStartEvent",
    "VoicemailEndEvent",
    "VoicemailStartEvent",
    "WrapupEvent",
    "typed",
    "typed_handler",
)
_ERRORS = (
    "ConfigError",
    "GcEventsError",
    "PermanentError",
    "RateLimitedError",
    "StoreUnavailableError",
    "TransientError",
)
# Public name -> the module that defines it.
_HOMES: dict[str, str] = {
    **dict.fromkeys(("BatchHandler", "BatchOutcome", "HandlerContext", "Router", "WorkItem"), "gcevents.core.router"),
    **dict.fromkeys(("GenesysEvent", "RawRecord"), "gcevents.core.events"),
    **dict.fromkeys(("ConversationDocument", "DocumentParticipant"), "gcevents.core.documents"),
    **dict.fromkeys(("ConversationRecord", "RecordParticipant"), "gcevents.core.records"),  # deprecated aliases
    **dict.fromkeys(_MODELS, "gcevents.core.models"),
    **dict.fromkeys(_ERRORS, "gcevents.errors"),
}

__all__ = [
    "AcdEndEvent",
    "AcdStartEvent",
    "AcwEvent",
    "AgentStateEvent",
    "AttributesEvent",
    "BatchHandler",
    "BatchOutcome",
    "ConfigError",
    "ContactEvent",
    "ConversationDocument",
    "ConversationEvent",
    "ConversationRecord",  # deprecated: ConversationDocument
    "CustomerEndEvent",
    "CustomerStartEvent",
    "DetailEvent",
    "DocumentParticipant",
    "FlowEndEvent",
    "FlowOutcomeEvent",
    "FlowStartEvent",
    "GcEventsError",
    "GenesysEvent",
    "HandlerContext",
    "OtherEvent",
    "OutboundEvent",
    "PermanentError",
    "RateLimitedError",
    "RawRecord",
    "RecordParticipant",  # deprecated: DocumentParticipant
    "Router",
    "StoreUnavailableError",
    "TransientError",
    "UserEndEvent",
    "UserPresenceEvent",
    "UserStartEvent",
    "VoicemailEndEvent",
    "VoicemailStartEvent",
    "WorkItem",
    "WrapupEvent",
    "__version__",
    "handler",
    "typed",
    "typed_handler",
]


def handler(event: Any, context: Any) -> Any:
    """The AWS Lambda entry point (`Handler: gcevents.handler`)."""
    from gcevents.entrypoints.lambda_handler import handler as _handler

    return _handler(event, context)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
