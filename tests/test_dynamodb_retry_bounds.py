"""How many DynamoDB calls and HTTP attempts an operation can make at most (the table in `gcevents.retry`).

Stubbed clients that never stop throttling or handing items back, and one real botocore client whose HTTP
sends are answered in-process, so botocore's own retries are counted too. No server, no sleeping."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse

from gcevents.adapters.aws import make_client
from gcevents.adapters.dynamodb import DynamoDbIdempotencyStore, DynamoDbStateStore
from gcevents.adapters.dynamodb.batch import batch_get_all
from gcevents.core.idempotency import Idempotency
from gcevents.errors import StoreUnavailableError
from gcevents.ports import Claim
from gcevents.retry import (
    COMPLETE_ATTEMPTS,
    LEFTOVER_BACKOFF_CAP,
    LEFTOVER_MAX_SECONDS,
    LEFTOVER_RETRIES,
    SDK_MAX_ATTEMPTS,
)
from gcevents.testing.fakes import FakeClock

NOW_MS = 1_700_000_000_000


class Leftovers:
    """A DynamoDB client that answers every batch call by handing everything back unprocessed."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.sizes: list[int] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        (table, request), *_ = RequestItems.items()
        self.calls["BatchGetItem"] += 1
        self.sizes.append(len(request["Keys"]))
        return {"Responses": {table: []}, "UnprocessedKeys": RequestItems}

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        (_table, requests), *_ = RequestItems.items()
        self.calls["BatchWriteItem"] += 1
        self.sizes.append(len(requests))
        return {"UnprocessedItems": RequestItems}


def _claims(count: int) -> list[Claim]:
    return [Claim(f"k-{i}", "t") for i in range(count)]


@pytest.mark.parametrize("keys", [1, 100, 250])
def test_completed_makes_at_most_one_pass_plus_the_leftover_retries(keys: int) -> None:
    client, slept = Leftovers(), []
    store = DynamoDbIdempotencyStore(client, "t", sleep=slept.append)
    with pytest.raises(StoreUnavailableError, match="keys left unprocessed"):
        store.completed([f"k-{i}" for i in range(keys)], NOW_MS)
    assert client.calls["BatchGetItem"] == math.ceil(keys / 100) + LEFTOVER_RETRIES
    assert max(client.sizes) <= 100
    assert len(slept) <= LEFTOVER_RETRIES  # one backoff per round, not per call
    assert sum(slept) <= LEFTOVER_MAX_SECONDS
    assert all(0 <= s <= LEFTOVER_BACKOFF_CAP for s in slept)


@pytest.mark.parametrize("claims", [1, 25, 60])
def test_store_complete_makes_at_most_one_pass_plus_the_leftover_retries(claims: int) -> None:
    client = Leftovers()
    store = DynamoDbIdempotencyStore(client, "t", sleep=lambda _: None)
    with pytest.raises(StoreUnavailableError, match="items left unprocessed"):
        store.complete(_claims(claims), NOW_MS)
    assert client.calls["BatchWriteItem"] == math.ceil(claims / 25) + LEFTOVER_RETRIES
    assert max(client.sizes) <= 25


def test_idempotency_complete_multiplies_only_its_own_attempts() -> None:
    client = Leftovers()
    store = DynamoDbIdempotencyStore(client, "t", sleep=lambda _: None)
    idempotency = Idempotency(store, clock=FakeClock(NOW_MS / 1000), sleep=lambda _: None)
    with pytest.raises(StoreUnavailableError):
        idempotency.complete(_claims(60))
    assert client.calls["BatchWriteItem"] == COMPLETE_ATTEMPTS * (math.ceil(60 / 25) + LEFTOVER_RETRIES)


def test_state_load_shares_the_helper_and_its_bound() -> None:
    client = Leftovers()
    store = DynamoDbStateStore(client, "t", sleep=lambda _: None)
    result = store.apply({f"c-{i}": [object()] for i in range(150)})
    assert len(result.failed) == 150
    assert all(isinstance(e, StoreUnavailableError) for e in result.failed.values())
    assert client.calls["BatchGetItem"] == 2 + LEFTOVER_RETRIES


class SomeLeftovers(Leftovers):
    """Hands back every other key once, then answers everything."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        (table, request), *_ = RequestItems.items()
        self.calls["BatchGetItem"] += 1
        self.sizes.append(len(request["Keys"]))
        answered, unprocessed = [], []
        for index, key in enumerate(request["Keys"]):
            pk = key["pk"]["S"]
            if index % 2 and pk not in self.seen:
                self.seen.add(pk)
                unprocessed.append(key)
            else:
                answered.append({"pk": {"S": pk}, "status": {"S": "COMPLETED"}, "expires_at": {"N": str(NOW_MS + 1)}})
        leftover = {table: {**request, "Keys": unprocessed}} if unprocessed else {}
        return {"Responses": {table: answered}, "UnprocessedKeys": leftover}


def test_leftovers_of_every_chunk_are_gathered_into_fewer_calls() -> None:
    client = SomeLeftovers()
    keys = [{"pk": {"S": f"k-{i}"}} for i in range(300)]
    items = batch_get_all(client, "t", keys, what="test", sleep=lambda _: None)
    assert sorted(item["pk"]["S"] for item in items) == sorted(f"k-{i}" for i in range(300))
    assert client.sizes == [100, 100, 100, 100, 50]  # 150 leftovers of three chunks: two calls, not three


# ------------------------------------------------------------------- a real botocore client: its retries count
class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable[[str, dict[str, Any]], tuple[int, Any]]], Any]:
    """make_client("dynamodb") whose HTTP sends are answered by `answer(operation, request) -> (status, body)`;
    botocore's backoff between its attempts is zeroed, its retry decisions are untouched."""
    from botocore.retries.standard import ExponentialBackoff

    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.0)

    def make(answer: Callable[[str, dict[str, Any]], tuple[int, Any]]) -> Any:
        client = make_client("dynamodb", region_name="us-east-1")

        def send(request: Any, **_: Any) -> AWSResponse:
            operation = request.headers["X-Amz-Target"].decode().rsplit(".", 1)[-1]
            status, body = answer(operation, json.loads(request.body))
            return AWSResponse(request.url, status, {"x-amzn-RequestId": "r"}, _Raw(json.dumps(body).encode()))

        client.meta.events.register("before-send.dynamodb", send)
        return client

    return make


THROTTLED = {"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "slow"}


def test_botocore_attempts_are_configured_from_the_same_constant(dynamodb: Any) -> None:
    attempts: Counter[str] = Counter()

    def answer(operation: str, request: dict[str, Any]) -> tuple[int, Any]:
        attempts[operation] += 1
        return 400, THROTTLED

    store = DynamoDbIdempotencyStore(dynamodb(answer), "t", sleep=lambda _: None)
    with pytest.raises(StoreUnavailableError, match="ProvisionedThroughputExceeded"):
        store.completed(["a"], NOW_MS)
    assert attempts["BatchGetItem"] == SDK_MAX_ATTEMPTS


def test_worst_case_of_complete_is_the_documented_product(dynamodb: Any) -> None:
    """Every call throttled until botocore's last attempt, which then hands every item back: the most HTTP
    attempts `Idempotency.complete` can make."""
    attempts: Counter[str] = Counter()

    def answer(operation: str, request: dict[str, Any]) -> tuple[int, Any]:
        attempts[operation] += 1
        if attempts[operation] % SDK_MAX_ATTEMPTS:
            return 400, THROTTLED
        return 200, {"UnprocessedItems": request["RequestItems"]}

    store = DynamoDbIdempotencyStore(dynamodb(answer), "t", sleep=lambda _: None)
    idempotency = Idempotency(store, clock=FakeClock(NOW_MS / 1000), sleep=lambda _: None)
    with pytest.raises(StoreUnavailableError, match="items left unprocessed"):
        idempotency.complete(_claims(60))
    chunks = math.ceil(60 / 25)
    assert attempts["BatchWriteItem"] == COMPLETE_ATTEMPTS * (chunks + LEFTOVER_RETRIES) * SDK_MAX_ATTEMPTS
