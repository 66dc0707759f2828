"""`gcevents dlq inspect|redrive` on SQLite and on SQS (moto): filters, dry run, and a redriven event is
processed normally."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest

from factories import ALLOWED_PREFIX, make_event
from gcevents.adapters.sqlite import SqliteDatabase, SqliteDeadLetterSink
from gcevents.adapters.sqs import SqsDeadLetterSink, create_queues
from gcevents.entrypoints import cli
from gcevents.ops.dlq import DeadLetterReader, LetterFilter, describe_failure, inspect, redrive
from gcevents.ports import DeadLetter, Failure


def letters() -> list[DeadLetter]:
    good = make_event("customer.end", "c-1")
    return [
        DeadLetter("untrusted_source", "source not allowed", json.dumps(good), good["detail"]["topicName"], "c-1"),
        DeadLetter("not_json", "body is not JSON", "{oops"),
        DeadLetter("handler_rejected", "crm said 400", json.dumps(make_event("acw", "c-2")), None, "c-2", "m-2", 1.0),
    ]


def test_filters_match_reason_topic_conversation_and_age() -> None:
    now = 1000.0
    old = DeadLetter("not_json", "x", "{", "v2.detail.events.conversation.c.customer.end", "c", failed_at=0.0)
    assert LetterFilter(reason="not_json")(old, now)
    assert not LetterFilter(reason="too_large")(old, now)
    assert LetterFilter(topic="customer.end")(old, now)
    assert not LetterFilter(topic="acw")(old, now)
    assert LetterFilter(conversation_id="c")(old, now)
    assert LetterFilter(older_than=999)(old, now)
    assert not LetterFilter(newer_than=10)(old, now)


def test_sqlite_inspect_and_dry_run_change_nothing(tmp_path: Any) -> None:
    sink = SqliteDeadLetterSink(SqliteDatabase(tmp_path / "d.db"))
    sink.send(letters())
    reader = DeadLetterReader(sink)
    assert [x.reason for x in inspect(reader, LetterFilter(), 100)] == [
        "untrusted_source",
        "not_json",
        "handler_rejected",
    ]
    counts = redrive(reader, LetterFilter(reason="not_json"), lambda bodies: None, limit=100, rate=0, dry_run=True)
    assert counts == {"would_redrive": 1, "skipped": 2}
    assert sink.count() == 3


def test_sqs_redrive_sends_the_original_body_and_deletes_only_what_was_sent(boto_client: Any, unique_name: str) -> None:
    sqs = boto_client("sqs")
    urls = create_queues(sqs, unique_name, visibility_timeout=30)
    sink = SqsDeadLetterSink(sqs, urls["dlq_url"], read_visibility_timeout=30)
    originals = letters()
    sink.send(originals)
    sent: list[str] = []
    reader = DeadLetterReader(sink)
    counts = redrive(reader, LetterFilter(conversation_id="c-2"), sent.extend, limit=100, rate=0, dry_run=False)
    assert counts == {"redriven": 1, "skipped": 2}
    assert sent == [originals[2].body]
    # The two skipped letters were made visible again at once and are still there, with their reasons.
    left = inspect(DeadLetterReader(sink), LetterFilter(), 100)
    assert sorted(x.reason for x in left) == ["not_json", "untrusted_source"]


def test_redriven_event_is_processed_normally_after_the_cause_is_fixed(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An event dead-lettered as untrusted is redriven once the allow-list includes its source."""
    db = tmp_path / "g.db"
    monkeypatch.setenv("GCEVENTS_DB", str(db))
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    monkeypatch.setenv("GCEVENTS_ALLOWED_SOURCES", "aws.partner/genesys.com/cloud/someone-else/")
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(json.dumps(make_event(k, "c-7")) for k in ("customer.start", "customer.end")))
    assert cli.main(["process", str(events), "--json"]) == 3  # some records dead-lettered
    first = json.loads(capsys.readouterr().out)
    assert first["dead_lettered"] == 2
    assert first["dead_letter_reasons"] == {"untrusted_source": 2}

    monkeypatch.setenv("GCEVENTS_ALLOWED_SOURCES", ALLOWED_PREFIX)  # the operator fixes the configuration
    assert cli.main(["dlq", "inspect", "--json", "--reason", "untrusted_source"]) == 0
    inspected = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {x["conversationId"] for x in inspected} == {"c-7"}
    assert cli.main(["dlq", "redrive", "--reason", "untrusted_source", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"redriven": 2, "failed_again": 0}
    assert SqliteDeadLetterSink(SqliteDatabase(db)).count() == 0
    # Processed now: running the same file again finds both events already done (late once-per-session events claim
    # their keys even when no handler wants them: see `Pipeline._fact_candidate`).
    assert cli.main(["process", str(events), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["duplicate"] == 2


def test_inspect_tolerates_any_body_and_gives_back_what_it_read(
    boto_client: Any,
    unique_name: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A deeply nested or non-JSON letter (moved by SQS redrive: no attributes) is listed like any other, and the
    page it came in is released: a redrive right after finds every letter (it once raised RecursionError)."""
    sqs = boto_client("sqs")
    url = create_queues(sqs, unique_name)["dlq_url"]
    bodies = [
        "[" * 100_000,
        '{"detail": ' * 5_000 + "1",
        json.dumps(make_event("acw", "c-\x1b[2J")),
        json.dumps({"detail": {"topicName": "\x1b]0;pwned\x07"}}),
    ]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(
        QueueUrl=url,
        MessageBody="x",
        MessageAttributes={
            "failedAt": {"DataType": "Number", "StringValue": "1e999"},
            "encoding": {"DataType": "String", "StringValue": "base64"},
        },
    )
    monkeypatch.setenv("GCEVENTS_DB", str(tmp_path / "g.db"))
    monkeypatch.setenv("GCEVENTS_DLQ", f"sqs:{url}")

    assert cli.main(["dlq", "inspect"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("5 dead letters")
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "c-\\x1b[2J" in out  # escaped, still readable
    # Released at once: a redrive in the next seconds sees every letter (main: `{}`, exit 0).
    assert cli.main(["dlq", "redrive", "--dry-run", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"would_redrive": 1, "still_invalid": 4}


def test_human_output_escapes_control_characters_in_ids(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ANSI escape codes in ids are printed escaped by `state list` and `dlq inspect`, never obeyed."""
    db = tmp_path / "g.db"
    monkeypatch.setenv("GCEVENTS_DB", str(db))
    monkeypatch.delenv("GCEVENTS_STATE_STORE", raising=False)
    monkeypatch.delenv("GCEVENTS_DLQ", raising=False)
    cid = "c-\x1b[2J\x1b[31m\u202eevil"
    events = tmp_path / "e.jsonl"
    events.write_text(json.dumps(make_event("customer.start", cid)))
    assert cli.main(["process", str(events), "--json"]) == 0
    SqliteDeadLetterSink(SqliteDatabase(db)).send([DeadLetter("handler_rejected", "crm: \x1b[2K", "{}", cid, cid)])
    capsys.readouterr()

    for argv in (["state", "list"], ["state", "get", cid], ["dlq", "inspect"]):
        assert cli.main(argv) == 0
        captured = capsys.readouterr()
        shown = captured.out + captured.err
        assert "\x1b" not in shown
        assert "\u202e" not in shown
        assert "c-\\x1b[2J\\x1b[31m\\u202eevil" in shown


def test_in_process_redrive_from_sqs_ends_and_counts_what_failed_again(
    boto_client: Any,
    unique_name: str,
    tmp_path: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    app: Any,
) -> None:
    """A letter that fails again is kept, not dead-lettered again into the queue being scanned: 12 letters redrive
    as 12 (going round once gave {"redriven": 120})."""
    sqs = boto_client("sqs")
    url = create_queues(sqs, unique_name)["dlq_url"]
    sink = SqsDeadLetterSink(sqs, url)
    events = [make_event("customer.end", f"c-{n}") for n in range(12)]
    sink.send(
        [DeadLetter("handler_failed", "down", json.dumps(e), conversation_id=f"c-{n}") for n, e in enumerate(events)]
        + [DeadLetter("not_json", "bad", "{oops")]
    )
    for n in range(12):
        app.FAIL_TRANSIENTLY[f"c-{n}"] = None  # still failing: each redriven letter ends in the DLQ again
    monkeypatch.setenv("GCEVENTS_DB", str(tmp_path / "g.db"))
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    monkeypatch.setenv("GCEVENTS_DLQ", f"sqs:{url}")
    monkeypatch.setenv("GCEVENTS_HANDLERS", "tests.fixtures.lambda_app:router")

    assert cli.main(["dlq", "redrive", "--json", "--rate", "0"]) == 3  # some failed again: dead letters again
    assert json.loads(capsys.readouterr().out) == {"redriven": 12, "failed_again": 12, "still_invalid": 1}
    back = inspect(DeadLetterReader(sink), LetterFilter(), 100)
    assert sorted(x.reason for x in back) == ["not_json"] + ["retries_exhausted"] * 12

    app.FAIL_TRANSIENTLY.clear()  # fixed: the next run redrives them once, and they succeed
    assert cli.main(["dlq", "redrive", "--json", "--rate", "0"]) == 0
    assert json.loads(capsys.readouterr().out) == {"redriven": 12, "failed_again": 0, "still_invalid": 1}
    assert len(app.EFFECTS) == 12


# ------------------------------------------------------------------------------------------ defect 9: why
def test_a_persistent_genesys_fault_dead_letters_with_its_cause_after_minutes(tmp_path: Any) -> None:
    """A Genesys outage does not dead-letter enriched events within seconds: the redelivery schedule spreads the 5
    receives over minutes, and the last failure, kept by content key, explains each letter. A fake clock
    drives the queue: no waiting, no timing."""
    from gcevents.adapters.sqlite import SqliteIdempotencyStore
    from gcevents.core.idempotency import Idempotency
    from gcevents.core.pipeline import Pipeline, PipelineSettings
    from gcevents.core.router import Router
    from gcevents.entrypoints.worker import Worker, WorkerSettings
    from gcevents.errors import TransientError
    from gcevents.ops.dlq import explain_exhausted
    from gcevents.testing.fakes import FakeClock, MemoryDeadLetterSink, MemoryEnricher
    from gcevents.testing.queue import SimulatedQueue

    clock = FakeClock()
    store = SqliteIdempotencyStore(SqliteDatabase(tmp_path / "idem.db"))
    outage = TransientError("Genesys analytics_details_bulk: HTTP 503")
    sink = MemoryDeadLetterSink()
    pipeline = Pipeline(
        idempotency=Idempotency(store, clock=clock, concurrency=1),
        dead_letters=sink,
        router=Router(),
        enricher=MemoryEnricher(failures={f"c-{n}": outage for n in range(12)}),
        clock=clock,
        settings=PipelineSettings(deadline_margin=0.0, handler_concurrency=1),
    )
    queue = SimulatedQueue(max_receive_count=5, redrive_to=sink, clock=clock)
    queue.send([json.dumps(make_event("customer.end", f"c-{n}")) for n in range(12)])
    worker = Worker(pipeline, queue, WorkerSettings(batch_size=12, batch_window=0.0, wait_seconds=0.0))
    started = clock.now()
    while not queue.is_drained():
        records = queue.receive(12, 0.0, 120.0)
        if records:
            worker.handle(records)
        clock.advance(1.0)

    assert len(sink.letters) == 12
    assert clock.now() - started >= 150  # the four redeliveries wait at least 10 + 20 + 40 + 80 s
    explained = explain_exhausted(sink.letters, store)
    for letter in explained:
        assert letter.reason == "max_receive_count"
        assert "after 5 attempts" in letter.message
        assert "enrichment_failed: TransientError: Genesys analytics_details_bulk: HTTP 503" in letter.message


def test_the_sqlite_queue_letter_says_why_and_inspect_shows_it(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], app: Any
) -> None:
    """`gcevents worker --sqlite-queue`: the queue's own redrive reads the failure record; `dlq inspect` too."""
    from gcevents.adapters.sqlite import SqliteQueue
    from gcevents.config import Config
    from gcevents.entrypoints.runtime import build_runtime
    from gcevents.ops.dlq import failure_explainer

    db = tmp_path / "g.db"
    monkeypatch.setenv("GCEVENTS_DB", str(db))
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    monkeypatch.setenv("GCEVENTS_HANDLERS", "tests.fixtures.lambda_app:router")
    app.FAIL_TRANSIENTLY["c-9"] = None
    runtime = build_runtime(Config.from_env())
    queue = SqliteQueue(
        SqliteDatabase(db),
        max_receive_count=2,
        redrive_to=runtime.dead_letters,
        explain=failure_explainer(runtime.idempotency_store),
    )
    queue.send([json.dumps(make_event("acw", "c-9"))])
    for _ in range(3):
        records = queue.receive(10, 0.0, 0.0)  # visible again at once
        if records:
            runtime.pipeline.run(records, deadline=time.time() + 30)
    (stored,) = SqliteDeadLetterSink(SqliteDatabase(db)).list()
    letter = stored.letter
    assert letter.reason == "max_receive_count"
    assert "after 2 attempts" in letter.message
    assert "handler_failed: TransientError: downstream unavailable" in letter.message

    SqliteDeadLetterSink(SqliteDatabase(db)).send([DeadLetter("max_receive_count", "redrive", letter.body)])
    assert cli.main(["dlq", "inspect", "--json"]) == 0
    shown = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert all("handler_failed: TransientError" in x["message"] for x in shown)
    assert len(shown) == 2


def test_eventbridge_rule_target_dead_letters_carry_their_own_cause(
    boto_client: Any, unique_name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """EventBridge dead-letters an event it could not deliver with ERROR_CODE, ERROR_MESSAGE, RULE_ARN and
    TARGET_ARN attributes and the original event as the body; SQS redrive (maxReceiveCount) adds nothing."""
    sqs = boto_client("sqs")
    urls = create_queues(sqs, unique_name, visibility_timeout=30)
    event = make_event("customer.end", "c-eb", disconnectType="client")
    rule = "arn:aws:events:us-east-1:123456789012:rule/aws.partner/genesys.com/cloud/org/x/gcevents"
    target = "arn:aws:sqs:us-east-1:123456789012:gcevents-events"
    attributes = {
        "ERROR_CODE": "SQS_PERMISSION_DENIED",  # as EventBridge names its causes
        "ERROR_MESSAGE": "Access denied: the queue policy does not allow the rule to send",
        "RULE_ARN": rule,
        "TARGET_ARN": target,
    }
    sqs.send_message(
        QueueUrl=urls["dlq_url"],
        MessageBody=json.dumps(event),
        MessageAttributes={k: {"DataType": "String", "StringValue": v} for k, v in attributes.items()},
    )
    sqs.send_message(QueueUrl=urls["dlq_url"], MessageBody=json.dumps(make_event("acw", "c-rc")))  # maxReceiveCount
    monkeypatch.setenv("GCEVENTS_DLQ", f"sqs:{urls['dlq_url']}")
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    monkeypatch.setenv("GCEVENTS_IDEMPOTENCY_STORE", "memory")

    assert cli.main(["dlq", "inspect", "--json", "--reason", "eventbridge_delivery_failed"]) == 0
    (letter,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert letter["conversationId"] == "c-eb"
    assert letter["topic"] == "v2.detail.events.conversation.c-eb.customer.end"
    assert "SQS_PERMISSION_DENIED" in letter["message"]
    assert "queue policy does not allow" in letter["message"]
    assert rule in letter["message"]
    assert json.loads(letter["body"]) == event

    assert cli.main(["dlq", "inspect"]) == 0
    text = capsys.readouterr().out
    assert "eventbridge_delivery_failed 1" in text
    assert "max_receive_count 1" in text
    assert "c-rc" in text  # the conversation of a maxReceiveCount letter is read from its body too

    # Redriven like any other letter: the original event goes back to the main queue, unchanged.
    args = ["dlq", "redrive", "--reason", "eventbridge_delivery_failed", "--to-queue", urls["queue_url"], "--json"]
    assert cli.main(args) == 0
    assert json.loads(capsys.readouterr().out)["redriven"] == 1
    received = sqs.receive_message(QueueUrl=urls["queue_url"], MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(m["Body"]) for m in received] == [event]


def _ten_letters(db: Any) -> SqliteDeadLetterSink:
    sink = SqliteDeadLetterSink(SqliteDatabase(db))
    sink.send(
        [DeadLetter("handler_rejected", "x", json.dumps(make_event("acw", f"c-{n}")), failed_at=1.0) for n in range(10)]
    )
    return sink


def test_a_sqlite_letter_held_by_one_redrive_is_hidden_from_another(tmp_path: Any) -> None:
    """Issue 21.7: two redrives of one SQLite DLQ both re-ran every letter (each reported `redriven: 10`). A letter
    read by one redrive is hidden from the others until it is removed or given back, as SQS's visibility does."""
    db = tmp_path / "d.db"
    _ten_letters(db)
    first = DeadLetterReader(SqliteDeadLetterSink(SqliteDatabase(db)))
    held = first.scan(100)
    assert next(held).letter.reason == "handler_rejected"  # the first redrive holds its first page
    sent: list[str] = []

    def another_redrive() -> Counter[str]:
        return redrive(
            DeadLetterReader(SqliteDeadLetterSink(SqliteDatabase(db))),
            LetterFilter(),
            sent.extend,
            limit=100,
            rate=0,
            dry_run=False,
        )

    assert another_redrive()["redriven"] == 0
    first.release()  # given back: visible at once to the next run
    assert another_redrive()["redriven"] == 10
    assert SqliteDeadLetterSink(SqliteDatabase(db)).count() == 0


def test_two_concurrent_sqlite_redrives_split_the_letters(tmp_path: Any) -> None:
    """Issue 21.7, as reported: two redrives at once of 10 letters redrive 10 in all, each body sent once."""
    import threading

    db = tmp_path / "d.db"
    _ten_letters(db)
    sent: list[str] = []
    lock = threading.Lock()
    totals: list[int] = []

    def send(bodies: list[str]) -> None:
        with lock:
            sent.extend(bodies)

    def run() -> None:
        reader = DeadLetterReader(SqliteDeadLetterSink(SqliteDatabase(db)))
        totals.append(redrive(reader, LetterFilter(), send, limit=100, rate=0, dry_run=False)["redriven"])

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(totals) == 10
    assert len(sent) == len(set(sent)) == 10


def test_a_letter_read_by_a_crashed_redrive_comes_back_after_its_lease(tmp_path: Any) -> None:
    """A redrive that dies holding letters hides them for one lease, not for ever."""
    db = tmp_path / "d.db"
    _ten_letters(db)
    now = [1000.0]
    crashed = SqliteDeadLetterSink(SqliteDatabase(db), read_lease=120.0, clock=lambda: now[0])
    assert len(list(crashed.scan(100))) == 10  # never released nor removed
    later = SqliteDeadLetterSink(SqliteDatabase(db), read_lease=120.0, clock=lambda: now[0])
    assert list(later.scan(100)) == []
    now[0] += 121.0
    assert len(list(later.scan(100))) == 10


def test_a_failure_is_described_with_its_time_in_the_one_written_form() -> None:
    failure = Failure("enrichment_failed: HTTP 503", 5, failed_at_ms=1_764_000_000_999, keep_until_ms=0)
    assert describe_failure(failure) == (
        "gave up after 5 attempts (maxReceiveCount); last error at 2025-11-24T16:00:00Z: enrichment_failed: HTTP 503"
    )
