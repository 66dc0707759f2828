"""`python -m bench.cost_inputs`: the per-event sizes `gcevents plan` prices CloudWatch Logs and the data lake with.

Runs complete conversation lifecycles (`gcevents.testing.workload`) through the Lambda entry point in batches of
100, on SQLite stores, with the derived records going to an in-memory sink, and counts:
- the bytes gcevents writes to the function's log per event at INFO (its JSON lines and the EMF document of each
  batch; Lambda's own START/END/REPORT lines are not gcevents' and are priced apart);
- events per conversation, derived records per event and their average size in bytes (what a lake receives).
Writes bench/results/cost-inputs.json."""

from __future__ import annotations

import io
import json
import logging
import random
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from gcevents.config import Config
from gcevents.core.outputs import DERIVED, Deliveries, OutputSettings, Route
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.observability import JsonFormatter, MetricsEmitter
from gcevents.testing.sinks import RecordingSink
from gcevents.testing.workload import conversation_lifecycle

OUT = Path(__file__).resolve().parent / "results" / "cost-inputs.json"
BATCH = 100


def measure(conversations: int = 200, seed: int = 5) -> dict[str, Any]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for _ in range(conversations):
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        events += conversation_lifecycle(cid, 1_796_000_000_000 + rng.randrange(0, 600_000), rng)
    logs, metrics = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(logs)
    handler.setFormatter(JsonFormatter("gcevents-prod"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    sink = RecordingSink()
    with tempfile.TemporaryDirectory() as directory:
        config = Config.from_env({"GCEVENTS_DB": f"{directory}/g.db", "GCEVENTS_TRACING": "off"})
        runtime = build_runtime(config)
        runtime.metrics = MetricsEmitter(config.metrics_namespace, "gcevents-prod", stream=metrics)
        _route_derived(runtime, sink)
        context = type("Context", (), {"aws_request_id": str(uuid.uuid4()), "function_name": "gcevents-prod-Function"})
        for start in range(0, len(events), BATCH):
            batch = {"Records": [_record(e, n) for n, e in enumerate(events[start : start + BATCH])]}
            process_invocation(runtime, batch, context())
    root.removeHandler(handler)
    records = sink.delivered
    log_bytes = len(logs.getvalue().encode()) + len(metrics.getvalue().encode())
    return {
        "events": len(events),
        "batch_size": BATCH,
        "log_bytes_per_event": round(log_bytes / len(events), 1),
        "events_per_conversation": round(len(events) / conversations, 2),
        "lake_records_per_event": round(len(records) / len(events), 4),
        "lake_record_bytes": round(sum(len(r.body) for r in records) / max(1, len(records)), 1),
    }


def _route_derived(runtime: Any, sink: RecordingSink) -> None:
    """The built-in projection's outputs go to `sink` (what DataLakeSelect=derived sends to Firehose)."""
    from gcevents.core.outputs import ConversationOutputs

    projection = runtime.projection
    deliveries = Deliveries(runtime.pipeline.idempotency)
    settings = OutputSettings(grace_seconds=0)  # every ended conversation goes out now
    projection.outputs = ConversationOutputs([Route(sink, "lake", DERIVED)], deliveries, settings=settings)


def _record(event: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "messageId": str(uuid.uuid4()),
        "receiptHandle": f"r-{n}",
        "body": json.dumps(event),
        "attributes": {"ApproximateReceiveCount": "1"},
        "eventSourceARN": "arn:aws:sqs:us-east-1:1:q",
    }


if __name__ == "__main__":
    result = measure()
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    json.dump(result, sys.stdout, indent=2)
