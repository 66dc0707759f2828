"""Pushes redelivery out (ChangeMessageVisibility) so a record retried after a 429 comes back when the API has
budget again, instead of burning receive counts toward the DLQ."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gcevents.adapters.aws import translate
from gcevents.adapters.sqs.common import change_visibility_batch, queue_url_from_arn
from gcevents.ports import RawRecord

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

log = logging.getLogger(__name__)


class SqsRequeuer:
    """Pushes redelivery out (ChangeMessageVisibility) so a record retried after a 429 comes back when the
    API has budget again, instead of burning receive counts toward the DLQ."""

    def __init__(self, client: SQSClient, queue_url: str | None = None) -> None:
        self.client = client
        self.queue_url = queue_url
        self._urls: dict[str, str] = {}

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

    def _queue_of(self, record: RawRecord) -> str | None:
        if self.queue_url or not record.source_arn:
            return self.queue_url
        try:
            return queue_url_from_arn(self.client, record.source_arn, self._urls)
        except Exception as exc:
            log.warning("cannot resolve queue for delay", extra={"error": repr(translate(exc, "sqs"))})
            return None
