"""The simulator itself, spoken to with plain httpx (no gcevents client in between): in-process, and over a real
socket (slow) — the two transports must answer alike."""

from __future__ import annotations

import argparse
from collections.abc import Callable

import httpx
import pytest
from genesys_kit import BOTH_TRANSPORTS

from gcevents.entrypoints.cli.simulate import cmd_simulate_genesys, register
from gcevents.testing.genesys import AGENTS, QUEUES, GenesysSimulator, SimulatorOptions, analytics_conversation


def _token(simulator: GenesysSimulator, http: httpx.Client) -> str:
    options = simulator.options
    response = http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(options.client_id, options.client_secret)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == options.token_expires_in
    return str(body["access_token"])


def test_conversation_data_is_deterministic_and_shaped_like_analytics() -> None:
    first, again, other = analytics_conversation("abc"), analytics_conversation("abc"), analytics_conversation("xyz")
    assert first == again
    assert first != other
    purposes = [p["purpose"] for p in first["participants"]]
    assert purposes == ["customer", "acd", "agent"]
    agent = first["participants"][2]
    assert agent["userId"] in AGENTS
    segments = agent["sessions"][0]["segments"]
    assert {s["segmentType"] for s in segments} == {"alert", "interact", "wrapup"}
    assert segments[-1]["wrapUpCode"]
    assert segments[-1]["queueId"] in QUEUES
    assert agent["sessions"][0]["mediaType"] == first["participants"][0]["sessions"][0]["mediaType"]


@BOTH_TRANSPORTS
def test_oauth_checks_credentials_and_grant(
    simulator: GenesysSimulator, http_to: Callable[[GenesysSimulator], httpx.Client]
) -> None:
    with http_to(simulator) as http:
        wrong = http.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=("x", "y"))
        assert wrong.status_code == 401
        assert wrong.json()["error"] == "invalid_client"
        options = simulator.options
        grant = http.post(
            "/oauth/token", data={"grant_type": "password"}, auth=(options.client_id, options.client_secret)
        )
        assert grant.status_code == 400
        assert _token(simulator, http)
    assert simulator.stats()["tokens_issued"] == 1


@BOTH_TRANSPORTS
def test_api_requires_a_live_token(
    make_simulator: Callable[..., GenesysSimulator], http_to: Callable[[GenesysSimulator], httpx.Client]
) -> None:
    simulator = make_simulator(token_expires_in=0)
    with http_to(simulator) as http:
        assert http.get("/api/v2/conversations/c-1").status_code == 401
        token = _token(simulator, http)
        expired = http.get("/api/v2/conversations/c-1", headers={"Authorization": f"Bearer {token}"})
        assert expired.status_code == 401


@BOTH_TRANSPORTS
def test_bulk_limits_and_stats_endpoints(
    make_simulator: Callable[..., GenesysSimulator], http_to: Callable[[GenesysSimulator], httpx.Client]
) -> None:
    simulator = make_simulator(max_ids_per_request=3, rate_limit_per_minute=100)
    with http_to(simulator) as http:
        auth = {"Authorization": f"Bearer {_token(simulator, http)}"}
        ok = http.get("/api/v2/analytics/conversations/details?id=a,b,c", headers=auth)
        assert ok.status_code == 200
        assert [c["conversationId"] for c in ok.json()["conversations"]] == ["a", "b", "c"]
        assert not [name for name in ok.headers if name.lower().startswith("inin-ratelimit")]  # gone since 2021
        too_many = http.get("/api/v2/analytics/conversations/details", params={"id": "a,b,c,d"}, headers=auth)
        assert too_many.status_code == 400
        repeated = http.get("/api/v2/analytics/conversations/details?id=a&id=b", headers=auth)
        assert len(repeated.json()["conversations"]) == 2

        stats = http.get("/stats").json()
        assert stats["calls"] == {"POST /oauth/token": 1, "GET /api/v2/analytics/conversations/details": 3}
        assert stats["bad_requests"] == 1
        assert stats["tokens_issued"] == 1
        assert http.post("/stats/reset").status_code == 200
        assert http.get("/stats").json()["api_calls"] == 0


@BOTH_TRANSPORTS
def test_rate_limit_answers_429_as_genesys_does(
    make_simulator: Callable[..., GenesysSimulator], http_to: Callable[[GenesysSimulator], httpx.Client]
) -> None:
    """Since November 2021: Retry-After on every 429 and the normalised body code; no inin-ratelimit-* headers."""
    simulator = make_simulator(rate_limit_per_minute=1, rate_window_seconds=30)
    with http_to(simulator) as http:
        auth = {"Authorization": f"Bearer {_token(simulator, http)}"}
        assert http.get("/api/v2/conversations/a", headers=auth).status_code == 200
        limited = http.get("/api/v2/conversations/b", headers=auth)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 30
        assert limited.json()["code"] == "too.many.requests.retry.after"
        assert limited.json()["status"] == 429
        assert not [name for name in limited.headers if name.lower().startswith("inin-ratelimit")]
    assert simulator.stats()["rate_limited"] == 1


@BOTH_TRANSPORTS
@pytest.mark.parametrize(("scope", "second_token_status"), [("token", 200), ("client", 429)])
def test_rate_limit_per_token_or_per_client(
    make_simulator: Callable[..., GenesysSimulator],
    http_to: Callable[[GenesysSimulator], httpx.Client],
    scope: str,
    second_token_status: int,
) -> None:
    """Two tokens of the same client: each has its own window, or both draw on the client's one."""
    simulator = make_simulator(rate_limit_per_minute=1, rate_window_seconds=30, rate_limit_scope=scope)
    with http_to(simulator) as http:
        first, second = ({"Authorization": f"Bearer {_token(simulator, http)}"} for _ in range(2))
        assert http.get("/api/v2/conversations/a", headers=first).status_code == 200
        assert http.get("/api/v2/conversations/b", headers=second).status_code == second_token_status
        assert http.get("/api/v2/conversations/c", headers=first).status_code == 429


@BOTH_TRANSPORTS
def test_limits_api_publishes_the_enforced_limit(
    make_simulator: Callable[..., GenesysSimulator], http_to: Callable[[GenesysSimulator], httpx.Client]
) -> None:
    simulator = make_simulator(rate_limit_per_minute=20, rate_window_seconds=10)
    with http_to(simulator) as http:
        auth = {"Authorization": f"Bearer {_token(simulator, http)}"}
        names = http.get("/api/v2/organizations/limits/namespaces", headers=auth).json()["entities"]
        assert {"name": "platform.api"} in names
        platform = http.get("/api/v2/organizations/limits/namespaces/platform.api", headers=auth).json()
        assert platform["entities"] == [
            {"key": "client.credentials.token.rate.per.minute", "namespace": "platform.api", "value": 120}
        ]  # 20 per 10 s window, per minute
        assert http.get("/api/v2/organizations/limits/namespaces/nope", headers=auth).status_code == 404
        # A budget others share for a while: 429s come sooner, the published limit stays.
        simulator.update(published_limit_per_minute=300)
        platform = http.get("/api/v2/organizations/limits/namespaces/platform.api", headers=auth).json()
        assert [e["value"] for e in platform["entities"]] == [300]
    refused = make_simulator(limits_status=403)
    with http_to(refused) as http:
        auth = {"Authorization": f"Bearer {_token(refused, http)}"}
        assert http.get("/api/v2/organizations/limits/namespaces/platform.api", headers=auth).status_code == 403


@BOTH_TRANSPORTS
def test_faults_are_seeded(
    make_simulator: Callable[..., GenesysSimulator], http_to: Callable[[GenesysSimulator], httpx.Client]
) -> None:
    def statuses(seed: int) -> list[int]:
        simulator = make_simulator(error_rate=0.5, seed=seed, rate_limit_per_minute=None)
        with http_to(simulator) as http:
            auth = {"Authorization": f"Bearer {_token(simulator, http)}"}
            return [http.get(f"/api/v2/conversations/c{i}", headers=auth).status_code for i in range(20)]

    first = statuses(11)
    assert first == statuses(11)
    assert set(first) == {200, 503}


def test_cli_registers_the_subcommand() -> None:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    args = parser.parse_args(["simulate-genesys", "--port", "0", "--error-rate", "0.1", "--max-ids", "50"])
    assert args.func is cmd_simulate_genesys
    assert (args.port, args.error_rate, args.max_ids_per_request) == (0, 0.1, 50)  # as SimulatorOptions names it


def test_not_running_has_no_url() -> None:
    with pytest.raises(RuntimeError):
        _ = GenesysSimulator().base_url


def test_in_process_slow_answers_time_out_like_a_socket() -> None:
    slept: list[float] = []
    options = SimulatorOptions(slow_rate=1.0, slow_ms=1000, rate_limit_per_minute=None)
    simulator = GenesysSimulator(options, sleep=slept.append)
    with httpx.Client(transport=simulator.transport(), base_url=simulator.base_url) as http:
        auth = {"Authorization": f"Bearer {_token(simulator, http)}"}
        with pytest.raises(httpx.ReadTimeout):
            http.get("/api/v2/conversations/c-1", headers=auth, timeout=0.25)
        assert http.get("/api/v2/conversations/c-1", headers=auth, timeout=5).status_code == 200
    assert slept == [0.25, 1.0]  # cut at the read timeout, as a socket would; else the whole slow answer
    assert simulator.stats()["slow_responses"] == 2
