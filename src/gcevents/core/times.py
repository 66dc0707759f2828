"""ISO-8601 times as Genesys writes them ("2026-12-01T18:21:11.123Z"): read leniently, written in one form."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def parse_iso(value: Any) -> datetime | None:
    """An aware datetime (naive text is taken as UTC), or None for anything that is not ISO-8601 text."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def epoch_ms(moment: datetime) -> int:
    """Exact milliseconds since the epoch (float seconds can be a millisecond off)."""
    return (moment - EPOCH) // MILLISECOND


def iso_z(moment: datetime, timespec: str = "milliseconds") -> str:
    """UTC with a Z: the form Genesys' APIs write. `timespec` as `datetime.isoformat`'s: milliseconds (Genesys),
    seconds (EventBridge's envelope `time`), auto (microseconds when there are any)."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def iso_from_ms(value: int | float, timespec: str = "milliseconds") -> str:
    return iso_z(EPOCH + timedelta(milliseconds=value), timespec)
