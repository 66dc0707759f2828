"""One in-memory queue with SQS standard-queue semantics, for the tests, the benchmarks and local runs.

It plays three parts of AWS over the same messages:
- the `EventSource` port (`receive` / `ack` / `change_visibility`) that a long-running worker polls;
- a Lambda event source mapping with ReportBatchItemFailures: `next_batch` hands out `{"Records": [...]}`
  events shaped as AWS sends them and `settle` applies the invocation's answer (`batchItemFailures`, or a
  raised error, which fails the whole batch);
- the boto3 SQS calls `SqsRequeuer` makes (`get_queue_url`, `change_message_visibility_batch`,
  `send_message_batch`): give the queue to a runtime as its "sqs" client and a Retry-After hint really delays
  redelivery, and a rate-limited record really comes back as a new message.

SQS semantics: a received message is hidden for the visibility timeout and counts a receive; every receive
mints a new receipt handle and only the latest one acts; once a message has been received `max_receive_count`
times, its next receive moves it to the dead-letter side (the redrive policy) instead of delivering it.
Messages come out oldest-visible first, in sending order among equals.

Time comes from a `Clock` (wall clock by default). With a virtual clock, pass its `advance` too: when every
message is hidden and no invocation is running, `next_batch` then jumps time ahead instead of sleeping.
Thread-safe: several pollers or simulated Lambda containers may share one queue."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gcevents.core.events import RawRecord
from gcevents.ports import Clock, DeadLetter, DeadLetterSink, SystemClock

REDRIVE_REASON = "max_receive_count"  # what SQS's redrive policy means, as a dead-letter reason


@dataclass(slots=True)
class _Message:
    message_id: str
    body: str
    seq: int  # sending order: the tie-break among messages visible at the same moment
    sent_at: float
    visible_at: float
    receive_count: int = 0
    receipt: str = ""
    first_received_at: float = 0.0
    in_flight: bool = False  # handed to an invocation that has not returned yet (event source mapping)


@dataclass(slots=True)
class QueueStats:
    deliveries: int = 0  # records handed out, redeliveries included
    redeliveries: int = 0
    invocations: int = 0  # settled event source mapping batches
    whole_batch_failures: int = 0  # invocations that raised
    visibility_changes: int = 0
    requeued: int = 0  # messages put back as new ones (rate limited): their receive count starts over


class SimulatedQueue:
    """An SQS standard queue (plus its redrive policy and a Lambda event source mapping) in memory.

    `redriven` maps the id of every message the redrive policy moved to the reason `max_receive_count`; with
    `redrive_to`, the same messages are also sent there as dead letters. `acked` holds the ids of deleted
    messages. `lambda_receipts=False` hands batches out with empty receipt handles, so the handler cannot
    change their visibility (the benchmark's setting: its runtime's SQS client does not know this queue)."""

    def __init__(
        self,
        *,
        name: str = "gcevents-simulated",
        visibility_timeout: float = 30.0,
        max_receive_count: int | None = 5,
        redrive_to: DeadLetterSink | None = None,
        batch_size: int = 10,
        clock: Clock | None = None,
        advance: Callable[[float], None] | None = None,
        lambda_receipts: bool = True,
        account: str = "123456789012",
        region: str = "us-east-1",
    ) -> None:
        self.name, self.region = name, region
        self.arn = f"arn:aws:sqs:{region}:{account}:{name}"
        self.url = f"https://sqs.{region}.amazonaws.com/{account}/{name}"
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self.redrive_to = redrive_to
        self.batch_size = batch_size
        self.clock = clock or SystemClock()
        self.advance = advance
        self.lambda_receipts = lambda_receipts
        self.stats = QueueStats()
        self.acked: set[str] = set()
        self.redriven: dict[str, str] = {}
        # A requeued message lives on as a new one: original id -> the id it was sent again under, so a test
        # can follow an event to its final fate (acknowledged, dead-lettered or redriven) across requeues.
        self.successors: dict[str, str] = {}
        self._messages: dict[str, _Message] = {}
        self._by_receipt: dict[str, str] = {}
        self._changed = threading.Condition()
        self._seq = 0
        self._receipts = 0

    # ------------------------------------------------------------------------------------------ sending
    def send(self, bodies: Sequence[str], delay: float = 0.0, *, message_ids: Sequence[str] | None = None) -> list[str]:
        """Enqueue `bodies` (visible after `delay` seconds) under `message_ids`, or minted ids. Returns the ids."""
        with self._changed:
            now = self.clock.now()
            ids = list(message_ids or [f"m-{self._seq + n:06d}" for n in range(1, len(bodies) + 1)])
            for message_id, body in zip(ids, bodies, strict=True):
                self._seq += 1
                self._messages[message_id] = _Message(message_id, body, self._seq, now, now + delay)
            self._changed.notify_all()
            return ids

    def depth(self) -> int:
        """Messages not yet deleted or redriven, hidden ones included."""
        with self._changed:
            return len(self._messages)

    def is_drained(self) -> bool:
        return self.depth() == 0

    # ------------------------------------------------------------------------------------------ EventSource
    def receive(self, max_messages: int, wait_seconds: float, visibility_timeout: float) -> list[RawRecord]:
        """Up to `max_messages` records hidden for `visibility_timeout` s; long-polls up to `wait_seconds`."""
        give_up = time.monotonic() + wait_seconds
        while True:
            with self._changed:
                picked, exhausted = self._take(max_messages, visibility_timeout, in_flight=False)
                records = [RawRecord(m.body, m.message_id, m.receipt, m.receive_count, self.arn) for m in picked]
                left = give_up - time.monotonic()
                if not records and not exhausted and left > 0:
                    self._changed.wait(min(left, 0.05))  # woken by a send or a visibility change
            self._redrive(exhausted)
            if records or left <= 0:
                return records

    def ack(self, receipts: Iterable[str]) -> None:
        """Delete messages by their latest receipt handle (an older handle deletes nothing)."""
        with self._changed:
            for receipt in receipts:
                message = self._current(receipt)
                if message is not None:
                    self._delete(message)

    def change_visibility(self, receipts: Mapping[str, float]) -> None:
        """receipt -> seconds from now until the message is visible again (0: at once)."""
        with self._changed:
            self._set_visibility(receipts)

    def receive_limit(self) -> int | None:
        return self.max_receive_count

    def requeue(self, records: Sequence[tuple[RawRecord, float]]) -> set[str]:
        """`EventSource.requeue`: a new message with each record's body after its delay; the received one is
        deleted. Returns the original message ids."""
        done: set[str] = set()
        for record, seconds in records:
            with self._changed:
                message = self._current(record.receipt_handle or "")
                if message is None:
                    continue
                self._delete(message)
                self.stats.requeued += 1
            (successor,) = self.send([message.body], delay=seconds)
            self.successors[message.message_id] = successor
            done.add(message.message_id)
        return done

    # ------------------------------------------------------------------------------ event source mapping
    def next_batch(self, max_records: int | None = None, *, give_up_at: float | None = None) -> dict[str, Any] | None:
        """The next event an event source mapping would invoke with, or None once the queue is empty.

        Waits while every message is hidden: virtually (`advance`) when no invocation is running, otherwise in
        real time for a running invocation to settle. `give_up_at` (time.monotonic()) bounds the wait."""
        limit = max_records or self.batch_size
        while True:
            if give_up_at is not None and time.monotonic() > give_up_at:
                raise TimeoutError(f"queue did not drain in time: {self.depth()} messages left")
            with self._changed:
                picked, exhausted = self._take(limit, self.visibility_timeout, in_flight=True)
                event = {"Records": [self._record(m) for m in picked]} if picked else None
                wait = self._idle_wait() if not picked else 0.0
            self._redrive(exhausted)
            if event is not None:
                return event
            if wait < 0:
                return None
            if wait > 0:
                time.sleep(min(wait, 0.5))

    def settle(
        self, event: Mapping[str, Any], response: Mapping[str, Any] | BaseException, *, retry_after: float | None = None
    ) -> set[str]:
        """Apply an invocation's answer: records not named in `batchItemFailures` are deleted; a raised error
        fails the batch. A failed record is visible again when its visibility timeout (counted from its receive)
        ends, or `retry_after` seconds from now when given. Returns the failed message ids."""
        ids = [record["messageId"] for record in event["Records"]]
        if isinstance(response, BaseException):
            failed = set(ids)
        else:
            failed = {item["itemIdentifier"] for item in response.get("batchItemFailures", [])}
            if not failed <= set(ids):
                raise ValueError(f"batchItemFailures names records not in the batch: {sorted(failed - set(ids))}")
        with self._changed:
            self.stats.invocations += 1
            self.stats.whole_batch_failures += isinstance(response, BaseException)
            for message_id in ids:
                message = self._messages.get(message_id)
                if message is None:  # already gone (deleted through a receipt from elsewhere)
                    continue
                message.in_flight = False
                if message_id not in failed:
                    self._delete(message)
                elif retry_after is not None:
                    message.visible_at = self.clock.now() + retry_after
            self._changed.notify_all()
        return failed

    # ------------------------------------------------------------------------------ boto3 SQS client calls
    def get_queue_url(self, QueueName: str, QueueOwnerAWSAccountId: str | None = None) -> dict[str, str]:
        if QueueName != self.name:
            raise LookupError(f"QueueDoesNotExist: {QueueName}")
        return {"QueueUrl": self.url}

    def get_queue_attributes(self, QueueUrl: str, AttributeNames: Sequence[str]) -> dict[str, Any]:
        """The redrive policy, for the requeuer's `receive_limit` (the DLQ's ARN is not simulated)."""
        if QueueUrl != self.url:
            raise LookupError(f"QueueDoesNotExist: {QueueUrl}")
        policy = {"maxReceiveCount": self.max_receive_count} if self.max_receive_count is not None else None
        return {"Attributes": {"RedrivePolicy": json.dumps(policy)} if policy else {}}

    def change_message_visibility_batch(self, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        if QueueUrl != self.url:
            raise LookupError(f"QueueDoesNotExist: {QueueUrl}")
        with self._changed:
            done = self._set_visibility({e["ReceiptHandle"]: float(e["VisibilityTimeout"]) for e in Entries})
        return {
            "Successful": [{"Id": e["Id"]} for e in Entries if e["ReceiptHandle"] in done],
            "Failed": [
                {"Id": e["Id"], "Code": "ReceiptHandleIsInvalid", "SenderFault": True}
                for e in Entries
                if e["ReceiptHandle"] not in done
            ],
        }

    def send_message_batch(self, QueueUrl: str, Entries: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """What the Lambda handler's requeuer sends for a rate-limited record (the mapping deletes the original
        once the handler leaves it out of batchItemFailures)."""
        if QueueUrl != self.url:
            raise LookupError(f"QueueDoesNotExist: {QueueUrl}")
        for entry in Entries:
            body = str(entry["MessageBody"])
            with self._changed:  # the original: an in-flight message with this body not requeued yet
                original = next(
                    (
                        m
                        for m in self._messages.values()
                        if m.in_flight and m.body == body and m.message_id not in self.successors
                    ),
                    None,
                )
            (successor,) = self.send([body], delay=float(entry.get("DelaySeconds", 0)))
            if original is not None:
                self.successors[original.message_id] = successor
        with self._changed:
            self.stats.requeued += len(Entries)
        return {"Successful": [{"Id": e["Id"], "MessageId": f"sent-{e['Id']}"} for e in Entries], "Failed": []}

    # ------------------------------------------------------------------------------------- under the lock
    def _take(self, limit: int, visibility: float, *, in_flight: bool) -> tuple[list[_Message], list[_Message]]:
        """Receive up to `limit` visible messages; those past max_receive_count are removed for redrive."""
        now = self.clock.now()
        visible = [m for m in self._messages.values() if not m.in_flight and m.visible_at <= now]
        visible.sort(key=lambda m: (m.visible_at, m.seq))
        picked: list[_Message] = []
        exhausted: list[_Message] = []
        for message in visible:
            if len(picked) == limit:
                break
            if self.max_receive_count is not None and message.receive_count >= self.max_receive_count:
                del self._messages[message.message_id]
                self._by_receipt.pop(message.receipt, None)
                self.redriven[message.message_id] = REDRIVE_REASON
                exhausted.append(message)
                continue
            self._receive(message, now, visibility, in_flight)
            picked.append(message)
        return picked, exhausted

    def _receive(self, message: _Message, now: float, visibility: float, in_flight: bool) -> None:
        self._receipts += 1
        self._by_receipt.pop(message.receipt, None)
        message.receipt = f"r-{self._receipts:08d}-{message.message_id}"
        self._by_receipt[message.receipt] = message.message_id
        self.stats.deliveries += 1
        self.stats.redeliveries += message.receive_count > 0
        message.receive_count += 1
        message.first_received_at = message.first_received_at or now
        message.visible_at = now + visibility
        message.in_flight = in_flight

    def _idle_wait(self) -> float:
        """-1: empty. 0: a message became visible (the virtual clock was advanced). Else seconds to sleep."""
        if not self._messages:
            return -1.0
        if any(m.in_flight for m in self._messages.values()):
            return 0.002  # an invocation is running: wait (really) for it to settle
        wait = min(m.visible_at for m in self._messages.values()) - self.clock.now()
        if self.advance is not None:
            self.advance(wait + 0.001)
            return 0.0
        return max(wait, 0.001)

    def _current(self, receipt: str) -> _Message | None:
        message = self._messages.get(self._by_receipt.get(receipt, ""))
        return message if message is not None and message.receipt == receipt else None

    def _delete(self, message: _Message) -> None:
        del self._messages[message.message_id]
        self._by_receipt.pop(message.receipt, None)
        self.acked.add(message.message_id)

    def _set_visibility(self, receipts: Mapping[str, float]) -> set[str]:
        now = self.clock.now()
        done: set[str] = set()
        for receipt, seconds in receipts.items():
            message = self._current(receipt)
            if message is not None:
                message.visible_at = now + max(0.0, seconds)
                self.stats.visibility_changes += 1
                done.add(receipt)
        self._changed.notify_all()
        return done

    def _record(self, message: _Message) -> dict[str, Any]:
        """One record of an SQS event source mapping event, fields as AWS sends them."""
        return {
            "messageId": message.message_id,
            "receiptHandle": message.receipt if self.lambda_receipts else "",
            "body": message.body,
            "attributes": {
                "ApproximateReceiveCount": str(message.receive_count),
                "SentTimestamp": str(int(message.sent_at * 1000)),
                "SenderId": "AIDAEVENTBRIDGE",
                "ApproximateFirstReceiveTimestamp": str(int(message.first_received_at * 1000)),
            },
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.arn,
            "awsRegion": self.region,
        }

    # ------------------------------------------------------------------------------------------- redrive
    def _redrive(self, exhausted: Sequence[_Message]) -> None:
        """Outside the lock: the sink may be slow (or be another simulated queue)."""
        if exhausted and self.redrive_to is not None:
            self.redrive_to.send(
                [
                    DeadLetter(
                        REDRIVE_REASON,
                        f"received {m.receive_count} times without success",
                        m.body,
                        message_id=m.message_id,
                        failed_at=self.clock.now(),
                    )
                    for m in exhausted
                ]
            )
