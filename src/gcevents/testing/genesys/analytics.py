"""The simulator's analytics index: conversations it was given (`GenesysSimulator.register_conversations`), the
conversation details query and the asynchronous jobs API over them, as `gcevents reconcile` uses them.

    POST /api/v2/analytics/conversations/details/query        interval, paging (pageSize <= 100), order,
                                                                conversationFilters on conversationEnd -> totalHits
    POST /api/v2/analytics/conversations/details/jobs         the same query (no paging) -> {"jobId"}
    GET  /api/v2/analytics/conversations/details/jobs/{jobId}  {"state": QUEUED|PENDING|FULFILLED, ...}
    GET  .../jobs/{jobId}/results?cursor=&pageSize=            {"conversations", "cursor"} (no cursor: last page)
    GET  .../jobs/availability                                 {"dataAvailabilityDate"}

"Activity in the interval" is what the jobs API documents (the synchronous query narrows that to conversations
that started on a day the interval touches; conversations here never span days that matter to a test). A job
answers from a snapshot taken when it was submitted, as the real data lake does."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

from gcevents.core.times import iso_z, parse_iso

QUERY_PATH = "/api/v2/analytics/conversations/details/query"
JOBS_PATH = "/api/v2/analytics/conversations/details/jobs"
MAX_QUERY_PAGE = 100
MAX_JOB_PAGE = 1000
_Answer = tuple[int, dict[str, Any]]


@dataclass(slots=True)
class _Job:
    conversations: list[dict[str, Any]]
    polls_left: int


def _bad(message: str) -> _Answer:
    return 400, {"message": message, "code": "bad.request", "status": 400}


class AnalyticsIndex:
    """Thread-safe. `clock` (wall seconds) dates the jobs' data availability; `pending_polls` status reads answer
    PENDING before a job is FULFILLED; `availability_lag` keeps the newest data out of jobs, as the data lake does."""

    def __init__(self, *, clock: Callable[[], float], pending_polls: int = 1, availability_lag: float = 0.0) -> None:
        self._clock = clock
        self.pending_polls = pending_polls
        self.availability_lag = availability_lag
        self._lock = threading.Lock()
        self._docs: dict[str, dict[str, Any]] = {}
        self._jobs: dict[str, _Job] = {}

    def register(self, documents: Iterable[Mapping[str, Any]]) -> None:
        with self._lock:
            for document in documents:
                self._docs[str(document["conversationId"])] = dict(document)

    def document(self, conversation_id: str) -> dict[str, Any] | None:
        with self._lock:
            return self._docs.get(conversation_id)

    # ------------------------------------------------------------------------------------------- query
    def query(self, body: bytes) -> _Answer:
        request = json_object(body)
        if request is None:
            return _bad("the body is not a JSON object")
        paging = request.get("paging") or {}
        size, number = paging.get("pageSize", 25), paging.get("pageNumber", 1)
        if not (isinstance(size, int) and 1 <= size <= MAX_QUERY_PAGE and isinstance(number, int) and number >= 1):
            return _bad(f"paging: pageSize 1..{MAX_QUERY_PAGE}, pageNumber >= 1")
        found = self._matching(request)
        if isinstance(found, str):
            return _bad(found)
        page = found[(number - 1) * size : number * size]
        return 200, ({"conversations": page, "totalHits": len(found)} if page else {"totalHits": len(found)})

    def _matching(self, request: Mapping[str, Any]) -> list[dict[str, Any]] | str:
        """The documents a query selects, in its order, or why the query is wrong."""
        interval = request.get("interval")
        start, _, end = interval.partition("/") if isinstance(interval, str) else ("", "", "")
        begin, until = parse_iso(start), parse_iso(end)
        if begin is None or until is None or begin >= until:
            return "interval: expected <ISO-8601>/<ISO-8601>"
        filters = request.get("conversationFilters") or []
        with self._lock:
            docs = list(self._docs.values())
        selected = [d for d in docs if _active(d, begin, until) and all(_passes(d, f) for f in filters)]
        key = request.get("orderBy", "conversationStart")
        if key != "conversationStart":
            return "orderBy: the simulator orders by conversationStart only"
        selected.sort(key=lambda d: (str(d.get("conversationStart", "")), d["conversationId"]))
        if request.get("order", "asc") == "desc":
            selected.reverse()
        return selected

    # ------------------------------------------------------------------------------------------- jobs
    def submit(self, body: bytes) -> _Answer:
        request = json_object(body)
        if request is None:
            return _bad("the body is not a JSON object")
        if "paging" in request:
            return _bad("paging is not part of an asynchronous query (results are read by cursor)")
        found = self._matching(request)
        if isinstance(found, str):
            return _bad(found)
        job_id = str(uuid.uuid4())
        with self._lock:
            self._jobs[job_id] = _Job(found, self.pending_polls)
        return 202, {"jobId": job_id}

    def job(self, path: str, query: str) -> _Answer:
        """GET .../jobs/availability, .../jobs/{id} and .../jobs/{id}/results."""
        rest = path.removeprefix(JOBS_PATH).strip("/")
        if rest == "availability":
            return 200, {"dataAvailabilityDate": self._available()}
        job_id, _, tail = rest.partition("/")
        with self._lock:
            job = self._jobs.get(job_id)
            if job is not None and not tail and job.polls_left > 0:
                job.polls_left -= 1
                return 200, {"state": "PENDING", "submissionDate": self._available()}
        if job is None or tail not in ("", "results"):
            return 404, {"message": "job not found", "code": "not.found", "status": 404}
        if not tail:
            return 200, {"state": "FULFILLED", "submissionDate": self._available(), "completionDate": self._available()}
        if job.polls_left > 0:
            return 400, {"message": "the job is not fulfilled yet", "code": "bad.request", "status": 400}
        return self._results(job, parse_qs(query))

    def _results(self, job: _Job, params: Mapping[str, list[str]]) -> _Answer:
        try:
            offset = int(params.get("cursor", ["0"])[0])
            size = int(params.get("pageSize", [str(MAX_JOB_PAGE)])[0])
        except ValueError:
            return _bad("cursor and pageSize must be what the previous page gave")
        if not 1 <= size <= MAX_JOB_PAGE or offset < 0:
            return _bad(f"pageSize 1..{MAX_JOB_PAGE}")
        page = job.conversations[offset : offset + size]
        answer: dict[str, Any] = {"conversations": page, "dataAvailabilityDate": self._available()}
        if offset + size < len(job.conversations):
            answer["cursor"] = str(offset + size)
        return 200, answer

    def _available(self) -> str:
        return iso_z(datetime.fromtimestamp(self._clock(), tz=UTC) - timedelta(seconds=self.availability_lag))


def json_object(body: bytes) -> dict[str, Any] | None:
    """A request body's JSON object (an empty body is `{}`), or None when it is not one."""
    try:
        parsed = json.loads(body or b"{}")
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _active(document: Mapping[str, Any], begin: datetime, until: datetime) -> bool:
    """Had activity in [begin, until): started before its end and not ended before its start."""
    started, ended = parse_iso(document.get("conversationStart")), parse_iso(document.get("conversationEnd"))
    return started is not None and started < until and (ended is None or ended >= begin)


def _passes(document: Mapping[str, Any], conversation_filter: Any) -> bool:
    """`{"type": "and"|"or", "predicates": [{"dimension": "conversationEnd", "operator": "exists"|"notExists"}]}`;
    predicates on other dimensions are not simulated (they pass)."""
    if not isinstance(conversation_filter, Mapping):
        return True
    results = [_predicate(document, p) for p in conversation_filter.get("predicates") or []]
    if not results:
        return True
    return any(results) if conversation_filter.get("type") == "or" else all(results)


def _predicate(document: Mapping[str, Any], predicate: Any) -> bool:
    if not isinstance(predicate, Mapping) or predicate.get("dimension") != "conversationEnd":
        return True
    present = document.get("conversationEnd") is not None
    return present if predicate.get("operator") == "exists" else not present
