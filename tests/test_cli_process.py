"""`gcevents process FILE` on the embedded SQLite default: summary, dead letters, idempotent re-runs."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from factories import make_event, resend, sqs_batch
from gcevents.entrypoints import cli

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, app: ModuleType) -> Path:
    import os

    for name in list(os.environ):
        if name.startswith(("GCEVENTS_", "GENESYS_")) or name == "AWS_LAMBDA_FUNCTION_NAME":
            monkeypatch.delenv(name)
    path = tmp_path / "gcevents.db"
    monkeypatch.setenv("GCEVENTS_DB", str(path))
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    monkeypatch.setenv("GCEVENTS_HANDLERS", "tests.fixtures.lambda_app:router")
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    capsys.readouterr()
    code = cli.main(["process", *args, "--json"])
    out = capsys.readouterr().out.strip().splitlines()
    summary = json.loads(out[-1])
    assert isinstance(summary, dict)
    assert code == (3 if summary["dead_lettered"] or summary["unfinished"] else 0)  # docs/cli.md
    return summary


def rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql).fetchall())


def test_process_jsonl_with_a_malformed_line_and_duplicates(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], app: ModuleType
) -> None:
    a, b, c = make_event("customer.start", "c-1"), make_event("customer.end", "c-1"), make_event("acw", "c-2")
    lines = [
        json.dumps(a),
        json.dumps(b),
        json.dumps(resend(a)),
        '{"detail": {"topicName": ',
        "",
        json.dumps(resend(b)),
        json.dumps(c),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    summary = run(capsys, str(path))
    assert {k: summary[k] for k in ("records", "processed", "duplicate", "dead_lettered")} == {
        "records": 6,
        "processed": 3,
        "duplicate": 2,
        "dead_lettered": 1,
    }
    assert summary["dead_letter_reasons"] == {"not_json": 1}
    assert len(app.EFFECTS) == 3
    letters = rows(db, "SELECT reason, body, message_id, topic FROM dead_letters")
    assert letters == [("not_json", '{"detail": {"topicName": ', "line-4", None)]
    # Three events done, and one dead letter written (a rejection's key is a hash of its reason and text); the three
    # are once-per-session facts processed long after their eventTime, so their fact keys are completed too.
    assert rows(db, "SELECT COUNT(*) FROM idempotency WHERE status = 'COMPLETED'") == [(7,)]

    again = run(capsys, str(path))
    assert len(app.EFFECTS) == 3  # nothing new happened
    # A re-run dead-letters the malformed line no second time: its letter is there, once.
    assert (again["processed"], again["duplicate"], again["dead_lettered"]) == (0, 6, 0)
    assert rows(db, "SELECT COUNT(*) FROM dead_letters") == [(1,)]


def test_process_a_saved_sqs_batch_and_a_json_list(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], app: ModuleType
) -> None:
    events = [make_event("flow.start", f"c-{i}") for i in range(3)]
    saved = tmp_path / "batch.json"
    saved.write_text(json.dumps(sqs_batch([*events, "not json"])), encoding="utf-8")
    summary = run(capsys, str(saved))
    assert (summary["records"], summary["processed"], summary["dead_lettered"]) == (4, 3, 1)

    listing = tmp_path / "list.json"
    listing.write_text(json.dumps([resend(e) for e in events] + [make_event("flow.end", "c-0")]), encoding="utf-8")
    summary = run(capsys, str(listing))
    assert (summary["records"], summary["processed"], summary["duplicate"]) == (4, 1, 3)
    assert len(app.EFFECTS) == 4


def test_transient_failures_are_retried_then_dead_lettered(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], app: ModuleType
) -> None:
    app.FAIL_TRANSIENTLY["c-down"] = None
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(make_event("customer.end", "c-down")) + "\n" + json.dumps(make_event("acw", "c-up")))
    summary = run(capsys, str(path), "--max-attempts", "2", "--max-wait", "0")
    assert (summary["processed"], summary["dead_lettered"]) == (1, 1)
    assert summary["dead_letter_reasons"] == {"retries_exhausted": 1}
    ((reason, message, conversation),) = rows(db, "SELECT reason, message, conversation_id FROM dead_letters")
    assert (reason, conversation) == ("retries_exhausted", "c-down")
    assert "2 attempts" in message
    # The claim was released, so once the downstream recovers a re-run processes it.
    app.FAIL_TRANSIENTLY.clear()
    summary = run(capsys, str(path))
    assert (summary["processed"], summary["duplicate"]) == (1, 1)


def test_process_reads_bytes_and_dead_letters_only_the_bad_lines(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], app: ModuleType
) -> None:
    """A non-UTF-8 byte or a lone surrogate costs its own line only: the other lines are processed and every bad
    line is dead-lettered (the whole file used to abort, 0 of 37 processed)."""
    good = [json.dumps(make_event("customer.start", f"c-{n}")).encode() for n in range(37)]
    good[5] = json.dumps(make_event("attributes", "c-5", attributes={"note": "a\u2028b"}), ensure_ascii=False).encode()
    undecodable = good[0][:30] + b"\xff\xfe" + good[0][30:]
    surrogate_bytes = b'{"x": "\xed\xa0\x80"}'  # a UTF-8-encoded surrogate: not UTF-8
    escaped = [
        json.dumps(make_event("customer.end", f"c-{n}")).replace(f'"c-{n}"', '"c-\\ud800"', 1).encode()
        for n in range(20)
    ]
    lines = [*good[:10], undecodable, *escaped, surrogate_bytes, *good[10:]]
    path = tmp_path / "hostile.jsonl"
    path.write_bytes(b"\r\n".join(lines) + b"\r\n")

    summary = run(capsys, str(path))

    assert (summary["records"], summary["processed"], summary["dead_lettered"]) == (59, 37, 22)
    assert summary["dead_letter_reasons"] == {"not_utf8": 2, "invalid_text": 20}
    assert len(app.EFFECTS) == 37
    letters = {
        mid: (reason, body, message)
        for reason, body, mid, message in rows(db, "SELECT reason, body, message_id, message FROM dead_letters")
    }
    reason, body, message = letters["line-11"]
    assert reason == "not_utf8"
    assert "0xff at byte offset 30" in message
    assert isinstance(body, bytes)  # a BLOB (the escaped text, surrogatepass-encoded): nothing lost
    from gcevents.adapters.sqlite import SqliteDatabase, SqliteDeadLetterSink
    from gcevents.text import original_bytes

    stored = {s.letter.message_id: s.letter for s in SqliteDeadLetterSink(SqliteDatabase(db)).scan(100)}
    assert original_bytes(stored["line-11"].body) == undecodable
    assert original_bytes(stored["line-32"].body) == surrogate_bytes
    assert stored["line-12"].body == escaped[0].decode()


def test_empty_file(db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("\n\n", encoding="utf-8")
    summary = run(capsys, str(path))
    assert (summary["records"], summary["processed"], summary["dead_lettered"]) == (0, 0, 0)


def test_setup_creates_tables_and_queues_on_aws_and_is_idempotent(
    aws: str, unique_name: str, boto_client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GCEVENTS_IDEMPOTENCY_STORE", f"dynamodb:{unique_name}-idem")
    monkeypatch.setenv("GCEVENTS_STATE_STORE", f"dynamodb:{unique_name}-state")
    monkeypatch.setenv("GCEVENTS_DLQ", "sqs:unused")
    argv = ["setup", "--queue", unique_name, "--max-receive-count", "4", "--json"]
    assert cli.main(argv) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["idempotency_table"] == f"{unique_name}-idem (created)"
    assert first["state_table"] == f"{unique_name}-state (created)"
    assert cli.main(argv) == 0  # a second run finds everything in place
    second = json.loads(capsys.readouterr().out)
    assert second["idempotency_table"] == f"{unique_name}-idem (exists)"
    assert second["queue_url"] == first["queue_url"]
    dynamodb, sqs = boto_client("dynamodb"), boto_client("sqs")
    ttl = dynamodb.describe_time_to_live(TableName=f"{unique_name}-idem")["TimeToLiveDescription"]
    assert ttl["AttributeName"] == "ttl"
    redrive = json.loads(
        sqs.get_queue_attributes(QueueUrl=first["queue_url"], AttributeNames=["RedrivePolicy"])["Attributes"][
            "RedrivePolicy"
        ]
    )
    assert redrive["deadLetterTargetArn"] == first["dlq_arn"]
    assert int(redrive["maxReceiveCount"]) == 4


def test_counts_are_exact_on_real_shaped_input_with_resends(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 20: `processed` is the number of unique events and `duplicate` the number of re-sends; a second run
    of the same file is all duplicates. Conversation events here run claim-free (the state store is on)."""
    from gcevents.testing.workload import make_spike

    monkeypatch.delenv("GCEVENTS_STATE_STORE")
    monkeypatch.delenv("GCEVENTS_HANDLERS")  # the state alone: every event claim-free
    spike = make_spike(700, duplicate_rate=0.12, malformed=0, untrusted=0, seed=20)
    path = tmp_path / "spike.jsonl"
    path.write_text("\n".join(spike.bodies) + "\n")
    first, second = run(capsys, str(path)), run(capsys, str(path))
    assert (first["processed"], first["duplicate"]) == (spike.unique_events, spike.duplicates)
    assert (second["processed"], second["duplicate"]) == (0, spike.total)


def test_a_message_delivered_twice_in_a_saved_batch_is_counted_twice(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """processed + duplicate + dead_lettered + unfinished == records: the second copy of one SQS message is a
    duplicate, not a record the summary forgets."""
    batch = sqs_batch([make_event("customer.start", "c-1"), make_event("customer.end", "c-1")])
    batch["Records"].append(dict(batch["Records"][0]))  # the same message (same messageId), received again
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(batch))
    summary = run(capsys, str(path))
    assert (summary["records"], summary["processed"], summary["duplicate"]) == (3, 2, 1)


def test_setup_creates_the_shared_budget_table_when_configured(
    aws: str, unique_name: str, boto_client: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GENESYS_BUDGET_SCOPE=shared needs GENESYS_BUDGET_TABLE: setup creates it as the template does (key `pk`)."""
    monkeypatch.setenv("GCEVENTS_IDEMPOTENCY_STORE", "memory")
    monkeypatch.setenv("GCEVENTS_STATE_STORE", "off")
    monkeypatch.setenv("GCEVENTS_DLQ", "memory")
    monkeypatch.setenv("GENESYS_CLIENT_ID", "client-1")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("GENESYS_REGION", "mypurecloud.ie")
    monkeypatch.setenv("GENESYS_BUDGET_SCOPE", "shared")
    monkeypatch.setenv("GENESYS_BUDGET_TABLE", f"{unique_name}-budget")
    assert cli.main(["setup", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["budget_table"] == f"{unique_name}-budget (created)"
    assert cli.main(["setup", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["budget_table"] == f"{unique_name}-budget (exists)"
    table = boto_client("dynamodb").describe_table(TableName=f"{unique_name}-budget")["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk"]
    monkeypatch.setenv("GENESYS_BUDGET_SCOPE", "token")  # the table is only for the shared scope
    assert cli.main(["setup", "--json"]) == 0
    assert "budget_table" not in json.loads(capsys.readouterr().out)
