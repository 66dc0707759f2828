"""The fields every log line carries while they are bound: the invocation's and the current conversation's.

Stdlib only, so the core can bind a conversation's fields without importing the log formatter
(`gcevents.observability` reads them)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import Any

# The invocation's fields (request id, trace id, cold start). A context variable for the threads that copy their
# caller's context (the pipeline's handler threads), and the process-wide `_process_fields` behind it for those
# that do not (a client library's pool): Lambda runs one invocation at a time per process, so that is exact there.
_NONE: Mapping[str, Any] = MappingProxyType({})
_invocation: ContextVar[Mapping[str, Any] | None] = ContextVar("gcevents_invocation", default=None)
_process_fields: Mapping[str, Any] = _NONE
_log_fields: ContextVar[Mapping[str, Any]] = ContextVar("gcevents_log_fields", default=_NONE)


def bound_fields() -> dict[str, Any]:
    """What a log line written now carries: the invocation's fields, then the context's."""
    return {**(_invocation.get() or _process_fields), **_log_fields.get()}


@contextmanager
def invocation_context(fields: Mapping[str, Any]) -> Iterator[None]:
    """Every log line until the block ends carries `fields` (one Lambda invocation)."""
    global _process_fields
    token = _invocation.set(fields)
    _process_fields = fields
    try:
        yield
    finally:
        _invocation.reset(token)
        _process_fields = _NONE


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Every log line of this context until the block ends carries `fields` (e.g. `conversation_id`)."""
    token = _log_fields.set({**_log_fields.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _log_fields.reset(token)
