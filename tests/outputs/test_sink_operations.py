"""Sinks in operations: a sink that is down is named in retry reasons (`sink_failed:<sink>`, not `handler_failed`),
and each kind of sink has its metrics: delivered, failed, calls, latency, seconds of open circuit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from factories import ALLOWED_PREFIX, make_event, sqs_batch
from gcevents.config import Config
from gcevents.core.outputs import DERIVED
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.errors import TransientError
from gcevents.ports import OutboundRecord
from gcevents.testing.sinks import RecordingSink, WebhookReceiver

from .kit import lifecycles, make_kit

RAW = "v2.detail.events.conversation.{id}.customer.end"


def down(record: OutboundRecord) -> Exception | None:
    return TransientError("memory:recording: 503 Service Unavailable", retry_after=30)


def test_a_sink_that_is_down_is_named_in_the_retry_reasons_not_as_a_handler_failure() -> None:
    ((_cid, events),) = lifecycles(1, seed=3).items()
    kit = make_kit([(RecordingSink(fail=down), DERIVED, ())])
    report = kit.run(events)
    reasons = [r.reason or "" for r in report.retries()]
    assert reasons
    assert all(r.startswith("sink_failed:memory:recording: ") for r in reasons), reasons
    assert not any("handler_failed" in r for r in reasons)
    assert all(r.retry_after == 30 for r in report.retries())  # the sink's hint survives the label


def test_each_kind_of_sink_counts_delivered_failed_calls_and_latency() -> None:
    ((_cid, events),) = lifecycles(1, seed=4).items()
    failing = [True]
    sink = RecordingSink(fail=lambda record: down(record) if failing[0] else None)
    kit = make_kit([(sink, DERIVED, ())])
    deliveries = kit.deliveries
    assert deliveries is not None
    kit.run(events)
    failed = deliveries.sink_counters()
    assert failed["sink.memory.failed"] >= 1
    assert failed["sink.memory.delivered"] == 0
    failing[0] = False
    kit.run(events)  # the retry
    counters = deliveries.sink_counters()
    assert counters["sink.memory.delivered"] == 1  # one conversation.completed
    assert counters["sink.memory.calls"] == sink.calls
    assert counters["sink.memory.latency_ms"] >= 0


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver("whsec-ops") as server:
        yield server


def test_a_webhook_that_is_down_opens_its_circuit_and_the_batch_metrics_say_so(
    receiver: WebhookReceiver, tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    config = Config.from_env(
        {
            "GCEVENTS_DB": str(tmp_path / "g.db"),
            "GCEVENTS_ALLOWED_SOURCES": ALLOWED_PREFIX,
            "GCEVENTS_SINKS": f"webhook:{receiver.url}|{RAW}",
            "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
            "GCEVENTS_WEBHOOK_SECRET": "whsec-ops",
            "GCEVENTS_WEBHOOK_BREAKER": "1",
            "GCEVENTS_WEBHOOK_BREAKER_SECONDS": "60",
            "GCEVENTS_TRACING": "off",
        }
    )
    runtime = build_runtime(config)
    receiver.fail_next(10, status=503)
    response = process_invocation(runtime, sqs_batch([make_event("customer.end", "c-1")]), None)
    assert len(response["batchItemFailures"]) == 1
    (document,) = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert document["Outputs.sink.webhook.failed"] == 1
    assert document["Outputs.sink.webhook.delivered"] == 0
    assert document["Outputs.sink.webhook.circuit_open_seconds"] == 60
    assert document["Retried"] == 1
    assert document["summary"]["retry_reasons"] == {"sink_failed": 1}
    (retry,) = [r for r in caplog.records if r.getMessage() == "retry"]
    assert retry.__dict__["reason"].startswith("sink_failed:webhook:127.0.0.1: ")
    units = {m["Name"]: m["Unit"] for m in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["Outputs.sink.webhook.circuit_open_seconds"] == "Seconds"
    assert units["Outputs.sink.webhook.latency_ms"] == "Milliseconds"
