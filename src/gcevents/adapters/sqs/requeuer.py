"""Pushes redelivery out (ChangeMessageVisibility) so a record retried after a 429 comes back when the API has
budget again, instead of burning receive counts toward the DLQ."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from gcevents.adapters.aws import translate
from gcevents.adapters.sqs.common import change_visibility_batch, queue_url_from_arn

log = logging.getLogger(__name__)


class SqsRequeuer:
    """Pushes redelivery out (ChangeMessageVisibility) so a record retried after a 429 comes back when the
    API has budget again, instead of burning receive counts toward the DLQ."""

    def __init__(self, client: Any, queue_url: str | None = None) -> None:
        self.client = client
        self.queue_url = queue_url
        self._urls: dict[str, str] = {}

    def delay_records(self, delays: Sequence[tuple[str | None, str, float]]) -> None:
        """(eventSourceARN or None, receipt handle, seconds) triples; grouped into batch calls per queue."""
        by_queue: dict[str, list[tuple[str, float]]] = {}
        for arn, receipt, seconds in delays:
            try:
                url = self.queue_url or (queue_url_from_arn(self.client, arn, self._urls) if arn else None)
            except Exception as exc:
                log.warning("cannot resolve queue for delay", extra={"error": repr(translate(exc, "sqs"))})
                continue
            if url:
                by_queue.setdefault(url, []).append((receipt, seconds))
        for url, items in by_queue.items():
            try:
                failed = change_visibility_batch(self.client, url, items)
                if failed:
                    log.warning("some visibility changes failed", extra={"failed": failed})
            except Exception as exc:  # best effort: the record is retried at the normal timeout anyway
                log.warning("visibility extension failed", extra={"error": repr(translate(exc, "sqs"))})

    def delay(self, receipts: Mapping[str, float]) -> None:
        self.delay_records([(None, r, s) for r, s in receipts.items()])
