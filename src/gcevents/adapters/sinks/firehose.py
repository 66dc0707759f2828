"""Firehose sink: PutRecordBatch of NDJSON lines (one record per line, so S3 objects are NDJSON).

At most 500 records and 4 MiB per call, 1,000 KiB per record; partial failures (`RequestResponses[i].ErrorCode`)
are retried in rounds. Firehose delivers to S3 at least once: readers dedupe on `id` (docs/outputs.md)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from gcevents.adapters.sinks.batching import Limits, deliver_in_rounds, transient
from gcevents.ports import OutboundRecord

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient
    from mypy_boto3_firehose.type_defs import RecordTypeDef

LIMITS = Limits(entries=500, request_bytes=4 * 1024 * 1024, entry_bytes=1000 * 1024)


class FirehoseSink:
    def __init__(
        self,
        client: FirehoseClient,
        stream: str,
        *,
        rounds: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.stream = stream
        self.rounds = rounds
        self._sleep = sleep
        self._clock = clock

    @property
    def name(self) -> str:
        return f"firehose:{self.stream}"

    def deliver(self, records: Sequence[OutboundRecord], deadline: float) -> Mapping[str, Exception]:
        return deliver_in_rounds(
            self.name,
            records,
            deadline,
            size=line_size,
            limits=LIMITS,
            put=self._put,
            rounds=self.rounds,
            sleep=self._sleep,
            clock=self._clock,
        )

    def _put(self, chunk: Sequence[OutboundRecord]) -> list[Exception | None]:
        from gcevents.adapters.aws import translate

        batch: list[RecordTypeDef] = [{"Data": r.body + b"\n"} for r in chunk]
        try:
            response = self.client.put_record_batch(DeliveryStreamName=self.stream, Records=batch)
        except Exception as exc:
            error = translate(exc, f"{self.name} PutRecordBatch")
            return [error] * len(chunk)
        answers = response.get("RequestResponses", [])
        out: list[Exception | None] = []
        for index in range(len(chunk)):
            answer = answers[index] if index < len(answers) else {"ErrorCode": "NoAnswer"}
            code = answer.get("ErrorCode")
            out.append(transient(self.name, code, answer.get("ErrorMessage", "")) if code else None)
        return out


def line_size(record: OutboundRecord) -> int:
    return len(record.body) + 1
