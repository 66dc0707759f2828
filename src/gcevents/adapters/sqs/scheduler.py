"""Completion timers on SQS: SendMessageBatch with a per-message DelaySeconds (<= 900, SQS's maximum)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gcevents.adapters.aws import translate
from gcevents.errors import TransientError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import SendMessageBatchRequestEntryTypeDef


class SqsTimerScheduler:
    """`CompletionTimerScheduler` on the queue the events come from (the Lambda needs sqs:SendMessage on it)."""

    def __init__(self, client: SQSClient, queue_url: str) -> None:
        self.client = client
        self.queue_url = queue_url

    def schedule(self, messages: Sequence[tuple[str, float]]) -> None:
        for start in range(0, len(messages), 10):
            entries: list[SendMessageBatchRequestEntryTypeDef] = [
                {"Id": str(i), "MessageBody": body, "DelaySeconds": int(min(900, max(0, round(delay))))}
                for i, (body, delay) in enumerate(messages[start : start + 10])
            ]
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:
                raise translate(exc, "sqs send_message_batch (completion timers)") from exc
            failed = response.get("Failed", [])
            if failed:
                raise TransientError(f"sqs refused {len(failed)} completion timers: {failed[0].get('Code')}")
