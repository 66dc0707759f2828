"""Deprecated: the conversation document is `gcevents.core.documents` ("record" now means an SQS delivery only).
The old names stay here, and every other name resolves there, so existing imports keep working."""

from gcevents.core import documents
from gcevents.core.documents import *  # noqa: F403
from gcevents.core.documents import ConversationDocument as ConversationRecord
from gcevents.core.documents import DocumentParticipant as RecordParticipant
from gcevents.core.documents import document_key as record_key

__all__ = [*documents.__all__, "ConversationRecord", "RecordParticipant", "record_key"]


def __getattr__(name: str) -> object:  # the module's other names (AGENT_PURPOSES, helpers), as before
    return getattr(documents, name)
