"""SQS adapters: the dead-letter sink (reason travels as message attributes, the body stays the original event
so a redrive re-sends it unchanged), visibility extension after 429s, and queue creation for `setup`.

A letter is always whole. One whose message would exceed SQS's 256 KiB (a record of up to 256 KiB, as SQS
delivers them, plus the reason and error attributes) has its body put in S3 (`GCEVENTS_DLQ_BUCKET`) and carries a
pointer instead, in the SQS extended client's format (`["software.amazon.payloadoffloading.PayloadS3Pointer",
{"s3BucketName": ..., "s3Key": ...}]` with an `ExtendedPayloadSize` attribute), which `scan` follows. Without a
bucket such a letter is refused (`send` raises): the record is retried, and the queue's own redrive moves the
original message, whole, to the DLQ after maxReceiveCount."""

from __future__ import annotations

import base64
import json
import logging
import math
import re
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gcevents.adapters.aws import translate
from gcevents.adapters.sqs.common import delete_batch
from gcevents.errors import StoreUnavailableError
from gcevents.ports import DeadLetter, StoredDeadLetter

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageAttributeValueTypeDef,
        SendMessageBatchRequestEntryTypeDef,
    )

log = logging.getLogger(__name__)

_SQS_MAX_BYTES = 256 * 1024
# Characters SQS accepts in a message body; anything else (e.g. most control characters) is rejected.
_SQS_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# The SQS extended client's pointer (Java, Python, JS libraries share it): whoever reads the DLQ with one of them
# finds our offloaded letters, and we read theirs. The legacy size attribute is read, never written.
POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
_SIZE_ATTRIBUTES = (SIZE_ATTRIBUTE, "SQSLargePayloadSize")


def _encode_body(text: str) -> tuple[str, str | None]:
    """SQS rejects some characters: those bodies travel as base64 of their bytes, so the original is recoverable."""
    if not text:
        return "<empty>", "empty"
    if _SQS_INVALID.search(text):
        return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii"), "base64"
    return text, None


class S3Payloads:
    """Letter bodies too large for an SQS message, one S3 object each under `prefix` (the bucket's lifecycle
    expires them after the DLQ's retention: a redrive leaves them, since an inspect or a dry run may read a letter
    again). `bucket` None: pointers are still followed (they name their bucket), nothing is offloaded. The client
    is made on first use: a container that never meets a large letter never builds it."""

    def __init__(self, client: Callable[[], Any], bucket: str | None, *, prefix: str = "dead-letters/") -> None:
        self._client = client
        self.bucket = bucket
        self.prefix = prefix

    def put(self, data: bytes) -> str:
        """Store `data`; returns the pointer that replaces it as the message body."""
        assert self.bucket is not None
        key = f"{self.prefix}{uuid.uuid4()}"
        try:
            self._client().put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as exc:
            raise translate(exc, "s3 put_object (dead letter body)") from exc
        return json.dumps([POINTER_CLASS, {"s3BucketName": self.bucket, "s3Key": key}], separators=(",", ":"))

    def get(self, pointer: str) -> bytes | None:
        """The bytes a pointer body names; None when `pointer` is not one."""
        try:
            kind, where = json.loads(pointer)
            bucket, key = where["s3BucketName"], where["s3Key"]
        except (ValueError, TypeError, KeyError, RecursionError):
            return None
        if kind != POINTER_CLASS or not isinstance(bucket, str) or not isinstance(key, str):
            return None
        try:
            data: bytes = self._client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as exc:
            raise translate(exc, f"s3 get_object s3://{bucket}/{key} (dead letter body)") from exc
        return data


def _entry_bytes(entry: SendMessageBatchRequestEntryTypeDef) -> int:
    attributes = entry["MessageAttributes"]
    return len(entry["MessageBody"].encode("utf-8")) + sum(
        len(name) + len(value["DataType"]) + len(value["StringValue"].encode("utf-8"))
        for name, value in attributes.items()
    )


def _batches(entries: Sequence[SendMessageBatchRequestEntryTypeDef]) -> list[list[SendMessageBatchRequestEntryTypeDef]]:
    """SendMessageBatch takes 10 entries AND at most 256 KiB in total: a batch of ten 100 KB dead letters
    must go out as several calls, or the whole call fails (BatchRequestTooLong) and nothing is dead-lettered."""
    batches: list[list[SendMessageBatchRequestEntryTypeDef]] = []
    size = 0
    for entry in entries:
        n = _entry_bytes(entry)
        if not batches or len(batches[-1]) == 10 or size + n > _SQS_MAX_BYTES:
            batches.append([])
            size = 0
        batches[-1].append(entry)
        size += n
    return batches


def _attr(value: str) -> MessageAttributeValueTypeDef:
    # Topic, conversation id and error text come from input data: a control character in one would make SQS
    # reject the whole SendMessageBatch (InvalidParameterValue), and the letters would be retried forever.
    return {"DataType": "String", "StringValue": _SQS_INVALID.sub("\ufffd", value[:1024]) or "-"}


class SqsDeadLetterSink:
    """Dead letters in an SQS queue; implements `DeadLetterStore`. Letters read by `scan` stay hidden for
    `read_visibility_timeout` seconds (so a redrive does not meet them twice) until `remove` or `release`."""

    def __init__(
        self,
        client: SQSClient,
        queue_url: str,
        *,
        read_visibility_timeout: int = 120,
        payloads: S3Payloads | None = None,
    ) -> None:
        self.client = client
        self.queue_url = queue_url
        self.read_visibility_timeout = read_visibility_timeout
        self.payloads = payloads
        self.offloaded = 0  # letters whose body went to S3, since start (the DeadLetters.offloaded metric)
        self._lock = threading.Lock()

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        """Receive in pages until `limit` letters were read or nothing is visible any more."""
        seen = 0
        while seen < limit:
            page = self.receive(min(10, limit - seen), self.read_visibility_timeout, 0)
            if not page:
                return
            seen += len(page)
            yield from page

    def release(self, handles: Sequence[str]) -> None:
        self.unhide(handles)

    def send(self, letters: Sequence[DeadLetter]) -> None:
        entries = [self._entry(str(i), letter) for i, letter in enumerate(letters)]
        too_large = [e for e in entries if _entry_bytes(e) > _SQS_MAX_BYTES]
        if too_large and (self.payloads is None or self.payloads.bucket is None):
            # Refused before anything is sent: cutting the body would lose the event's tail for good.
            log.error(
                "dead letters too large for SQS and no GCEVENTS_DLQ_BUCKET to put their bodies in; the records are"
                " retried and reach the DLQ whole through its redrive policy",
                extra={"letters": len(too_large), "bytes": max(map(_entry_bytes, too_large))},
            )
            raise StoreUnavailableError(
                f"sqs: {len(too_large)} dead letters exceed 256 KiB and GCEVENTS_DLQ_BUCKET is not set"
            )
        for entry in too_large:
            self._offload(entry, letters[int(entry["Id"])].body)
        for batch in _batches(entries):
            self._send_batch(batch)

    def _offload(self, entry: SendMessageBatchRequestEntryTypeDef, body: str) -> None:
        assert self.payloads is not None
        data = body.encode("utf-8", "surrogatepass")
        entry["MessageBody"] = self.payloads.put(data)
        attributes = dict(entry["MessageAttributes"])
        attributes.pop("encoding", None)  # the object holds the original bytes
        attributes[SIZE_ATTRIBUTE] = {"DataType": "Number", "StringValue": str(len(data))}
        entry["MessageAttributes"] = attributes
        with self._lock:
            self.offloaded += 1

    def _send_batch(self, entries: list[SendMessageBatchRequestEntryTypeDef]) -> None:
        for _attempt in range(3):
            try:
                response = self.client.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:
                raise translate(exc, "sqs send_message_batch (dead letters)") from exc
            failed = {f["Id"] for f in response.get("Failed", [])}
            entries = [e for e in entries if e["Id"] in failed]
            if not entries:
                return
        raise StoreUnavailableError(f"sqs: {len(entries)} dead letters not accepted")

    @staticmethod
    def _entry(entry_id: str, letter: DeadLetter) -> SendMessageBatchRequestEntryTypeDef:
        body, encoding = _encode_body(letter.body)
        attributes: dict[str, MessageAttributeValueTypeDef] = {
            "reason": _attr(letter.reason),
            "error": _attr(letter.message or letter.reason),
            "failedAt": {"DataType": "Number", "StringValue": f"{letter.failed_at:.3f}"},
        }
        if letter.topic:
            attributes["topic"] = _attr(letter.topic)
        if letter.conversation_id:
            attributes["conversationId"] = _attr(letter.conversation_id)
        if letter.message_id:
            attributes["originalMessageId"] = _attr(letter.message_id)
        if encoding:
            attributes["encoding"] = _attr(encoding)
        return {"Id": entry_id, "MessageBody": body, "MessageAttributes": attributes}

    def receive(self, max_messages: int = 10, visibility_timeout: int = 60, wait_s: int = 0) -> list[StoredDeadLetter]:
        """Read dead letters (they stay in the queue until `remove`), for inspect and redrive."""
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=max(1, min(10, max_messages)),
                VisibilityTimeout=visibility_timeout,
                WaitTimeSeconds=wait_s,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            )
        except Exception as exc:
            raise translate(exc, "sqs receive_message (dead letters)") from exc
        # Every received message is hidden until released: one that cannot be decoded must still come back
        # with its handle, or a crash here would hide the whole page from the next inspect or redrive.
        return [_decode_any(self._decode, m) for m in response.get("Messages", []) if m.get("ReceiptHandle")]

    def _decode(self, message: Mapping[str, Any]) -> StoredDeadLetter:
        attrs = {k: v.get("StringValue", "") for k, v in message.get("MessageAttributes", {}).items()}
        body = message.get("Body", "")
        encoding = attrs.get("encoding", "")
        offloaded = self.payloads.get(body) if self.payloads and any(a in attrs for a in _SIZE_ATTRIBUTES) else None
        if offloaded is not None:
            body = offloaded.decode("utf-8", "surrogatepass")
        elif encoding.startswith("base64"):  # "base64-truncated": letters written before offloading
            body = base64.b64decode(body).decode("utf-8", "surrogatepass" if encoding == "base64" else "ignore")
        elif encoding == "empty":
            body = ""
        sent_ms = message.get("Attributes", {}).get("SentTimestamp")
        failed_at = _finite(attrs.get("failedAt")) or (int(sent_ms) / 1000 if sent_ms else 0.0)
        reason, error = _cause(attrs)
        topic, conversation_id = _subject(body)
        letter = DeadLetter(
            reason=reason,
            message=error,
            body=body,
            topic=attrs.get("topic") or topic,
            conversation_id=attrs.get("conversationId") or conversation_id,
            message_id=attrs.get("originalMessageId") or message.get("MessageId"),
            failed_at=failed_at,
        )
        return StoredDeadLetter(letter, message["ReceiptHandle"])

    def remove(self, handles: Sequence[str]) -> None:
        delete_batch(self.client, self.queue_url, handles, "dead letters")

    def unhide(self, handles: Sequence[str]) -> None:
        """Make read-but-kept letters visible again at once (after an inspect or a dry run)."""
        for start in range(0, len(handles), 10):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                for i, h in enumerate(handles[start : start + 10])
            ]
            try:
                self.client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
            except Exception as exc:  # they reappear when the visibility timeout ends anyway
                log.warning("could not unhide dead letters", extra={"error": repr(translate(exc, "sqs"))})


def _decode_any(
    decode: Callable[[Mapping[str, Any]], StoredDeadLetter], message: Mapping[str, Any]
) -> StoredDeadLetter:
    """`decode`, or for a message it cannot read (a hostile body or attribute), a letter that says so and keeps
    the raw body: decoding a dead letter never fails the page it came in."""
    try:
        return decode(message)
    except Exception as exc:
        log.warning("undecodable dead letter", extra={"error": type(exc).__name__})
        attributes = message.get("MessageAttributes")
        reason = attributes.get("reason", {}).get("StringValue") if isinstance(attributes, Mapping) else None
        body, sent = message.get("Body"), message.get("Attributes", {}).get("SentTimestamp")
        letter = DeadLetter(
            reason=reason if isinstance(reason, str) and reason else "undecodable_letter",
            message=f"this dead letter could not be decoded ({type(exc).__name__}); the body is as SQS holds it",
            body=body if isinstance(body, str) else "",
            message_id=message.get("MessageId") if isinstance(message.get("MessageId"), str) else None,
            failed_at=(_finite(sent) or 0.0) / 1000,  # when SQS got it: not "now", which would read as new
        )
        return StoredDeadLetter(letter, str(message["ReceiptHandle"]))


def _finite(text: str | None) -> float | None:
    """A timestamp attribute, unless it is missing, not a number, or not finite (`1e999` parses as inf)."""
    try:
        value = float(text) if text else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


# Reasons for letters that another party put in the queue, recognised by their attributes.
EVENTBRIDGE_DELIVERY_FAILED = "eventbridge_delivery_failed"
MAX_RECEIVE_COUNT = "max_receive_count"
_EVENTBRIDGE_ATTRIBUTES = ("ERROR_CODE", "ERROR_MESSAGE", "RULE_ARN", "TARGET_ARN")


def _cause(attrs: Mapping[str, str]) -> tuple[str, str]:
    """Our own letters carry `reason`/`error`. EventBridge's rule-target DLQ letters carry ERROR_CODE,
    ERROR_MESSAGE, RULE_ARN and TARGET_ARN (the event never reached the queue). SQS redrive adds nothing."""
    if "reason" in attrs:
        return attrs["reason"], attrs.get("error") or attrs["reason"]
    if any(name in attrs for name in _EVENTBRIDGE_ATTRIBUTES):
        code = attrs.get("ERROR_CODE") or "unknown error"
        text = f"EventBridge could not deliver to the rule target: {code}"
        if attrs.get("ERROR_MESSAGE"):
            text += f": {attrs['ERROR_MESSAGE']}"
        where = [
            f"{label} {attrs[name]}"
            for label, name in (("rule", "RULE_ARN"), ("target", "TARGET_ARN"))
            if attrs.get(name)
        ]
        return EVENTBRIDGE_DELIVERY_FAILED, text + (f" ({', '.join(where)})" if where else "")
    return MAX_RECEIVE_COUNT, "redriven by SQS after maxReceiveCount"


def _subject(body: str) -> tuple[str | None, str | None]:
    """Topic and conversation id of an original event body (letters without our attributes name neither)."""
    try:
        detail = json.loads(body).get("detail")
    except (ValueError, AttributeError, RecursionError):
        return None, None
    if not isinstance(detail, dict):
        return None, None
    topic = detail.get("topicName") if isinstance(detail.get("topicName"), str) else None
    event_body = detail.get("eventBody")
    conversation_id = event_body.get("conversationId") if isinstance(event_body, dict) else None
    if not isinstance(conversation_id, str) or not conversation_id:
        conversation_id = None
        prefix = "v2.detail.events.conversation."
        if topic and topic.startswith(prefix):
            conversation_id = topic[len(prefix) :].partition(".")[0] or None
    return topic, conversation_id
