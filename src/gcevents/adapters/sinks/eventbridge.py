"""EventBridge sink: PutEvents to a custom bus, `source` "gcevents", detail-type the record type
(`conversation.completed`, `conversation.updated`) or, for raw events, the Genesys topic.

At most 10 entries and 256 KB per request; per-entry failures (`Entries[i].ErrorCode`) are retried in rounds.
EventBridge does not deduplicate: consumers are at-least-once and dedupe on `detail.id` (docs/outputs.md)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from gcevents.adapters.sinks.batching import REJECTED, Limits, deliver_in_rounds, transient
from gcevents.errors import PermanentError
from gcevents.ports import OutboundRecord

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

SOURCE = "gcevents"
LIMITS = Limits(entries=10, request_bytes=256 * 1024, entry_bytes=256 * 1024)
# Entry codes that retrying cannot fix: the entry itself is wrong.
_PERMANENT = frozenset({"MalformedDetail", "InvalidArgument", "ValidationException"})


class EventBridgeSink:
    def __init__(
        self,
        client: EventBridgeClient,
        bus: str,
        *,
        rounds: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.bus = bus
        self.rounds = rounds
        self._sleep = sleep
        self._clock = clock

    @property
    def name(self) -> str:
        return f"eventbridge:{self.bus}"

    def deliver(self, records: Sequence[OutboundRecord], deadline: float) -> Mapping[str, Exception]:
        return deliver_in_rounds(
            self.name,
            records,
            deadline,
            size=entry_size,
            limits=LIMITS,
            put=self._put,
            rounds=self.rounds,
            sleep=self._sleep,
            clock=self._clock,
        )

    def _put(self, chunk: Sequence[OutboundRecord]) -> list[Exception | None]:
        from gcevents.adapters.aws import translate

        entries: list[PutEventsRequestEntryTypeDef] = [
            {"Source": SOURCE, "DetailType": detail_type(r), "Detail": r.body.decode("utf-8"), "EventBusName": self.bus}
            for r in chunk
        ]
        try:
            response = self.client.put_events(Entries=entries)
        except Exception as exc:
            error = translate(exc, f"{self.name} PutEvents")
            return [error] * len(chunk)
        answers = response.get("Entries", [])
        out: list[Exception | None] = []
        for index in range(len(chunk)):
            answer = answers[index] if index < len(answers) else {"ErrorCode": "NoAnswer"}
            code = answer.get("ErrorCode")
            if not code:
                out.append(None)
            elif code in _PERMANENT:
                out.append(
                    PermanentError(f"{self.name}: {code}: {answer.get('ErrorMessage', '')[:200]}", reason=REJECTED)
                )
            else:
                out.append(transient(self.name, code, answer.get("ErrorMessage", "")))
        return out


def detail_type(record: OutboundRecord) -> str:
    return record.topic or record.type


def entry_size(record: OutboundRecord) -> int:
    """PutEvents entry size as AWS counts it: Source + DetailType + Detail (UTF-8 bytes)."""
    return len(SOURCE) + len(detail_type(record).encode()) + len(record.body)
