"""The fleet-wide Genesys budget (`GENESYS_BUDGET_SCOPE=shared`): one contract for the memory bucket and the
DynamoDB one (on moto), and the wiring from configuration to a client that draws on it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gcevents.adapters.dynamodb.budget import DynamoDbPermitBucket, create_budget_table
from gcevents.adapters.genesys import GenesysClient
from gcevents.adapters.genesys.limiter import SharedLimiter
from gcevents.config import Config
from gcevents.entrypoints.runtime import build_runtime
from gcevents.errors import ConfigError, RateLimitedError
from gcevents.ports import PermitBucket, schedule_permits
from gcevents.testing.fakes import MemoryPermitBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", "dynamodb"])
def make_bucket(request: pytest.FixtureRequest) -> Iterator[Callable[[Clock], PermitBucket]]:
    if request.param == "memory":  # one object stands for the store every container shares
        shared: list[MemoryPermitBucket] = []
        yield (
            lambda clock: (
                shared[0] if shared else shared.append(MemoryPermitBucket(60.0, 3.0, clock=clock)) or shared[0]
            )
        )
        return
    boto_client = request.getfixturevalue("boto_client")
    table = request.getfixturevalue("unique_name")
    client = boto_client("dynamodb")
    create_budget_table(client, table)

    def make(clock: Clock) -> PermitBucket:
        return DynamoDbPermitBucket(client, table, "genesys#client-1", rate_per_minute=60.0, burst=3.0, clock=clock)

    yield make


def test_schedule_lends_a_burst_after_idleness_and_spaces_the_rest() -> None:
    assert schedule_permits(None, 100.0, 2, 1.0, 3.0) == (98.0, 100.0)  # idle: two of the burst at once
    assert schedule_permits(100.0, 100.0, 2, 1.0, 3.0) == (100.0, 102.0)
    assert schedule_permits(105.0, 100.0, 1, 1.0, 3.0) == (105.0, 106.0)  # booked ahead: wait for the slot


def test_bucket_contract(make_bucket: Callable[[Clock], PermitBucket]) -> None:
    """Two containers on one bucket (60/min, burst 3) see one schedule: slots never overlap, the burst is lent
    once, a wait beyond max_wait books nothing, and a hold pushes every container back."""
    clock = Clock()
    first, second = make_bucket(clock), make_bucket(clock)
    assert first.interval == pytest.approx(1.0)
    start = first.take(2, max_wait=10)
    assert start == pytest.approx(clock.now - 2)  # a burst of 3: up to two intervals early
    assert second.take(3, max_wait=10) == pytest.approx(clock.now)  # after first's two slots
    assert first.take(1, max_wait=10) == pytest.approx(clock.now + 3)  # second's three are booked before it
    with pytest.raises(RateLimitedError) as caught:
        second.take(1, max_wait=2)
    # the wait as far as this container knows (a DynamoDB container refuses from the value it last saw, 3 s)
    assert caught.value.retry_after is not None
    assert 3 <= caught.value.retry_after <= 4
    assert second.take(1, max_wait=10) == pytest.approx(clock.now + 4)  # the refused take booked nothing
    second.hold(30)
    assert first.take(1, max_wait=60) == pytest.approx(clock.now + 30)


def test_dynamodb_bucket_has_no_double_booking_under_contention(
    boto_client: Callable[[str], Any], unique_name: str
) -> None:
    """Six containers racing on one item: every booked slot is distinct (one conditional update per take, the
    lost races answered with the winner's value)."""
    client = boto_client("dynamodb")
    create_budget_table(client, unique_name)
    clock = Clock()
    slots: list[float] = []
    lock = threading.Lock()

    def container() -> None:
        bucket = DynamoDbPermitBucket(client, unique_name, "genesys#c", rate_per_minute=600.0, burst=1.0, clock=clock)
        for _ in range(5):
            start = bucket.take(2, max_wait=3600)
            with lock:
                slots.extend([start, start + bucket.interval])

    threads = [threading.Thread(target=container) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = sorted(round(slot * 10) for slot in slots)  # 0.1 s apart
    assert len(keys) == len(set(keys)) == 60
    assert keys[-1] - keys[0] == 59


def test_shared_scope_wires_the_client_to_the_bucket_table(boto_client: Callable[[str], Any], unique_name: str) -> None:
    client = boto_client("dynamodb")
    create_budget_table(client, unique_name)
    base = {
        "GCEVENTS_IDEMPOTENCY_STORE": "memory",
        "GCEVENTS_STATE_STORE": "off",
        "GCEVENTS_DLQ": "memory",
        "GENESYS_CLIENT_ID": "client-1",
        "GENESYS_CLIENT_SECRET": "s",
        "GENESYS_REGION": "mypurecloud.ie",
        "GENESYS_BUDGET_SCOPE": "shared",
    }
    with pytest.raises(ConfigError, match="GENESYS_BUDGET_TABLE"):
        build_runtime(Config.from_env(base), clients={"dynamodb": client})
    runtime = build_runtime(
        Config.from_env({**base, "GENESYS_BUDGET_TABLE": unique_name}), clients={"dynamodb": client}
    )
    assert isinstance(runtime.genesys, GenesysClient)
    limiter = runtime.genesys.limiter
    assert isinstance(limiter, SharedLimiter)
    assert isinstance(limiter.bucket, DynamoDbPermitBucket)
    assert (limiter.bucket.table, limiter.bucket.key) == (unique_name, "genesys#client-1")
    runtime.genesys.close()
    several = {
        **base,
        "GENESYS_BUDGET_TABLE": unique_name,
        "GENESYS_CLIENT_ID": "client-1,client-2",
        "GENESYS_CLIENT_SECRET": '{"client-1": "s", "client-2": "t"}',
    }
    runtime = build_runtime(Config.from_env(several), clients={"dynamodb": client})
    assert isinstance(runtime.genesys, GenesysClient)
    keys = []
    for lane in runtime.genesys.lanes:  # each token has its own limit: each client id its own bucket item
        assert isinstance(lane.limiter, SharedLimiter)
        assert isinstance(lane.limiter.bucket, DynamoDbPermitBucket)
        keys.append(lane.limiter.bucket.key)
    assert keys == ["genesys#client-1", "genesys#client-2"]
    runtime.genesys.close()
