"""OpenTelemetry spans through the API: with an SDK and an in-memory exporter, one invocation yields the batch,
claim, enrich, handle (one per conversation group), outputs and complete spans, with their counts."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from factories import ALLOWED_PREFIX, make_event, resend, sqs_batch
from gcevents.adapters.otel import OtelTracer
from gcevents.config import Config
from gcevents.core.events import GenesysEvent
from gcevents.core.router import HandlerContext, Router
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.ports import NOOP_TRACER


@pytest.fixture
def exporter() -> Iterator[tuple[InMemorySpanExporter, TracerProvider]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter, provider
    provider.shutdown()


def router_failing_for(conversation: str) -> Router:
    router = Router()

    @router.on("v2.detail.events.conversation.{id}.*")
    def handle(event: GenesysEvent, context: HandlerContext) -> None:
        if event.conversation_id == conversation:
            raise RuntimeError("CRM said no")

    return router


def by_name(spans: tuple[ReadableSpan, ...]) -> dict[str, list[ReadableSpan]]:
    found: dict[str, list[ReadableSpan]] = {}
    for span in spans:
        found.setdefault(span.name, []).append(span)
    return found


def test_an_invocation_yields_the_pipeline_spans_with_their_counts(
    exporter: tuple[InMemorySpanExporter, TracerProvider], tmp_path: Any
) -> None:
    memory, provider = exporter
    config = Config.from_env(
        {"GCEVENTS_DB": str(tmp_path / "g.db"), "GCEVENTS_ALLOWED_SOURCES": ALLOWED_PREFIX, "GCEVENTS_TRACING": "otel"}
    )
    runtime = build_runtime(config, router=router_failing_for("c-bad"))
    assert isinstance(runtime.pipeline.tracer, OtelTracer)
    runtime.pipeline.tracer = OtelTracer(provider.get_tracer("gcevents"))
    events = [make_event("customer.end", f"c-{i}") for i in range(3)] + [make_event("customer.end", "c-bad")]
    process_invocation(runtime, sqs_batch([*events, resend(events[0]), "{bad json"]), None)

    spans = by_name(memory.get_finished_spans())
    assert {"batch", "claim", "enrich", "handle", "handle.conversation", "complete"} <= set(spans)
    (batch,) = spans["batch"]
    assert dict(batch.attributes or {}) == {
        "gcevents.records": 6,
        "gcevents.processed": 3,
        "gcevents.duplicate": 1,
        "gcevents.dead_lettered": 1,
        "gcevents.retry": 1,
        "gcevents.outcome": "retry",
    }
    for step in ("claim", "enrich", "handle", "complete"):
        (span,) = spans[step]
        assert span.parent is not None
        assert span.parent.span_id == batch.context.span_id, step
    assert spans["claim"][0].attributes == {"gcevents.events": 4, "gcevents.claimed": 4, "gcevents.claim_free": 0}
    assert spans["handle"][0].attributes == {"gcevents.events": 4, "gcevents.failed": 1}
    assert spans["complete"][0].attributes == {"gcevents.dead_letters": 1}
    groups = spans["handle.conversation"]
    assert sorted(str((g.attributes or {})["gcevents.conversation_id"]) for g in groups) == [
        "c-0",
        "c-1",
        "c-2",
        "c-bad",
    ]
    handle = spans["handle"][0].context.span_id
    assert all(g.parent is not None and g.parent.span_id == handle for g in groups)  # across the handler threads
    (failed,) = [g for g in groups if (g.attributes or {})["gcevents.failed"] == 1]
    assert (failed.attributes or {})["gcevents.conversation_id"] == "c-bad"


def test_the_enrich_span_counts_the_genesys_calls(exporter: tuple[InMemorySpanExporter, TracerProvider]) -> None:
    from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

    memory, provider = exporter
    with GenesysSimulator(SimulatorOptions(client_id="cid", client_secret="s")) as simulator:
        env = {"GENESYS_CLIENT_ID": "cid", "GENESYS_CLIENT_SECRET": "s", "GENESYS_API_BASE_URL": simulator.base_url}
        config = Config.from_env(
            {
                **env,
                "GCEVENTS_IDEMPOTENCY_STORE": "memory",
                "GCEVENTS_DLQ": "memory",
                "GCEVENTS_STATE_STORE": "off",
                "GCEVENTS_ALLOWED_SOURCES": ALLOWED_PREFIX,
            }
        )
        runtime = build_runtime(config)
        runtime.pipeline.tracer = OtelTracer(provider.get_tracer("gcevents"))
        process_invocation(runtime, sqs_batch([make_event("customer.end", f"c-{i}") for i in range(3)]), None)
    (enrich,) = by_name(memory.get_finished_spans())["enrich"]
    attributes = dict(enrich.attributes or {})
    assert attributes["gcevents.genesys_api_calls"] == runtime.api_stats()["api_calls"] >= 1
    assert attributes["gcevents.conversations"] == 3


def test_tracing_off_is_the_noop_tracer(tmp_path: Any) -> None:
    runtime = build_runtime(Config.from_env({"GCEVENTS_DB": str(tmp_path / "g.db"), "GCEVENTS_TRACING": "off"}))
    assert runtime.pipeline.tracer is NOOP_TRACER


def test_without_an_sdk_the_default_tracer_sends_nothing_and_costs_no_sdk_import(tmp_path: Any) -> None:
    code = (
        "import sys; from gcevents.config import Config; from gcevents.entrypoints.runtime import build_runtime;"
        "from gcevents.entrypoints.lambda_handler import process_invocation;"
        "r = build_runtime(Config.from_env({'GCEVENTS_DB': sys.argv[1]}));"
        "process_invocation(r, {'Records': []}, None);"
        "print('tracer', type(r.pipeline.tracer).__name__, sorted(m for m in sys.modules if 'opentelemetry.sdk' in m))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "g.db")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1] == "tracer OtelTracer []"


def test_deliveries_to_a_sink_are_an_outputs_span_under_handle(
    exporter: tuple[InMemorySpanExporter, TracerProvider], tmp_path: Any
) -> None:
    from gcevents.testing.sinks import WebhookReceiver

    memory, provider = exporter
    with WebhookReceiver("whsec-trace") as receiver:
        config = Config.from_env(
            {
                "GCEVENTS_DB": str(tmp_path / "g.db"),
                "GCEVENTS_ALLOWED_SOURCES": ALLOWED_PREFIX,
                "GCEVENTS_SINKS": f"webhook:{receiver.url}|v2.detail.events.conversation.{{id}}.customer.end",
                "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
                "GCEVENTS_WEBHOOK_SECRET": "whsec-trace",
            }
        )
        runtime = build_runtime(config, tracer=OtelTracer(provider.get_tracer("gcevents")))  # pipeline and sinks
        process_invocation(runtime, sqs_batch([make_event("customer.end", "c-1")]), None)
    spans = by_name(memory.get_finished_spans())
    (outputs,) = spans["outputs"]
    assert dict(outputs.attributes or {}) == {"gcevents.records": 1, "gcevents.failed": 0}
    (handle,) = spans["handle"]
    assert outputs.parent is not None
    assert outputs.parent.span_id == handle.context.span_id


def test_without_the_api_installed_the_default_runs_untraced(tmp_path: Any) -> None:
    """An artifact built without opentelemetry-api still processes events: no spans, a warning."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None;"  # an import of it fails, as if not installed
        "from gcevents.config import Config; from gcevents.entrypoints.runtime import build_runtime;"
        "from gcevents.ports import NOOP_TRACER;"
        "r = build_runtime(Config.from_env({'GCEVENTS_DB': sys.argv[1]})); print(r.pipeline.tracer is NOOP_TRACER)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "g.db")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
    assert "opentelemetry-api is not installed" in out.stderr
