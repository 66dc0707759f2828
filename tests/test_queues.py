"""One contract suite for the EventSource port: the queue simulator, SQLite queue and SQS (moto over HTTP)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gcevents.adapters.sqlite import SqliteDatabase, SqliteDeadLetterSink, SqliteQueue
from gcevents.adapters.sqs import SqsEventSource
from gcevents.testing.fakes import MemoryDeadLetterSink
from gcevents.testing.queue import SimulatedQueue


class QueueUnderTest:
    """An adapter plus a way to put messages in, and whether it redrives by itself."""

    def __init__(self, source: Any, send: Callable[[list[str]], None], letters: Callable[[], list[str]]) -> None:
        self.source = source
        self.send = send
        self.letters = letters


@pytest.fixture(params=["memory", "sqlite", "sqs"])
def queue(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[QueueUnderTest]:
    if request.param == "memory":
        sink = MemoryDeadLetterSink()
        memory = SimulatedQueue(max_receive_count=2, redrive_to=sink)
        yield QueueUnderTest(memory, memory.send, lambda: [x.body for x in sink.letters])
    elif request.param == "sqlite":
        db = SqliteDatabase(tmp_path / "q.db")
        dlq = SqliteDeadLetterSink(db)
        sqlite = SqliteQueue(db, max_receive_count=2, redrive_to=dlq, poll_interval=0.01)
        yield QueueUnderTest(sqlite, sqlite.send, lambda: [s.letter.body for s in dlq.list()])
    else:
        boto_client = request.getfixturevalue("boto_client")
        name = request.getfixturevalue("unique_name")
        from gcevents.adapters.sqs import create_queues

        sqs = boto_client("sqs")
        urls = create_queues(sqs, name, visibility_timeout=30, max_receive_count=2)

        def send(bodies: list[str]) -> None:
            for body in bodies:
                sqs.send_message(QueueUrl=urls["queue_url"], MessageBody=body)

        def letters() -> list[str]:
            got = sqs.receive_message(QueueUrl=urls["dlq_url"], MaxNumberOfMessages=10, VisibilityTimeout=0)
            return [m["Body"] for m in got.get("Messages", [])]

        yield QueueUnderTest(SqsEventSource(sqs, urls["queue_url"]), send, letters)


def receive_all(source: Any, visibility: float = 30.0) -> list[Any]:
    got: list[Any] = []
    for _ in range(5):
        page = source.receive(10, 0, visibility)
        if not page:
            break
        got.extend(page)
    return got


def test_receive_hides_messages_and_counts_receives(queue: QueueUnderTest) -> None:
    queue.send(["a", "b", "c"])
    first = receive_all(queue.source)
    assert sorted(r.payload for r in first) == ["a", "b", "c"]
    assert all(r.receive_count == 1 and r.receipt_handle and r.message_id for r in first)
    assert receive_all(queue.source) == []  # hidden while in flight


def test_ack_deletes_and_release_makes_visible_again(queue: QueueUnderTest) -> None:
    queue.send(["keep", "done"])
    records = {r.payload: r for r in receive_all(queue.source)}
    queue.source.ack([records["done"].receipt_handle])
    queue.source.change_visibility({records["keep"].receipt_handle: 0})
    again = receive_all(queue.source)
    assert [r.payload for r in again] == ["keep"]
    assert again[0].receive_count == 2


def test_redrive_after_max_receive_count(queue: QueueUnderTest) -> None:
    queue.send(["poison"])
    for _ in range(2):
        (record,) = receive_all(queue.source)
        queue.source.change_visibility({record.receipt_handle: 0})
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        assert receive_all(queue.source) == []  # a third receive moves it to the DLQ instead
        if queue.letters():
            break
    assert queue.letters() == ["poison"]


def test_extending_visibility_keeps_a_slow_message_hidden(queue: QueueUnderTest) -> None:
    queue.send(["slow"])
    (record,) = receive_all(queue.source, visibility=1)
    queue.source.change_visibility({record.receipt_handle: 30})
    time.sleep(1.2)
    assert receive_all(queue.source) == []


def test_requeue_starts_the_receive_count_over(queue: QueueUnderTest) -> None:
    """A rate-limited record received as often as max_receive_count allows goes back as a fresh delivery instead
    of into the DLQ (on SQS: a new message, the received one deleted)."""
    queue.send(["throttled", "other"])
    records = {r.payload: r for r in receive_all(queue.source)}
    queue.source.change_visibility({r.receipt_handle: 0 for r in records.values()})
    records = {r.payload: r for r in receive_all(queue.source)}
    assert records["throttled"].receive_count == 2  # the last receive max_receive_count 2 allows
    done = queue.source.requeue([(records["throttled"], 0.0)])
    assert done == {records["throttled"].message_id}
    queue.source.ack([records["other"].receipt_handle])
    again = receive_all(queue.source)
    assert [(r.payload, r.receive_count) for r in again] == [("throttled", 1)]
    assert queue.letters() == []


def test_the_receive_limit_is_the_redrive_policys(queue: QueueUnderTest) -> None:
    """What the worker compares a receive count with before handing a record back unattempted."""
    assert queue.source.receive_limit() == 2
