"""DynamoDB specifics on moto: table setup, item layout, request economy, error translation."""

from __future__ import annotations

import json
import random
import zlib
from collections import Counter
from typing import Any

import boto3
import pytest
from botocore.config import Config

from gcevents.adapters.dynamodb.state import DynamoDbStateStore, create_state_table, decode_state, from_item
from gcevents.core.attributes import KEEP_ALL
from gcevents.core.projection import StateProjection
from gcevents.core.router import HandlerContext, WorkItem
from gcevents.core.state import Observation
from gcevents.core.state_store import Conflict, PendingWrite, StoredState
from gcevents.errors import ConfigError, PermanentError, StoreUnavailableError
from gcevents.testing.events import parse
from gcevents.testing.genesys import analytics_conversation
from gcevents.testing.workload import conversation_lifecycle

from .helpers import BASE_MS, make_event


@pytest.fixture
def client(moto_endpoint: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def table(client: Any, unique_name: str) -> str:
    assert create_state_table(client, unique_name) is True
    return unique_name


def test_create_table_is_idempotent_on_demand_with_ttl(client: Any, table: str) -> None:
    assert create_state_table(client, table) is False
    described = client.describe_table(TableName=table)["Table"]
    assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert described["KeySchema"] == [{"AttributeName": "conversationId", "KeyType": "HASH"}]
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "ttl")


def test_create_table_honours_aws_endpoint_url(aws: str, unique_name: str) -> None:
    from gcevents.adapters.aws import make_client

    assert create_state_table(make_client("dynamodb"), unique_name) is True


def test_the_item_holds_the_state_as_one_compressed_json_attribute(client: Any, table: str) -> None:
    store = DynamoDbStateStore(client, table)
    store.apply({"c1": [make_event("customer.start", mediaType="VOICE", interactingDurationMs=1.5)]})
    raw = client.get_item(TableName=table, Key={"conversationId": {"S": "c1"}})["Item"]
    assert raw["version"] == {"N": "1"}
    assert set(raw) == {"conversationId", "version", "updatedAt", "ttl", "state"}
    state = json.loads(zlib.decompress(raw["state"]["B"]))
    assert state.pop("_format") == 2  # the format version (gcevents.core.state_format), not part of the state
    assert state["mediaType"]["value"] == "VOICE"
    item = store.get("c1")
    assert item is not None
    assert item.state == state
    assert item.state["participants"]["p1"]["interactingDurationMs"]["value"] == 1.5


def test_a_finished_conversation_fits_one_write_unit(client: Any, table: str) -> None:
    """DynamoDB charges a write unit per KB of the item: compressed, a whole lifecycle's state (with the enrichment
    summary) is one unit, where its JSON (~3 KB) was four."""
    store = DynamoDbStateStore(client, table)
    rng = random.Random(5)
    lifecycle = [parse(e) for e in conversation_lifecycle("4f0c1e2d-0000-4000-8000-00000000c0de", BASE_MS, rng)]
    details = analytics_conversation("4f0c1e2d-0000-4000-8000-00000000c0de")
    store.apply({"4f0c1e2d-0000-4000-8000-00000000c0de": [Observation(e, details) for e in lifecycle]})
    (raw,) = client.scan(TableName=table)["Items"]
    assert len(json.dumps(decode_state(raw["state"]), separators=(",", ":"))) > 2048
    assert item_bytes(raw) <= 1024


def test_an_item_written_as_a_json_string_is_read_and_rewritten_compressed(client: Any, table: str) -> None:
    store = DynamoDbStateStore(client, table)
    store.apply({"c1": [make_event("customer.start")]})
    raw = client.get_item(TableName=table, Key={"conversationId": {"S": "c1"}})["Item"]
    old = {**raw, "state": {"S": zlib.decompress(raw["state"]["B"]).decode()}}  # as gcevents wrote it before
    client.put_item(TableName=table, Item=old)
    assert store.get("c1") == from_item(raw)
    store.apply({"c1": [make_event("customer.end", at=BASE_MS + 60_000)]})
    again = client.get_item(TableName=table, Key={"conversationId": {"S": "c1"}})["Item"]
    assert "B" in again["state"]
    assert decode_state(again["state"])["endTime"] == BASE_MS + 60_000


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of a flat item: attribute names plus string/binary lengths plus number digits."""
    size = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        size += len(name) + (len(raw) if kind in ("S", "B") else 1 + (len(raw.strip("0")) + 1) // 2)
    return size


def test_a_lost_race_brings_the_winners_item_back_without_a_read(client: Any, table: str) -> None:
    store = DynamoDbStateStore(client, table)
    store.apply({"c1": [make_event("customer.start")]})
    winner = store.get("c1")
    assert winner is not None
    stale = PendingWrite(StoredState("c1", {"startTime": 1}, 1, 0, 0), expected_version=None)
    outcome = store._save([stale])["c1"]
    assert isinstance(outcome, Conflict)
    assert outcome.known
    assert outcome.current == winner


def test_projection_needs_few_requests_per_event(client: Any, table: str) -> None:
    """1,000 events over 200 conversations: 2 BatchGetItem + 200 PutItem, counted on the wire."""
    sent: Counter[str] = Counter()
    client.meta.events.register("before-send.dynamodb", lambda request, **_: sent.update([_operation(request)]))
    projection = StateProjection(DynamoDbStateStore(client, table))
    context = HandlerContext(enrichment=None, deadline=0.0, idempotency_key="", services={})
    kinds = ["customer.start", "acd.start", "user.start", "customer.end", "acw"]
    items = [
        WorkItem(make_event(kinds[e], f"conv-{c}", f"p{e}", at=BASE_MS + e, userId="u1"), context)
        for c in range(200)
        for e in range(5)
    ]
    assert projection.handle_batch(items).failures == {}
    requests = sum(sent.values())
    print(f"\nDynamoDB requests for 1000 events / 200 conversations: {dict(sent)} = {requests / 1000:.3f}/event")
    assert sent == Counter({"BatchGetItem": 2, "PutItem": 200})
    assert requests / len(items) <= 1.5

    sent.clear()
    outcome = projection.handle_batch(items)  # a redelivered batch: read, nothing to write, all found applied
    assert (outcome.failures, outcome.already_applied) == ({}, {i.event.content_key for i in items})
    assert sent == Counter({"BatchGetItem": 2})


def _operation(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", b"")
    target = target.decode() if isinstance(target, bytes) else target
    return str(target).rpartition(".")[2]


def test_unreachable_endpoint_is_a_transient_per_conversation_failure() -> None:
    dead = boto3.client(
        "dynamodb",
        endpoint_url="http://127.0.0.1:9",
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=1),
    )
    result = DynamoDbStateStore(dead, "t").apply({"c1": [make_event("customer.start")]})
    assert isinstance(result.failed["c1"], StoreUnavailableError)


def test_missing_table_is_a_config_error(client: Any, unique_name: str) -> None:
    result = DynamoDbStateStore(client, unique_name).apply({"c1": [make_event("customer.start")]})
    assert isinstance(result.failed["c1"], ConfigError)


def test_an_oversized_item_fails_only_its_conversation(client: Any, table: str) -> None:
    store = DynamoDbStateStore(client, table)
    noise = random.Random(1)
    huge = {f"k{i}": noise.randbytes(1000).hex() for i in range(450)}  # > 400 KB stored, even compressed
    result = store.apply(
        {
            # Every value kept (the default policy keeps names only, which would stay small).
            "big": [Observation(make_event("attributes", "big", attributes=huge), attributes=KEEP_ALL)],
            "small": [make_event("customer.start", "small")],
        }
    )
    assert set(result.written) == {"small"}
    assert isinstance(result.failed["big"], PermanentError)
