"""Batch enrichment: the conversations of a whole batch in a few bulk analytics calls.

1,000 events rarely mean 1,000 lookups: they collapse to their unique conversation ids, which go out in
chunks of `bulk_chunk_size` ids per `GET /api/v2/analytics/conversations/details?id=...`, a few chunks at a
time. The per-call id limit is undocumented, so a chunk the server rejects (400/413) is split in halves, and
the size that worked is remembered for the rest of the container's life."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from gcevents.adapters.genesys.client import ClientStats, GenesysClient, GenesysRequestError
from gcevents.errors import GcEventsError, TransientError
from gcevents.ports import EnrichmentResult

log = logging.getLogger(__name__)

_SPLIT_STATUS = frozenset({400, 413})


class GenesysEnricher:
    """Implements `gcevents.ports.Enricher` over a `GenesysClient` (shared: one token and rate budget per OAuth
    client). Bulk calls in flight: `GENESYS_MAX_CONCURRENCY` per OAuth client, so N clients' budgets can be spent
    when the answers, not the pacing, are what calls wait for."""

    def __init__(
        self, client: GenesysClient, *, chunk_size: int | None = None, max_concurrency: int | None = None
    ) -> None:
        self.client = client
        self.chunk_size = max(1, chunk_size or client.settings.bulk_chunk_size)
        per_client = client.settings.max_concurrency
        self.max_concurrency = max(1, max_concurrency or per_client * len(client.settings.client_ids))
        self._max_ids = self.chunk_size  # lowered when the server proves it accepts fewer
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def stats(self) -> ClientStats:
        return self.client.stats

    @property
    def max_ids_per_call(self) -> int:
        with self._lock:
            return self._max_ids

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def enrich(self, conversation_ids: Sequence[str], deadline: float) -> EnrichmentResult:
        started = time.monotonic()
        unique = list(dict.fromkeys(cid for cid in conversation_ids if cid))
        result = EnrichmentResult()
        if not unique:
            return result
        size = self.max_ids_per_call
        chunks = [unique[i : i + size] for i in range(0, len(unique), size)]
        if len(chunks) == 1:
            self._lookup(chunks[0], deadline, result)
        else:
            parts = list(self._executor().map(lambda chunk: self._lookup_part(chunk, deadline), chunks))
            for part in parts:
                result.details.update(part.details)
                result.missing.update(part.missing)
                result.failed.update(part.failed)
        log.info(
            "genesys enrichment",
            extra={
                "conversations": len(unique),
                "found": len(result.details),
                "missing": len(result.missing),
                "failed": len(result.failed),
                "chunks": len(chunks),  # splits and retries are logged where they happen
                "durationMs": round((time.monotonic() - started) * 1000, 1),
            },
        )
        return result

    # ---------------------------------------------------------------------------------------------- internals
    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="gcevents-genesys")
            return self._pool

    def _lookup_part(self, ids: list[str], deadline: float) -> EnrichmentResult:
        part = EnrichmentResult()
        self._lookup(ids, deadline, part)
        return part

    def _lookup(self, ids: list[str], deadline: float, into: EnrichmentResult) -> bool:
        """Look `ids` up into `into`. True when one call answered for all of them (the size is acceptable).

        Halves run one after the other in this worker: submitting them to the same pool could deadlock it."""
        limit = self.max_ids_per_call
        if len(ids) > limit:  # learned from another chunk after this one was cut
            for start in range(0, len(ids), limit):
                self._lookup(ids[start : start + limit], deadline, into)
            return False
        try:
            conversations = self.client.conversation_details_bulk(ids, deadline=deadline)
        except GenesysRequestError as exc:
            if exc.status_code in _SPLIT_STATUS and len(ids) > 1:
                middle = (len(ids) + 1) // 2
                log.info(
                    "genesys rejected a bulk lookup; splitting", extra={"ids": len(ids), "status": exc.status_code}
                )
                left_answered = self._lookup(ids[:middle], deadline, into)
                right_answered = self._lookup(ids[middle:], deadline, into)
                if left_answered and right_answered:  # both halves fit where the whole did not: a size limit
                    self._learn_limit(middle)
                return False
            _fail(into, ids, exc)
            return False
        except GcEventsError as exc:  # rate limited, unavailable, out of time, credentials rejected
            _fail(into, ids, exc)
            return False
        except Exception as exc:  # a bug must not lose the batch: the ids are retried later
            log.exception("genesys bulk lookup failed unexpectedly", extra={"ids": len(ids)})
            _fail(into, ids, TransientError(f"Genesys lookup failed: {type(exc).__name__}"))
            return False
        wanted = set(ids)
        for conversation in conversations:
            cid = conversation.get("conversationId")
            if isinstance(cid, str) and cid in wanted:
                into.details[cid] = conversation
        into.missing.update(cid for cid in ids if cid not in into.details)
        return True

    def _learn_limit(self, accepted: int) -> None:
        with self._lock:
            if accepted < self._max_ids:
                log.info("genesys bulk id limit learned", extra={"maxIds": accepted, "was": self._max_ids})
                self._max_ids = accepted


def _fail(into: EnrichmentResult, ids: Sequence[str], error: Exception) -> None:
    for cid in ids:
        into.failed[cid] = error
