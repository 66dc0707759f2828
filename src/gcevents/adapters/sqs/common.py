"""Helpers every SQS adapter shares: queue URLs, batched visibility changes, queue creation."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gcevents.adapters.aws import translate

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        DeleteMessageBatchRequestEntryTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

log = logging.getLogger(__name__)

MAX_VISIBILITY_SECONDS = 12 * 3600
MAX_DELAY_SECONDS = 900  # SendMessage DelaySeconds
MAX_BATCH_BYTES = 256 * 1024  # SendMessageBatch: all bodies of one call together (the long-standing limit)


def redrive_max_receive_count(client: SQSClient, queue_url: str) -> int | None:
    """The queue's redrive policy maxReceiveCount; None without a policy, or when it cannot be read (logged: the
    caller then hands records back as it would without a policy)."""
    try:
        attributes = client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
        policy = attributes.get("Attributes", {}).get("RedrivePolicy")
        return int(json.loads(policy)["maxReceiveCount"]) if policy else None
    except Exception as exc:
        log.warning("cannot read the queue's redrive policy", extra={"error": repr(translate(exc, "sqs"))})
        return None


def queue_url_from_arn(client: SQSClient, arn: str, cache: dict[str, str]) -> str:
    """`arn:aws:sqs:region:account:name` -> queue URL (asked once per queue, then cached)."""
    url = cache.get(arn)
    if url is None:
        parts = arn.split(":")
        url = client.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
        cache[arn] = url
    return url


def change_visibility_batch(client: SQSClient, queue_url: str, items: Sequence[tuple[str, float]]) -> int:
    """(receipt handle, seconds) pairs, 10 per call, clamped to SQS's 0..12 h. Returns how many SQS refused."""
    failed = 0
    for start in range(0, len(items), 10):
        entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
            # Rounded up: SQS counts whole seconds, and a delay cut short could arrive before what it waits for.
            {"Id": str(i), "ReceiptHandle": r, "VisibilityTimeout": math.ceil(min(MAX_VISIBILITY_SECONDS, max(0, s)))}
            for i, (r, s) in enumerate(items[start : start + 10])
        ]
        response = client.change_message_visibility_batch(QueueUrl=queue_url, Entries=entries)
        failed += len(response.get("Failed", []))
    return failed


def send_batch(client: SQSClient, queue_url: str, items: Sequence[tuple[str, float]]) -> list[int]:
    """(body, delay seconds) pairs, at most 10 and 256 KB per call, delays rounded up and clamped to SQS's 0..900 s.
    Returns the indexes of `items` that SQS accepted (a refused entry, or a call that failed, leaves its items out)."""
    accepted: list[int] = []
    for chunk in _send_chunks(items):
        entries: list[SendMessageBatchRequestEntryTypeDef] = [
            {
                "Id": str(i),
                "MessageBody": items[i][0],
                "DelaySeconds": math.ceil(min(MAX_DELAY_SECONDS, max(0, items[i][1]))),
            }
            for i in chunk
        ]
        try:
            response = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:
            log.warning("send_message_batch failed", extra={"error": repr(translate(exc, "sqs send_message_batch"))})
            continue
        accepted += [int(entry["Id"]) for entry in response.get("Successful", [])]
    return accepted


def _send_chunks(items: Sequence[tuple[str, float]]) -> list[list[int]]:
    chunks: list[list[int]] = []
    size = 0
    for index, (body, _) in enumerate(items):
        length = len(body.encode())
        if not chunks or len(chunks[-1]) == 10 or size + length > MAX_BATCH_BYTES:
            chunks.append([])
            size = 0
        chunks[-1].append(index)
        size += length
    return chunks


@dataclass(frozen=True, slots=True)
class Refusal:
    """One entry of a batch call that SQS refused. `sender_fault`: the request itself is wrong for this entry (e.g.
    ReceiptHandleIsInvalid: the message was deleted, redriven or received again elsewhere), so no retry can help."""

    receipt: str
    code: str
    sender_fault: bool


def delete_batch(client: SQSClient, queue_url: str, receipts: Sequence[str], what: str) -> list[Refusal]:
    """DeleteMessageBatch, 10 receipts per call; errors are translated at this boundary. Returns the entries SQS
    refused: those messages were not deleted."""
    refused: list[Refusal] = []
    for start in range(0, len(receipts), 10):
        chunk = receipts[start : start + 10]
        entries: list[DeleteMessageBatchRequestEntryTypeDef] = [
            {"Id": str(i), "ReceiptHandle": r} for i, r in enumerate(chunk)
        ]
        try:
            response = client.delete_message_batch(QueueUrl=queue_url, Entries=entries)
        except Exception as exc:
            raise translate(exc, f"sqs delete_message_batch ({what})") from exc
        refused.extend(
            Refusal(chunk[int(f["Id"])], str(f.get("Code", "unknown")), bool(f.get("SenderFault", False)))
            for f in response.get("Failed", [])
        )
    return refused


def create_queues(
    client: SQSClient, name: str, *, visibility_timeout: int = 360, max_receive_count: int = 5
) -> dict[str, str]:
    """Main queue + DLQ with a redrive policy (idempotent: CreateQueue returns the existing queue)."""
    try:
        dlq_url = client.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})[
            "QueueUrl"
        ]
        dlq_arn = client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = client.create_queue(
            QueueName=name,
            Attributes={
                "VisibilityTimeout": str(visibility_timeout),
                "RedrivePolicy": json.dumps(
                    {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
                ),
            },
        )["QueueUrl"]
    except Exception as exc:
        raise translate(exc, f"sqs create_queue {name}") from exc
    return {"queue_url": queue_url, "dlq_url": dlq_url, "dlq_arn": dlq_arn}
