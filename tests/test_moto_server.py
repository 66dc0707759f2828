"""The test kit's moto server: SQS requests one at a time, long polls waited for outside the lock; a cancelled
TransactWriteItems puts back exactly the items it named (backed up item by item, not as whole tables)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gcevents.adapters.dynamodb import create_idempotency_table
from gcevents.adapters.sqs import create_queues


def test_a_long_poll_receives_what_is_sent_while_it_waits(boto_client: Any, unique_name: str) -> None:
    """Were the long poll waited for under the SQS lock, the send would wait for it, and the poll end empty."""
    sqs = boto_client("sqs")
    url = create_queues(sqs, unique_name, visibility_timeout=30)["queue_url"]
    polling = threading.Event()

    def poll() -> list[dict[str, Any]]:
        polling.set()
        return sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5).get("Messages", [])

    with ThreadPoolExecutor(1) as pool:
        received = pool.submit(poll)
        polling.wait()
        sqs.send_message(QueueUrl=url, MessageBody="late")
        assert [m["Body"] for m in received.result()] == ["late"]


def test_concurrent_pollers_never_receive_one_message_twice(boto_client: Any, unique_name: str) -> None:
    sqs = boto_client("sqs")
    url = create_queues(sqs, unique_name, visibility_timeout=60)["queue_url"]
    for start in range(0, 200, 10):
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": f"m-{start + n}"} for n in range(10)]
        )
    barrier = threading.Barrier(6)

    def drain(_: int) -> list[str]:
        barrier.wait()
        got: list[str] = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages")
            if not messages:
                return got
            got.extend(m["Body"] for m in messages)

    with ThreadPoolExecutor(6) as pool:
        bodies = [b for got in pool.map(drain, range(6)) for b in got]
    assert sorted(bodies) == sorted(f"m-{n}" for n in range(200))


def test_a_cancelled_transaction_changes_nothing_and_a_committed_one_everything(
    boto_client: Any, unique_name: str
) -> None:
    dynamodb = boto_client("dynamodb")
    create_idempotency_table(dynamodb, unique_name)
    for n in range(50):  # bystanders: a whole-table restore or a lost write would show on them
        dynamodb.put_item(TableName=unique_name, Item={"pk": {"S": f"other-{n}"}, "v": {"N": str(n)}})
    dynamodb.put_item(TableName=unique_name, Item={"pk": {"S": "held"}, "v": {"N": "1"}})

    def put_new(key: str) -> dict[str, Any]:
        item = {"pk": {"S": key}, "v": {"N": "9"}}
        return {"Put": {"TableName": unique_name, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    update = {
        "Update": {
            "TableName": unique_name,
            "Key": {"pk": {"S": "other-0"}},
            "UpdateExpression": "SET v = :v",
            "ExpressionAttributeValues": {":v": {"N": "99"}},
        }
    }
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(TransactItems=[put_new("fresh"), update, put_new("held")])
    items = {i["pk"]["S"]: i["v"]["N"] for i in dynamodb.scan(TableName=unique_name)["Items"]}
    assert "fresh" not in items
    assert items["other-0"] == "0"
    assert items == {"held": "1", **{f"other-{n}": str(n) for n in range(50)}}

    dynamodb.transact_write_items(TransactItems=[put_new("fresh"), update])
    items = {i["pk"]["S"]: i["v"]["N"] for i in dynamodb.scan(TableName=unique_name)["Items"]}
    assert (items["fresh"], items["other-0"], items["held"], len(items)) == ("9", "99", "1", 52)
