"""Conversation state: one order-independent item per conversation, kept by the `StateProjection` handler.

Stores are imported lazily so the Lambda cold start only pays for the one it uses (the DynamoDB store never
imports boto3 itself: the client is injected)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import Observation, join, merge, view
from .projection import StateProjection
from .store import ApplyResult, OptimisticStateStore, StateStore, StoredState

if TYPE_CHECKING:
    from .dynamodb import DynamoDbStateStore, create_state_table
    from .memory import MemoryStateStore
    from .sqlite import SqliteStateStore

__all__ = [
    "ApplyResult",
    "DynamoDbStateStore",
    "MemoryStateStore",
    "Observation",
    "OptimisticStateStore",
    "SqliteStateStore",
    "StateProjection",
    "StateStore",
    "StoredState",
    "create_state_table",
    "join",
    "merge",
    "view",
]

_LAZY = {
    "DynamoDbStateStore": "dynamodb",
    "create_state_table": "dynamodb",
    "MemoryStateStore": "memory",
    "SqliteStateStore": "sqlite",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{module}"), name)
