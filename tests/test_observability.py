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
        assert metric["Unit"] in {"Count", "Milliseconds", "Seconds"}
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
    runtime = build_runtime(
        Config.from_env({"GCEVENTS_DB": str(tmp_path / "g.db"), "GCEVENTS_ATTRIBUTES": "allow:tier"})
    )
    start = make_event("customer.start", "c-1", event_time=1_000_000)
    newer = make_event("attributes", "c-1", event_time=3_000_000, attributes={"tier": "gold"})
    older = make_event("attributes", "c-1", event_time=2_000_000, attributes={"tier": "bronze"})
    process_invocation(runtime, sqs_batch([start, newer]), None)
    process_invocation(runtime, sqs_batch([older]), None)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [emf_metrics(d)["State.stale_events_ignored"] for d in documents] == [0, 1]
    # The older one is seen for the first time: processed (superseded: the newer one was there first), no duplicate.
    assert [(emf_metrics(d)["EventsProcessed"], emf_metrics(d)["DuplicatesSkipped"]) for d in documents] == [
        (2, 0),
        (1, 0),
    ]
    state = runtime.state_store.get("c-1")
    assert "gold" in json.dumps(state.state)
    assert "bronze" not in json.dumps(state.state)


def test_every_metric_has_its_unit_and_the_first_batch_says_cold_start() -> None:
    stream = io.StringIO()
    emitter = MetricsEmitter("ns", "svc", stream=stream)
    counters = {"Api.rate_limit_wait_seconds": 2.5, "Api.api_calls": 4, "State.conversations_written": 1}
    emitter.emit_batch(BatchReport(started=1.0, finished=1.5), counters)
    emitter.emit_batch(BatchReport(started=2.0, finished=2.5), counters)
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    units = {m["Name"]: m["Unit"] for m in first["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["Api.rate_limit_wait_seconds"] == "Seconds"
    assert units["Api.api_calls"] == units["State.conversations_written"] == units["EventsIn"] == "Count"
    assert units["BatchDuration"] == "Milliseconds"
    assert units["ColdStart"] == "Count"
    assert first["ColdStart"] == 1
    assert "ColdStart" not in second  # once per container
    assert first["service"] == "svc"
    assert first["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, ("gcevents", "gcevents", "INFO")),
        (
            {"POWERTOOLS_SERVICE_NAME": "pt-svc", "POWERTOOLS_METRICS_NAMESPACE": "pt-ns", "LOG_LEVEL": "DEBUG"},
            ("pt-ns", "pt-svc", "DEBUG"),
        ),
        (
            {
                "GCEVENTS_SERVICE_NAME": "svc",
                "GCEVENTS_METRICS_NAMESPACE": "stack-a",
                "GCEVENTS_LOG_LEVEL": "WARNING",
                "POWERTOOLS_SERVICE_NAME": "pt-svc",
                "LOG_LEVEL": "DEBUG",
            },
            ("stack-a", "svc", "WARNING"),
        ),
    ],
)
def test_namespace_service_and_log_level_come_from_the_environment(
    env: dict[str, str], expected: tuple[str, str, str], tmp_path: Any
) -> None:
    config = Config.from_env({"GCEVENTS_DB": str(tmp_path / "g.db"), **env})
    assert (config.metrics_namespace, config.service_name, config.log_level) == expected
    runtime = build_runtime(config)
    assert (runtime.metrics.namespace, runtime.metrics.service) == expected[:2]


# ------------------------------------------------------------------------------------------------ tracing
TRACE_HEADER = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_xray_spans_wrap_claim_enrich_handle_complete(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from gcevents.adapters.xray import XRayTracer

    sent: list[bytes] = []
    runtime = build_runtime(Config.from_env({"GCEVENTS_DB": str(tmp_path / "g.db"), "GCEVENTS_TRACING": "xray"}))
    assert isinstance(runtime.pipeline.tracer, XRayTracer)
    runtime.pipeline.tracer = XRayTracer(trace_header=lambda: TRACE_HEADER, send=sent.append)
    process_invocation(runtime, sqs_batch([make_event("customer.end", "c-1")]), None)
    documents = []
    for datagram in sent:
        header, _, body = datagram.partition(b"\n")
        assert json.loads(header) == {"format": "json", "version": 1}
        documents.append(json.loads(body))
    assert [d["name"] for d in documents] == ["claim", "enrich", "handle", "complete", "batch"]  # as they end
    assert documents[-1]["annotations"]["gcevents_processed"] == 1
    for document in documents:
        assert document["type"] == "subsegment"
        assert document["trace_id"] == "1-5759e988-bd862e3fe1be46a994272793"
        assert document["parent_id"] == "53995c3f42cd8ad8"
        assert len(document["id"]) == 16
        assert document["start_time"] <= document["end_time"]


def test_xray_span_reaches_the_daemon_over_udp_and_records_a_fault() -> None:
    import socket

    from gcevents.adapters.xray import XRayTracer

    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(5)
    try:
        tracer = XRayTracer(f"127.0.0.1:{daemon.getsockname()[1]}", trace_header=lambda: TRACE_HEADER)
        with pytest.raises(RuntimeError), tracer.span("handle"):
            raise RuntimeError("crm down")
        document = json.loads(daemon.recv(65536).partition(b"\n")[2])
    finally:
        daemon.close()
    assert document["name"] == "handle"
    assert document["fault"] is True
    assert document["cause"]["exceptions"][0]["message"] == "crm down"


def test_unsampled_invocations_and_tracing_off_send_nothing(tmp_path: Any) -> None:
    from gcevents.adapters.xray import XRayTracer
    from gcevents.ports import NOOP_TRACER

    sent: list[bytes] = []
    tracer = XRayTracer(trace_header=lambda: TRACE_HEADER.replace("Sampled=1", "Sampled=0"), send=sent.append)
    with tracer.span("claim"):
        pass
    outside_lambda = XRayTracer(trace_header=lambda: None, send=sent.append)
    with outside_lambda.span("claim"):
        pass
    assert sent == []
    runtime = build_runtime(Config.from_env({"GCEVENTS_DB": str(tmp_path / "g.db"), "GCEVENTS_TRACING": "off"}))
    assert runtime.pipeline.tracer is NOOP_TRACER


def test_tracing_off_imports_no_tracer() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from gcevents.config import Config; from gcevents.entrypoints.runtime import build_runtime;"
        "build_runtime(Config.from_env({'GCEVENTS_IDEMPOTENCY_STORE': 'sqlite:' + sys.argv[1],"
        " 'GCEVENTS_STATE_STORE': 'off', 'GCEVENTS_DLQ': 'sqlite:' + sys.argv[1]}));"
        "print([m for m in sys.modules if 'xray' in m])"
    )
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        out = subprocess.run([sys.executable, "-c", code, directory + "/g.db"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_dead_letters_offloaded_to_s3_are_a_runtime_counter() -> None:
    """`DeadLetters.offloaded`: SQS dead letters whose body went to S3 (GCEVENTS_DLQ_BUCKET), emitted per batch."""
    runtime = build_runtime(
        Config.from_env(
            {
                "GCEVENTS_DLQ": "sqs:https://sqs.us-east-1.amazonaws.com/1/dlq",
                "GCEVENTS_DLQ_BUCKET": "b",
                "GCEVENTS_IDEMPOTENCY_STORE": "memory",
                "GCEVENTS_STATE_STORE": "off",
            }
        ),
        clients={"sqs": object(), "s3": object()},
    )
    assert runtime.counters()["DeadLetters.offloaded"] == 0
    runtime.dead_letters.offloaded = 2  # type: ignore[attr-defined]
    assert runtime.counters()["DeadLetters.offloaded"] == 2
