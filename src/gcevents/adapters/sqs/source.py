"""SQS as the worker's event source (`gcevents worker --queue-url`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from gcevents.adapters.aws import translate
from gcevents.adapters.sqs.common import (
    MAX_VISIBILITY_SECONDS,
    change_visibility_batch,
    delete_batch,
    redrive_max_receive_count,
    send_batch,
)
from gcevents.errors import AckIncompleteError
from gcevents.ports import RawRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)


class SqsEventSource:
    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url
        self._max_receives: list[int | None] = []  # read once, when first needed

    def receive(self, max_messages: int, wait_seconds: float, visibility_timeout: float) -> list[RawRecord]:
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(10, max_messages)),
                WaitTimeSeconds=int(max(0, min(20, wait_seconds))),
                VisibilityTimeout=int(min(MAX_VISIBILITY_SECONDS, visibility_timeout)),
                MessageSystemAttributeNames=["ApproximateReceiveCount"],
            )
        except Exception as exc:
            raise translate(exc, "sqs receive_message") from exc
        return [
            RawRecord(
                m.get("Body", ""),
                m["MessageId"],
                m["ReceiptHandle"],
                int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1)),
                None,
            )
            for m in response.get("Messages", [])
        ]

    def receive_limit(self) -> int | None:
        if not self._max_receives:
            self._max_receives.append(redrive_max_receive_count(self.client, self.queue_url))
        return self._max_receives[0]

    def check(self) -> None:
        """Start-up check: the queue exists and we may read it (ConfigError otherwise)."""
        try:
            self.client.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
        except Exception as exc:
            raise translate(exc, f"sqs get_queue_attributes {self.queue_url}") from exc

    def ack(self, receipts: Sequence[str]) -> None:
        """Delete handled messages. A receipt SQS refuses as the sender's fault (ReceiptHandleIsInvalid: the message
        was deleted, redriven, or received again with a newer receipt) is settled elsewhere: whoever holds it now
        settles it, as a duplicate if need be; re-sending it would fail the same way until it ages out. Raises
        `AckIncompleteError` naming only the receipts SQS refused on its side (worth one more try)."""
        refused = delete_batch(self.client, self.queue_url, receipts, "ack")
        stale = [r for r in refused if r.sender_fault]
        if stale:
            log.warning(
                "acknowledgement refused for a receipt no longer ours; settled by whoever received it since",
                extra={"messages": len(stale), "codes": sorted({r.code for r in stale})},
            )
        pending = [r for r in refused if not r.sender_fault]
        if pending:  # not deleted: the caller retries them, or the message comes back and is settled as a duplicate
            codes = ", ".join(sorted({r.code for r in pending}))
            raise AckIncompleteError(
                f"sqs delete_message_batch (ack): {len(pending)} of {len(receipts)} refused: {codes}",
                pending=[r.receipt for r in pending],
            )

    def change_visibility(self, receipts: Mapping[str, float]) -> None:
        try:
            change_visibility_batch(self.client, self.queue_url, list(receipts.items()))
        except Exception as exc:
            raise translate(exc, "sqs change_message_visibility_batch") from exc

    def requeue(self, records: Sequence[tuple[RawRecord, float]]) -> set[str]:
        """A new message with the original body and a delay (a fresh receive count), then the original deleted.
        Only what SQS accepted is deleted and reported; a crash in between leaves a duplicate, never a loss."""
        items = [(record, seconds) for record, seconds in records if record.receipt_handle and record.message_id]
        accepted = send_batch(self.client, self.queue_url, [(record.text(), seconds) for record, seconds in items])
        sent = [items[i][0] for i in accepted]
        self.ack([str(record.receipt_handle) for record in sent])
        return {str(record.message_id) for record in sent}
