"""`gcevents replay` against moto's EventBridge, which implements archives and replays (StartReplay re-delivers
synchronously, DescribeReplay reports COMPLETED; it delivers to every matching rule of the bus, ignoring
`FilterArns`, so what FilterArns said is checked on DescribeReplay's answer instead). Replayed events carry
`replay-name`; they parse to the same content keys, so the pipeline finds them already processed."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from gcevents.adapters.replay import REPLAY_PREFIX, EventBridgeReplays, ReplayRequest
from gcevents.config import Config, StoreSpec
from gcevents.core.events import RawRecord, parse_record
from gcevents.core.pipeline import Outcome
from gcevents.entrypoints import cli
from gcevents.entrypoints.runtime import build_runtime
from gcevents.errors import ConfigError
from gcevents.testing.workload import TRUSTED_SOURCE, conversation_lifecycle

TOPICS = [
    f"v2.detail.events.conversation.{{id}}.{k}"
    for k in (
        "customer.start",
        "customer.end",
        "user.start",
        "user.end",
        "acw",
        "wrapup",
        "flow.start",
        "flow.end",
        "acd.start",
        "acd.end",
    )
]


@pytest.fixture
def stack(boto_client: Any, unique_name: str) -> dict[str, Any]:
    """A bus, the stack's rule to a queue, and an archive with the rule's pattern (what template.yaml builds)."""
    events, sqs = boto_client("events"), boto_client("sqs")
    bus_arn = events.create_event_bus(Name=unique_name)["EventBusArn"]
    queue = sqs.create_queue(QueueName=unique_name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": [{"prefix": TRUSTED_SOURCE.rsplit("/", 1)[0] + "/"}], "detail-type": TOPICS}
    rule_arn = events.put_rule(Name="genesys", EventBusName=unique_name, EventPattern=json.dumps(pattern))["RuleArn"]
    events.put_targets(Rule="genesys", EventBusName=unique_name, Targets=[{"Id": "queue", "Arn": queue_arn}])
    archive = events.create_archive(
        ArchiveName=unique_name, EventSourceArn=bus_arn, EventPattern=json.dumps(pattern), RetentionDays=7
    )
    return {
        "events": events,
        "sqs": sqs,
        "bus": unique_name,
        "queue": queue,
        "rule": rule_arn,
        "archive": archive["ArchiveArn"],
    }


def drain(sqs: Any, queue: str) -> list[str]:
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=queue, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(batch)]
        )
    return bodies


def put(stack: dict[str, Any], envelopes: list[dict[str, Any]]) -> None:
    entries = [
        {
            "Source": e["source"],
            "DetailType": e["detail-type"],
            "Detail": json.dumps(e["detail"]),
            "EventBusName": stack["bus"],
        }
        for e in envelopes
    ]
    for start in range(0, len(entries), 10):
        assert stack["events"].put_events(Entries=entries[start : start + 10])["FailedEntryCount"] == 0


def test_a_replay_redelivers_the_window_and_the_pipeline_finds_every_event_processed(
    stack: dict[str, Any], tmp_path: Any
) -> None:
    import random

    envelopes = conversation_lifecycle("c-replay", 1_764_000_000_000, random.Random(1))
    put(stack, envelopes)
    first = drain(stack["sqs"], stack["queue"])
    assert len(first) == len(envelopes)
    runtime = build_runtime(
        Config(
            idempotency_store=StoreSpec("sqlite", str(tmp_path / "db")),
            state_store=StoreSpec("sqlite", str(tmp_path / "db")),
            dead_letters=StoreSpec("memory"),
        )
    )
    report = runtime.pipeline.run([RawRecord(b, f"m{n}") for n, b in enumerate(first)], time.time() + 60)
    assert report.counts()["processed"] == len(envelopes)

    now = datetime.now(tz=UTC)
    replays = EventBridgeReplays(stack["events"], sleep=lambda _s: None)
    started = replays.start(ReplayRequest(stack["archive"], stack["rule"], now - timedelta(hours=1), now))
    assert started.name.startswith(REPLAY_PREFIX)
    done = replays.wait(started.name, poll=0)
    assert (done.state, done.progress, done.rules) == ("COMPLETED", 1.0, [stack["rule"]])

    again = drain(stack["sqs"], stack["queue"])
    assert len(again) == len(envelopes)
    assert all(json.loads(body)["replay-name"] == started.name for body in again)
    keys = {parse_record(RawRecord(b)).content_key for b in first}  # type: ignore[union-attr]
    assert {parse_record(RawRecord(b)).content_key for b in again} == keys  # type: ignore[union-attr]
    assert runtime.state_store is not None
    before = runtime.state_store.get("c-replay")
    replayed = runtime.pipeline.run([RawRecord(b, f"r{n}") for n, b in enumerate(again)], time.time() + 60)
    # Every one a duplicate: the once-per-session events are late and claim their (applied) keys; the others only
    # feed the state, run claim-free, and the projection finds them already applied (the item is not rewritten).
    facts = {n for n, b in enumerate(again) if parse_record(RawRecord(b)).fact_key is not None}  # type: ignore[union-attr]
    assert facts
    for n, result in enumerate(replayed.results):
        assert (result.outcome, result.reason == "already_applied") == (Outcome.DUPLICATE, n not in facts), n
    assert runtime.state_store.get("c-replay") == before


def test_a_topic_replay_goes_through_a_temporary_rule_that_is_deleted_when_the_replay_ends(
    stack: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    events = stack["events"]
    now = datetime.now(tz=UTC)
    args = [
        "replay",
        "--from",
        (now - timedelta(hours=1)).isoformat(),
        "--to",
        now.isoformat(),
        "--archive",
        stack["archive"],
        "--rule",
        stack["rule"],
        "--topic",
        "customer.end",
        "--topic",
        "acw",
        "--no-wait",
        "--json",
    ]
    assert cli.main(args) == 0
    status = json.loads(capsys.readouterr().out.splitlines()[-1])
    name = status["replayName"]
    (temporary,) = status["rules"]
    assert temporary.endswith(f"/{stack['bus']}/{name}")
    rule = events.describe_rule(Name=name, EventBusName=stack["bus"])
    pattern = json.loads(rule["EventPattern"])
    assert pattern["detail-type"] == [TOPICS[1], TOPICS[4]]
    assert pattern["replay-name"] == [name]  # never matches a live event
    targets = events.list_targets_by_rule(Rule=name, EventBusName=stack["bus"])["Targets"]
    assert [t["Arn"] for t in targets] == [
        t["Arn"] for t in events.list_targets_by_rule(Rule="genesys", EventBusName=stack["bus"])["Targets"]
    ]

    assert cli.main(["replay", "--status", name, "--json"]) == 0  # moto replays synchronously: COMPLETED
    assert json.loads(capsys.readouterr().out)["state"] == "COMPLETED"
    names = [r["Name"] for r in events.list_rules(EventBusName=stack["bus"])["Rules"]]
    assert name not in names
    assert "genesys" in names  # the stack's rule is never deleted


def test_a_topic_the_rule_does_not_route_is_refused_before_anything_is_created(stack: dict[str, Any]) -> None:
    replays = EventBridgeReplays(stack["events"])
    now = datetime.now(tz=UTC)
    with pytest.raises(ConfigError, match="not a topic the rule routes"):
        replays.start(ReplayRequest(stack["archive"], stack["rule"], now - timedelta(hours=1), now, ("voicemail.end",)))
    assert stack["events"].list_replays(EventSourceArn=stack["archive"])["Replays"] == []
