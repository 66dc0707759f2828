"""End to end on real parts: the workload (re-sends, duplicates, shuffled order, malformed events) through
`gcevents process` and the runtime's pipeline on SQLite, to the test-kit receiver on 127.0.0.1, under faults."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gcevents.config import Config
from gcevents.core.events import GenesysEvent, RawRecord, parse_record
from gcevents.core.pipeline import Outcome
from gcevents.entrypoints import cli
from gcevents.entrypoints.runtime import build_runtime
from gcevents.testing.sinks import WebhookReceiver
from gcevents.testing.workload import Spike, make_spike

pytestmark = pytest.mark.slow

SECRET = "whsec-e2e"
RAW = "v2.detail.events.conversation.{id}.acw"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as server:
        yield server


def expectations(spike: Spike) -> tuple[set[str], int]:
    """Conversations that ended (their customer.end is among the unique events) and unique acw events."""
    ended: set[str] = set()
    acw: set[str] = set()
    for body in spike.bodies:
        parsed = parse_record(RawRecord(body))
        if isinstance(parsed, GenesysEvent) and parsed.conversation_id:
            if parsed.kind == "conversation.customer.end":
                ended.add(parsed.conversation_id)
            elif parsed.kind == "conversation.acw":
                acw.add(parsed.content_key)
    return ended, len(acw)


def process(path: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    status = cli.main(["process", str(path), "--json", "--max-wait", "1", *extra])
    summary: dict[str, Any] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    # docs/cli.md: 0 when every record was processed or a duplicate, 3 when some were dead-lettered or unfinished.
    assert status == (3 if summary["dead_lettered"] or summary["unfinished"] else 0)
    return summary


def test_process_delivers_one_signed_completed_per_conversation_and_nothing_on_a_rerun(
    receiver: WebhookReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spike = make_spike(500, duplicate_rate=0.25, malformed=3, untrusted=0, seed=11)
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(spike.bodies))
    monkeypatch.setenv("GCEVENTS_DB", str(tmp_path / "g.db"))
    monkeypatch.setenv("GCEVENTS_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("GCEVENTS_WEBHOOK_ALLOW_LOOPBACK", "true")  # the receiver listens on 127.0.0.1
    monkeypatch.setenv("GCEVENTS_WEBHOOK_TIMEOUT", "0.5")
    monkeypatch.setenv("GCEVENTS_WEBHOOK_BREAKER", "50")
    # Faults on the way: 500s, a 429 with a short Retry-After, a request that outlives the client's timeout.
    receiver.fail_next(3, status=500)
    receiver.fail_next(1, status=429, retry_after=1)
    receiver.fail_next(1, status=503)
    receiver.fail_next(1, delay=1.0)
    summary = process(path, capsys, "--sink", f"webhook:{receiver.url}|derived,{RAW}", "--max-attempts", "5")
    ended, acw = expectations(spike)
    assert summary["dead_lettered"] == 3  # the malformed ones, nothing else
    assert receiver.bad_signatures == 0
    assert receiver.completed_per_conversation() == dict.fromkeys(ended, 1)
    assert len(receiver.of_type("genesys.event")) == acw
    assert max(receiver.keys().values()) == 1  # no record accepted twice
    before = len(receiver.snapshot())
    process(path, capsys, "--sink", f"webhook:{receiver.url}|derived,{RAW}")
    assert len(receiver.snapshot()) == before  # the same input again delivers nothing new


def test_an_endpoint_down_for_longer_than_a_batch_loses_nothing_and_burns_no_requests(
    receiver: WebhookReceiver, tmp_path: Path
) -> None:
    spike = make_spike(240, duplicate_rate=0.0, malformed=0, untrusted=0, seed=5)
    env = {
        "GCEVENTS_DB": str(tmp_path / "g.db"),
        "GCEVENTS_SINKS": f"webhook:{receiver.url}",
        "GCEVENTS_WEBHOOK_SECRET": SECRET,
        "GCEVENTS_WEBHOOK_BREAKER": "3",
        "GCEVENTS_WEBHOOK_BREAKER_SECONDS": "0.3",
        "GCEVENTS_COMPLETION_GRACE": "0",
        "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
    }
    runtime = build_runtime(Config.from_env(env))
    records = [RawRecord(body, f"m{n}", f"r{n}") for n, body in enumerate(spike.bodies)]
    receiver.down = True
    first = runtime.pipeline.run(records, time.time() + 60)
    retried = [r for r in first.results if r.outcome is Outcome.RETRY]
    assert retried
    assert all(r.retry_after for r in retried)  # handed back with a delay, not at the visibility timeout
    calls_while_down = receiver.requests
    assert calls_while_down <= 3 * 3  # the circuit opened after 3 failures (each with its inline retries)
    second = runtime.pipeline.run([r.record for r in retried], time.time() + 60)
    assert receiver.requests <= calls_while_down + 3  # open (or one half-open probe): no hammering
    receiver.down = False
    pending = [r.record for r in second.results if r.outcome is Outcome.RETRY]
    for _ in range(10):
        if not pending:
            break
        time.sleep(0.35)  # let the circuit's open period pass
        report = runtime.pipeline.run(pending, time.time() + 60)
        pending = [r.record for r in report.results if r.outcome is Outcome.RETRY]
    assert pending == []
    ended, _ = expectations(spike)
    assert receiver.completed_per_conversation() == dict.fromkeys(ended, 1)
    assert Counter(receiver.keys().values()) == {1: len(receiver.snapshot())}


def test_sinks_test_posts_a_signed_sample(
    receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GCEVENTS_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("GCEVENTS_WEBHOOK_ALLOW_LOOPBACK", "true")  # the receiver listens on 127.0.0.1
    assert cli.main(["sinks", "test", "--sink", f"webhook:{receiver.url}"]) == 0
    (received,) = receiver.snapshot()
    assert received.type == "conversation.completed"
    assert received.document["conversation"]["wrapupComplete"] is True
    out = capsys.readouterr().out
    assert "delivered (2xx)" in out
    assert SECRET not in out
    receiver.fail_next(1, status=400, body=f'{{"error":"nope","echo":"{SECRET}"}}')
    assert cli.main(["sinks", "test", "--sink", f"webhook:{receiver.url}"]) == 1
    out = capsys.readouterr().out
    assert "400" in out
    assert SECRET not in out
