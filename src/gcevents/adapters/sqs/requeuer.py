"""The Lambda handler's hand on the queue it was invoked from: push a retry's redelivery out (ChangeMessageVisibility,
for a Retry-After hint), or put a rate-limited record back as a new, delayed message (SendMessage), so 429s never
spend its receive count toward the DLQ."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gcevents.adapters.aws import translate
from gcevents.adapters.sqs.common import (
    change_visibility_batch,
    queue_url_from_arn,
    redrive_max_receive_count,
    send_batch,
)
from gcevents.ports import RawRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)


class SqsRequeuer:
    """Implements `gcevents.ports.Requeuer` for SQS event source mappings (each record's queue comes from its
    eventSourceARN) or one fixed queue."""

    def __init__(self, client: SQSClient, queue_url: str | None = None) -> None:
        self.client = client
        self.queue_url = queue_url
        self._urls: dict[str, str] = {}
        self._max_receives: dict[str, int | None] = {}  # queue URL -> its redrive policy's maxReceiveCount

    def delay(self, records: Sequence[tuple[RawRecord, float]]) -> None:
        """Implements `Requeuer`: each record's queue comes from its eventSourceARN (or the fixed queue URL);
        one batched call per queue. Records without a receipt handle cannot be delayed and are skipped."""
        by_queue: dict[str, list[tuple[str, float]]] = {}
        for record, seconds in records:
            url = self._queue_of(record)
            if url and record.receipt_handle:
                by_queue.setdefault(url, []).append((record.receipt_handle, seconds))
        for url, items in by_queue.items():
            try:
                failed = change_visibility_batch(self.client, url, items)
                if failed:
                    log.warning("some visibility changes failed", extra={"failed": failed})
            except Exception as exc:  # best effort: the record is retried at the normal timeout anyway
                log.warning("visibility extension failed", extra={"error": repr(translate(exc, "sqs"))})

    def requeue(self, records: Sequence[tuple[RawRecord, float]]) -> set[str]:
        """Implements `Requeuer`: the original text as a new message with DelaySeconds (at most 900), batched per
        queue. The mapping then deletes the originals when the handler leaves them out of batchItemFailures. A
        record whose copy SQS did not accept is not in the answer: it is retried as any other."""
        by_queue: dict[str, list[tuple[RawRecord, float]]] = {}
        for record, seconds in records:
            url = self._queue_of(record)
            if url and record.message_id:
                by_queue.setdefault(url, []).append((record, seconds))
        done: set[str] = set()
        for url, items in by_queue.items():
            accepted = send_batch(self.client, url, [(record.text(), seconds) for record, seconds in items])
            done.update(str(items[i][0].message_id) for i in accepted)
        return done

    def receive_limit(self, record: RawRecord) -> int | None:
        """Implements `Requeuer`: GetQueueAttributes once per queue and container (a policy changed later is seen by
        new containers)."""
        url = self._queue_of(record)
        if url is None:
            return None
        if url not in self._max_receives:
            self._max_receives[url] = redrive_max_receive_count(self.client, url)
        return self._max_receives[url]

    def _queue_of(self, record: RawRecord) -> str | None:
        if self.queue_url or not record.source_arn:
            return self.queue_url
        try:
            return queue_url_from_arn(self.client, record.source_arn, self._urls)
        except Exception as exc:
            log.warning("cannot resolve queue for delay", extra={"error": repr(translate(exc, "sqs"))})
            return None
