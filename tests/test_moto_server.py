"""The test kit's moto server: SQS requests one at a time, long polls waited for outside the lock."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

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
