"""One exception family. Foreign errors (botocore, httpx, sqlite3) are translated into these at the adapter
boundary, so the core only ever reasons about *transient* (retry later) versus *permanent* (dead-letter now)."""

from __future__ import annotations


class GcEventsError(Exception):
    """Base of every error gcevents raises on purpose."""


class ConfigError(GcEventsError):
    """The configuration is invalid; raised at start-up, never per event."""


class TransientError(GcEventsError):
    """Worth retrying later: throttling, timeouts, 429/5xx, a lease held elsewhere.

    ``retry_after`` (seconds) is a hint from the downstream system, used to delay redelivery."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AckIncompleteError(TransientError):
    """A queue refused some acknowledgements for a reason of its own: ``pending`` holds those receipts only (the
    others were deleted), so a retry re-sends no more than it must."""

    def __init__(self, message: str, *, pending: list[str]) -> None:
        super().__init__(message)
        self.pending = pending


class RateLimitedError(TransientError):
    """A downstream API answered 429 (or our own limiter has no budget left)."""


class SinkFailedError(TransientError):
    """An output sink did not take a record: retried later, and labelled `sink_failed:<sink>` (not
    `handler_failed`) in retry reasons and dead letters, so an endpoint that is down is named as such."""

    def __init__(self, sink: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message, retry_after=retry_after)
        self.sink = sink

    @property
    def reason(self) -> str:
        return f"sink_failed:{self.sink}"  # e.g. sink_failed:webhook:crm.example.com


class StoreUnavailableError(TransientError):
    """A state or idempotency store could not be reached or throttled us."""


class PermanentError(GcEventsError):
    """Retrying cannot help; the record goes to the dead-letter sink with ``reason``."""

    def __init__(self, message: str, *, reason: str = "handler_rejected") -> None:
        super().__init__(message)
        self.reason = reason
