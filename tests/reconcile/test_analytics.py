"""The simulator's details query and jobs API (what `gcevents reconcile` reads), and the reader over the real
client: small windows page the query, large ones go through a job unless the data lake has not caught up."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from gcevents.adapters.genesys import GenesysClient
from gcevents.adapters.genesys.analytics import ConversationDetails, query_body
from gcevents.adapters.genesys.client import GenesysRequestError
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions, analytics_conversation
from gcevents.testing.workload import make_spike

SPIKE = make_spike(1495, duplicate_rate=0.0, malformed=0, untrusted=0, seed=9)
START = datetime.fromtimestamp(1_764_000_000, tz=UTC)
WINDOW = (START, START + timedelta(hours=2))
ENDED = {cid for cid, d in SPIKE.analytics.items() if d.get("conversationEnd")}


@pytest.fixture
def sim() -> Any:
    simulator = GenesysSimulator(SimulatorOptions(rate_limit_per_minute=None))
    simulator.register_conversations(SPIKE.analytics.values())
    transport = simulator.transport()
    client = GenesysClient(simulator.settings(rate_per_minute=60_000), transport=transport)
    yield simulator, client
    client.close()


def post(client: GenesysClient, path: str, body: Any) -> tuple[int, Any]:
    return client.request_json("POST", path, body)


def test_the_query_pages_by_100_with_total_hits_and_filters_on_the_end(sim: Any) -> None:
    _, client = sim
    body = {**query_body(*WINDOW), "paging": {"pageSize": 100, "pageNumber": 1}}
    status, first = post(client, "/api/v2/analytics/conversations/details/query", body)
    assert status == 200
    assert first["totalHits"] == len(ENDED)  # the ongoing one (cut short by the spike) is filtered out
    assert len(first["conversations"]) == 100
    starts = [c["conversationStart"] for c in first["conversations"]]
    assert starts == sorted(starts)
    last_page = -(-len(ENDED) // 100)
    status, last = post(
        client,
        "/api/v2/analytics/conversations/details/query",
        {**body, "paging": {"pageSize": 100, "pageNumber": last_page}},
    )
    assert len(last["conversations"]) == len(ENDED) - 100 * (last_page - 1)
    status, beyond = post(
        client,
        "/api/v2/analytics/conversations/details/query",
        {**body, "paging": {"pageSize": 100, "pageNumber": last_page + 1}},
    )
    assert (status, beyond) == (200, {"totalHits": len(ENDED)})
    ongoing = {
        **body,
        "conversationFilters": [
            {
                "type": "and",
                "predicates": [{"type": "dimension", "dimension": "conversationEnd", "operator": "notExists"}],
            }
        ],
    }
    ongoing_hits = post(client, "/api/v2/analytics/conversations/details/query", ongoing)[1]["totalHits"]
    assert ongoing_hits == len(SPIKE.analytics) - len(ENDED)
    assert (
        post(client, "/api/v2/analytics/conversations/details/query", {**body, "paging": {"pageSize": 101}})[0] == 400
    )


def test_jobs_answer_pending_then_fulfilled_and_page_by_cursor(sim: Any) -> None:
    _, client = sim
    status, job = post(client, "/api/v2/analytics/conversations/details/jobs", query_body(*WINDOW))
    assert status == 202
    path = f"/api/v2/analytics/conversations/details/jobs/{job['jobId']}"
    assert client.request_json("GET", path + "/results")[0] == 400  # not fulfilled yet
    assert client.request_json("GET", path)[1]["state"] == "PENDING"
    assert client.request_json("GET", path)[1]["state"] == "FULFILLED"
    seen: list[str] = []
    cursor = ""
    while True:
        page = client.request_json("GET", f"{path}/results?pageSize=500" + (f"&cursor={cursor}" if cursor else ""))[1]
        seen += [c["conversationId"] for c in page["conversations"]]
        cursor = page.get("cursor", "")
        if not cursor:
            break
    assert sorted(seen) == sorted(ENDED)
    assert client.request_json("GET", "/api/v2/analytics/conversations/details/jobs/nope")[0] == 404


def test_registered_conversations_answer_lookups_and_others_keep_their_derived_document(sim: Any) -> None:
    _, client = sim
    known = next(iter(ENDED))
    assert client.conversation_details(known) == SPIKE.analytics[known]
    assert client.conversation_details_bulk([known, "other"]) == [
        SPIKE.analytics[known],
        analytics_conversation("other"),
    ]


@pytest.mark.parametrize("large_hits", [10_000, 100])
def test_the_reader_finds_every_ended_conversation_by_query_or_by_job(sim: Any, large_hits: int) -> None:
    _, client = sim
    read = ConversationDetails(client, large_hits=large_hits, poll_interval=0.0).ended_between(*WINDOW, 1e12)
    assert sorted(c["conversationId"] for c in read.conversations) == sorted(ENDED)
    pages = -(-len(ENDED) // 100)
    if large_hits > len(ENDED):
        assert (read.mode, read.pages, read.polls) == ("query", pages, 0)
        assert client.stats.calls("analytics_query") == pages
    else:  # query page 1 (it says the window is large), availability, submit, two polls, one results page
        assert (read.mode, read.pages, read.polls) == ("job", 2, 2)
        assert (client.stats.calls("analytics_query"), client.stats.calls("analytics_jobs")) == (1, 5)


def test_a_window_the_data_lake_has_not_caught_up_with_stays_on_the_query() -> None:
    simulator = GenesysSimulator(SimulatorOptions(rate_limit_per_minute=None, jobs_availability_lag_seconds=10**9))
    simulator.register_conversations(SPIKE.analytics.values())
    transport = simulator.transport()
    client = GenesysClient(simulator.settings(rate_per_minute=60_000), transport=transport)
    read = ConversationDetails(client, large_hits=100).ended_between(*WINDOW, 1e12)
    assert read.mode == "query"
    assert len(read.conversations) == len(ENDED)


def test_only_conversations_that_ended_inside_the_window_are_returned(sim: Any) -> None:
    _, client = sim
    ends = sorted(SPIKE.analytics[c]["conversationEnd"] for c in ENDED)
    cut = datetime.fromisoformat(ends[len(ends) // 2].replace("Z", "+00:00"))
    read = ConversationDetails(client).ended_between(START, cut, 1e12)
    assert {c["conversationId"] for c in read.conversations} == {
        c for c in ENDED if datetime.fromisoformat(SPIKE.analytics[c]["conversationEnd"].replace("Z", "+00:00")) < cut
    }


def test_a_rejected_query_is_a_request_error_naming_the_code_and_never_retried() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/oauth/token"):
            return httpx.Response(200, json={"access_token": "t" * 20, "expires_in": 3600})
        return httpx.Response(400, json={"code": "bad.request", "message": json.dumps(dict(request.headers))})

    client = GenesysClient(_settings(), transport=httpx.MockTransport(answer))
    with pytest.raises(GenesysRequestError, match=r"bad\.request") as caught:
        ConversationDetails(client).ended_between(*WINDOW, 1e12)
    assert "Bearer" not in str(caught.value)
    assert client.stats.calls("analytics_query") == 1


def _settings() -> Any:
    from gcevents.adapters.genesys import GenesysSettings

    return GenesysSettings.for_base_url("http://genesys.invalid", client_id="c", client_secret="s" * 10)
