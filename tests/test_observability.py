"""Structured JSON logs, CloudWatch EMF metrics, and no secret anywhere in what the handler prints."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest

from factories import ALLOWED_PREFIX, make_event, resend, sqs_batch
from gcevents.config import Config
from gcevents.core.pipeline import BatchReport
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.observability import JsonFormatter, MetricsEmitter


def emf_metrics(document: dict[str, Any]) -> dict[str, Any]:
    """Validate the EMF envelope the way CloudWatch does and return name -> value."""
    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert isinstance(document["_aws"]["Timestamp"], int)
    for dimension_set in directive["Dimensions"]:
        for dimension in dimension_set:
            assert isinstance(document[dimension], str)
    values = {}
    for metric in directive["Metrics"]:
        assert metric["Unit"] in {"Count", "Milliseconds"}
        values[metric["Name"]] = document[metric["Name"]]
    return values


def test_json_log_lines_carry_extra_fields() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("gcevents.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    logger.warning("retry", extra={"conversationId": "c-1", "reason": "enrichment_not_ready"})
    line = json.loads(stream.getvalue())
    assert line["message"] == "retry"
    assert line["level"] == "WARNING"
    assert line["conversationId"] == "c-1"
    assert line["reason"] == "enrichment_not_ready"


@pytest.fixture
def genesys_env() -> Any:
    from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

    secret = "s3cr3t-value-that-must-never-leak"
    with GenesysSimulator(SimulatorOptions(client_id="cid", client_secret=secret)) as simulator:
        yield (
            secret,
            {
                "GENESYS_CLIENT_ID": "cid",
                "GENESYS_CLIENT_SECRET": secret,
                "GENESYS_API_BASE_URL": simulator.base_url,
            },
        )


def test_handler_emits_emf_per_batch_and_never_prints_the_secret(
    genesys_env: Any, tmp_path: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    secret, env = genesys_env
    config = Config.from_env(
        {
            **env,
            "GCEVENTS_DB": str(tmp_path / "g.db"),
            "GCEVENTS_ALLOWED_SOURCES": ALLOWED_PREFIX,
            "GCEVENTS_LOG_LEVEL": "DEBUG",
        }
    )
    runtime = build_runtime(config)
    events = [make_event("customer.end", f"c-{i}") for i in range(5)]
    batch = sqs_batch([*events, resend(events[0]), "{bad json"])
    caplog.set_level(logging.DEBUG)
    response = process_invocation(runtime, batch, None)
    assert response == {"batchItemFailures": []}

    out = capsys.readouterr()
    (document,) = [json.loads(line) for line in out.out.splitlines() if line.startswith("{")]
    metrics = emf_metrics(document)
    assert metrics["EventsIn"] == 7
    assert metrics["EventsProcessed"] == 5
    assert metrics["DuplicatesSkipped"] == 1
    assert metrics["DeadLettered"] == 1
    assert metrics["DeadLettered.not_json"] == 1
    assert metrics["Api.api_calls"] >= 1  # the bulk lookup (and the token) for the customer.end events

    everything = out.out + out.err + caplog.text + repr(runtime) + repr(config)
    assert secret not in everything
    assert runtime.genesys is not None


def test_emitter_writes_one_line_per_batch() -> None:
    stream = io.StringIO()
    report = BatchReport(started=1.0, finished=1.5)
    MetricsEmitter("ns", stream=stream).emit_batch(report, {"Api.calls": 3})
    (line,) = stream.getvalue().splitlines()
    document = json.loads(line)
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ns"
    assert emf_metrics(document)["BatchDuration"] == 500.0
    assert emf_metrics(document)["Api.calls"] == 3


def test_stale_events_are_counted_not_applied(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    runtime = build_runtime(Config.from_env({"GCEVENTS_DB": str(tmp_path / "g.db")}))
    start = make_event("customer.start", "c-1", event_time_ms=1_000_000)
    newer = make_event("attributes", "c-1", event_time_ms=3_000_000, attributes={"tier": "gold"})
    older = make_event("attributes", "c-1", event_time_ms=2_000_000, attributes={"tier": "bronze"})
    process_invocation(runtime, sqs_batch([start, newer]), None)
    process_invocation(runtime, sqs_batch([older]), None)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [emf_metrics(d)["State.stale_events_ignored"] for d in documents] == [0, 1]
    assert [emf_metrics(d)["EventsProcessed"] for d in documents] == [2, 1]
    state = runtime.state_store.get("c-1")
    assert "gold" in json.dumps(state.state)
    assert "bronze" not in json.dumps(state.state)
