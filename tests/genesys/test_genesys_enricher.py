"""Batch enrichment against the simulator: chunking, splitting, lag, faults, deadlines. In-process on a fake
clock; timeouts over real HTTP too (slow)."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import pytest
from genesys_kit import BOTH_TRANSPORTS, FakeTime
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcevents.adapters.genesys import GenesysClient, GenesysEnricher, GenesysRequestError
from gcevents.errors import TransientError
from gcevents.ports import Enricher
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions, analytics_conversation

BULK = "GET /api/v2/analytics/conversations/details"


def _ids(count: int, prefix: str = "conv") -> list[str]:
    return [f"{prefix}-{i:04d}" for i in range(count)]


@pytest.fixture
def soon(now: Callable[[], float]) -> Callable[..., float]:
    """A deadline `seconds` from now, on the test's clock."""

    def deadline(seconds: float = 10.0) -> float:
        return now() + seconds

    return deadline


def test_is_an_enricher(
    simulator: GenesysSimulator, make_client: Callable[..., GenesysClient], soon: Callable[..., float]
) -> None:
    enricher: Enricher = GenesysEnricher(make_client(simulator))
    assert enricher.enrich([], soon()).details == {}


def test_250_ids_in_chunks_of_100_take_three_calls(
    simulator: GenesysSimulator, make_client: Callable[..., GenesysClient], soon: Callable[..., float]
) -> None:
    client = make_client(simulator)
    ids = _ids(250)
    result = GenesysEnricher(client, chunk_size=100).enrich(ids, soon())
    assert set(result.details) == set(ids)
    assert not result.missing
    assert not result.failed
    assert result.details["conv-0007"] == analytics_conversation("conv-0007")
    assert simulator.stats()["calls"][BULK] == 3
    assert client.stats.calls("analytics_details_bulk") == 3
    assert client.stats.tokens_fetched == 1


def test_duplicate_ids_are_looked_up_once(
    simulator: GenesysSimulator, make_client: Callable[..., GenesysClient], soon: Callable[..., float]
) -> None:
    client = make_client(simulator)
    ids = _ids(30) * 4
    result = GenesysEnricher(client).enrich(ids, soon())
    assert len(result.details) == 30
    assert simulator.stats()["ids_requested"] == 30
    assert simulator.stats()["calls"][BULK] == 1


def test_chunks_are_split_when_the_server_takes_fewer_ids(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    soon: Callable[..., float],
) -> None:
    simulator = make_simulator(max_ids_per_request=30)
    client = make_client(simulator)
    enricher = GenesysEnricher(client, chunk_size=100)
    ids = _ids(250)
    result = enricher.enrich(ids, soon())
    assert set(result.details) == set(ids)
    assert not result.failed
    assert not result.missing
    assert simulator.stats()["bad_requests"] > 0
    assert enricher.max_ids_per_call <= 30  # learned for the rest of the container's life

    simulator.reset_stats()
    again = enricher.enrich(_ids(250, "next"), soon())
    assert len(again.details) == 250
    assert simulator.stats()["bad_requests"] == 0
    assert simulator.stats()["calls"][BULK] == -(-250 // enricher.max_ids_per_call)


def test_a_single_rejected_id_fails_alone(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    soon: Callable[..., float],
) -> None:
    simulator = make_simulator(max_ids_per_request=0)  # every bulk call is refused
    enricher = GenesysEnricher(make_client(simulator), chunk_size=4)
    result = enricher.enrich(_ids(4), soon())
    assert set(result.failed) == set(_ids(4))
    assert all(isinstance(e, GenesysRequestError) and e.status_code == 400 for e in result.failed.values())
    assert enricher.max_ids_per_call == 4  # nothing succeeded, so nothing was learned


@pytest.fixture(scope="module")
def shared_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(scope="module")
def shared_simulator(shared_time: FakeTime) -> GenesysSimulator:
    options = SimulatorOptions(rate_limit_per_minute=None)
    return GenesysSimulator(options, clock=shared_time.monotonic, sleep=shared_time.sleep)


@pytest.fixture(scope="module")
def shared_client(shared_simulator: GenesysSimulator, shared_time: FakeTime) -> Iterator[GenesysClient]:
    transport = shared_simulator.transport()
    with GenesysClient(
        shared_simulator.settings(backoff_base=0.005, rate_per_minute=60_000),
        transport=transport,
        clock=shared_time.time,
        monotonic=shared_time.monotonic,
        sleep=shared_time.sleep,
        rng=random.Random(0),
    ) as client:
        yield client


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture],
)
@given(
    ids=st.lists(st.text(alphabet="abcdef0123456789-", min_size=1, max_size=12), max_size=60),
    chunk_size=st.integers(min_value=1, max_value=25),
    server_max=st.integers(min_value=1, max_value=25),
    concurrency=st.integers(min_value=1, max_value=4),
)
def test_every_id_is_answered_by_exactly_one_accepted_call(
    shared_simulator: GenesysSimulator,
    shared_client: GenesysClient,
    shared_time: FakeTime,
    ids: list[str],
    chunk_size: int,
    server_max: int,
    concurrency: int,
) -> None:
    shared_simulator.update(max_ids_per_request=server_max)
    shared_simulator.reset_stats()
    enricher = GenesysEnricher(shared_client, chunk_size=chunk_size, max_concurrency=concurrency)
    try:
        result = enricher.enrich(ids, shared_time.time() + 30)
    finally:
        enricher.close()
    unique = set(ids)
    assert set(result.details) == unique
    assert not result.missing
    assert not result.failed
    # The simulator counts ids only in calls it accepted: each id was in exactly one of them.
    assert shared_simulator.stats()["ids_requested"] == len(unique)


def test_lagging_conversations_are_missing_until_analytics_has_them(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    soon: Callable[..., float],
) -> None:
    simulator = make_simulator(lagging_ids=frozenset({"conv-0001", "conv-0003"}), lag_lookups=1)
    client = make_client(simulator)
    enricher = GenesysEnricher(client)
    first = enricher.enrich(_ids(5), soon())
    assert first.missing == {"conv-0001", "conv-0003"}
    assert set(first.details) == {"conv-0000", "conv-0002", "conv-0004"}
    second = enricher.enrich(sorted(first.missing), soon())
    assert set(second.details) == {"conv-0001", "conv-0003"}
    assert not second.missing


def test_lagging_and_unknown_single_lookups(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    soon: Callable[..., float],
) -> None:
    simulator = make_simulator(lagging_ids=frozenset({"late"}), unknown_ids=frozenset({"never"}))
    client = make_client(simulator)
    assert client.conversation_details("late") is None
    assert client.conversation_details("late") is not None
    assert client.conversation_details("never") is None
    assert client.conversation("never") is None
    assert GenesysEnricher(client).enrich(["never"], soon()).missing == {"never"}
    live = client.conversation("late")
    assert live is not None
    assert live["id"] == "late"


def test_server_errors_are_retried_with_backoff(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    soon: Callable[..., float],
) -> None:
    simulator = make_simulator(error_rate=0.4, seed=7)
    client = make_client(simulator, max_retries=8, max_concurrency=1)  # sequential: the seeded faults replay
    result = GenesysEnricher(client, chunk_size=5).enrich(_ids(40), soon())
    assert len(result.details) == 40
    assert not result.failed
    assert simulator.stats()["server_errors"] > 0
    assert client.stats.snapshot()["retries"] == simulator.stats()["server_errors"]


def test_persistent_server_errors_end_in_transient_failures(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    soon: Callable[..., float],
) -> None:
    simulator = make_simulator(error_rate=1.0)
    client = make_client(simulator, max_retries=2)
    result = GenesysEnricher(client, chunk_size=10).enrich(_ids(20), soon())
    assert set(result.failed) == set(_ids(20))
    assert all(type(e) is TransientError and "503" in str(e) for e in result.failed.values())
    assert simulator.stats()["calls"][BULK] == 2 * 3  # two chunks, one try and two retries each


@BOTH_TRANSPORTS
def test_slow_answers_time_out_and_are_retried(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    soon: Callable[..., float],
) -> None:
    simulator = make_simulator(slow_rate=0.5, slow_ms=1000, seed=1)
    client = make_client(simulator, read_timeout=0.2, max_retries=10, max_concurrency=1)
    result = GenesysEnricher(client, chunk_size=2).enrich(_ids(6), soon())
    assert len(result.details) == 6
    assert simulator.stats()["slow_responses"] > 0
    assert client.stats.snapshot()["transport_errors"] > 0


def test_past_deadline_fails_without_calling(
    simulator: GenesysSimulator, make_client: Callable[..., GenesysClient], soon: Callable[..., float]
) -> None:
    client = make_client(simulator)
    result = GenesysEnricher(client).enrich(_ids(3), soon(-1))
    assert set(result.failed) == set(_ids(3))
    assert all(isinstance(e, TransientError) for e in result.failed.values())
    assert simulator.stats()["api_calls"] == 0
