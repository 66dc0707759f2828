"""The conversations Genesys analytics says ended in a window, for `gcevents reconcile`.

Small windows page the synchronous details query (`POST /api/v2/analytics/conversations/details/query`, 100 per
page, ordered by conversationStart, only conversations with a `conversationEnd`). A window is *large* when the
first page says more than `large_hits` conversations (default 1,000: ten pages) had activity in it. Large windows
go through the asynchronous jobs API (submit, poll the status, read results by cursor, 1,000 per page), because:

- requests: above ~1,000 hits a job costs fewer calls (availability + submit + a few polls + one per 1,000) than
  ten or more query pages, and every call counts against the same per-token budget as enrichment;
- consistency: query pages are numbered offsets into an index that is still being written (a conversation that
  ends or is updated between two pages shifts the others: one is seen twice, another never), while a job reads a
  snapshot through a cursor; across many pages (seconds, minutes when paced) that matters.

Jobs read the analytics data lake, which lags: a window that ends after the lake's `dataAvailabilityDate` (one
more call) stays on the query, however large. All calls go through the one `GenesysClient` (same pacing, same
429 + Retry-After handling, counted in its stats under `analytics_query` / `analytics_jobs`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from gcevents.adapters.genesys.client import GenesysAuthError, GenesysClient, GenesysRequestError
from gcevents.core.times import iso_z, parse_iso
from gcevents.errors import TransientError
from gcevents.ports import AnalyticsWindow

QUERY_PATH = "/api/v2/analytics/conversations/details/query"
JOBS_PATH = "/api/v2/analytics/conversations/details/jobs"
QUERY_PAGE_SIZE = 100  # the query's maximum
JOB_PAGE_SIZE = 1000
LARGE_HITS = 1000
_ENDED = {"type": "and", "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "exists"}]}
_FAILED_STATES = frozenset({"FAILED", "CANCELLED", "EXPIRED"})


class ConversationDetails:
    """`ConversationHistory` over the Genesys API, through a `GenesysClient` (its limiter and retries)."""

    def __init__(
        self,
        client: GenesysClient,
        *,
        large_hits: int = LARGE_HITS,
        poll_interval: float = 2.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        progress: Callable[[int], object] | None = None,
    ) -> None:
        self.client = client
        self.progress = progress  # told how many conversations each page brought
        self.large_hits = large_hits
        self.poll_interval = poll_interval
        self._sleep = sleep
        self._clock = clock

    def ended_between(self, start: datetime, end: datetime, deadline: float) -> AnalyticsWindow:
        """Conversations whose `conversationEnd` is in [start, end), in conversationStart order."""
        read = AnalyticsWindow()
        first = self._query_page(start, end, 1, deadline)
        read.pages, read.total_hits = 1, _int(first.get("totalHits"))
        if read.total_hits > self.large_hits and end <= self._available(deadline):
            read.mode = "job"
            pages = self._job(start, end, deadline, read)
        else:
            pages = self._more_query_pages(start, end, first, deadline, read)
        seen: set[str] = set()
        for page in pages:
            if self.progress is not None:
                self.progress(len(_conversations(page)))
            for conversation in _conversations(page):
                cid = conversation.get("conversationId")
                ended = parse_iso(conversation.get("conversationEnd"))
                if isinstance(cid, str) and cid not in seen and ended is not None and start <= ended < end:
                    seen.add(cid)
                    read.conversations.append(conversation)
        return read

    # ------------------------------------------------------------------------------------------- query
    def _more_query_pages(
        self, start: datetime, end: datetime, first: dict[str, Any], deadline: float, read: AnalyticsWindow
    ) -> Iterator[dict[str, Any]]:
        yield first
        last = -(-read.total_hits // QUERY_PAGE_SIZE)  # ceil
        for number in range(2, last + 1):
            page = self._query_page(start, end, number, deadline)
            read.pages += 1
            yield page
            if len(_conversations(page)) < QUERY_PAGE_SIZE:
                return

    def _query_page(self, start: datetime, end: datetime, number: int, deadline: float) -> dict[str, Any]:
        body = {**query_body(start, end), "paging": {"pageSize": QUERY_PAGE_SIZE, "pageNumber": number}}
        return self._call("POST", QUERY_PATH, deadline, body)

    # ------------------------------------------------------------------------------------------- jobs
    def _available(self, deadline: float) -> datetime:
        answer = self._call("GET", f"{JOBS_PATH}/availability", deadline)
        return parse_iso(answer.get("dataAvailabilityDate")) or datetime.min.replace(tzinfo=UTC)

    def _job(self, start: datetime, end: datetime, deadline: float, read: AnalyticsWindow) -> Iterator[dict[str, Any]]:
        job_id = self._call("POST", JOBS_PATH, deadline, query_body(start, end)).get("jobId")
        if not isinstance(job_id, str) or not job_id:
            raise TransientError("Genesys analytics_jobs: no jobId in the answer")
        path = f"{JOBS_PATH}/{quote(job_id, safe='')}"
        while True:
            state = self._call("GET", path, deadline).get("state")
            read.polls += 1
            if state == "FULFILLED":
                break
            if state in _FAILED_STATES:
                raise TransientError(f"Genesys analytics job ended {state}")
            if self._clock() + self.poll_interval >= deadline:
                raise TransientError("Genesys analytics job not fulfilled before the deadline")
            self._sleep(self.poll_interval)
        cursor: str | None = None
        while True:
            query = f"?pageSize={JOB_PAGE_SIZE}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
            page = self._call("GET", f"{path}/results{query}", deadline)
            read.pages += 1
            yield page
            cursor = page.get("cursor") if isinstance(page.get("cursor"), str) else None
            if not cursor:
                return

    # ------------------------------------------------------------------------------------------- calls
    def _call(self, method: str, path: str, deadline: float, body: Any = None) -> dict[str, Any]:
        status, document = self.client.request_json(method, path, body, deadline=deadline)
        label = "analytics_query" if path.startswith(QUERY_PATH) else "analytics_jobs"
        if status in (401, 403):
            needs = "the OAuth client needs analytics:conversationDetail:view"
            raise GenesysAuthError(f"Genesys {label}: HTTP {status} ({needs})")
        if 400 <= status < 500:
            raise GenesysRequestError(f"Genesys {label}: HTTP {status} {_code(document)}".rstrip(), status_code=status)
        if status not in (200, 202) or not isinstance(document, dict):
            raise TransientError(f"Genesys {label}: HTTP {status}")
        return document


def query_body(start: datetime, end: datetime) -> dict[str, Any]:
    """Conversations with activity in the window that have ended, oldest start first (jobs take it as is)."""
    return {
        "interval": f"{iso_z(start)}/{iso_z(end)}",
        "order": "asc",
        "orderBy": "conversationStart",
        "conversationFilters": [_ENDED],
    }


def _conversations(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = page.get("conversations")
    return [c for c in found if isinstance(c, dict)] if isinstance(found, list) else []


def _code(document: Any) -> str:
    code = document.get("code") if isinstance(document, dict) else None
    return code if isinstance(code, str) and code.replace(".", "").replace("_", "").isalnum() else ""


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
