"""(c) gcevents: the Lambda entry point (`process_invocation`) with a Runtime built from the environment, exactly
as `gcevents.handler` builds it in Lambda: DynamoDB idempotency and state, SQS dead letters, the Genesys client
pointed at the simulator. SQS-shaped batches; batchItemFailures are redelivered like (b)."""

from __future__ import annotations

import io
import os
import time
from typing import Any

from .harness import (
    BenchEnv,
    EffectLog,
    RequestCounter,
    VariantResult,
    Workload,
    account,
    event_source_mapping,
    invoke_until_empty,
    measure_memory,
)

# Every conversation topic the workload carries: the same enrichment work the per-event variants do.
ENRICH_KINDS = tuple(
    f"conversation.{kind}"
    for kind in (
        "customer.start", "flow.start", "flow.end", "acd.start", "acd.end",
        "user.start", "user.end", "customer.end", "acw", "wrapup",
    )
)  # fmt: skip


class _Discard(io.StringIO):
    """EMF metrics are still serialised (their cost is real in Lambda), just not printed here."""

    def write(self, text: str) -> int:
        return len(text)


def build(env: BenchEnv, effects: EffectLog, dynamo: RequestCounter, other: RequestCounter) -> tuple[Any, Any, str]:
    from gcevents.adapters.dynamodb import create_idempotency_table, create_state_table
    from gcevents.config import Config
    from gcevents.core.router import Router
    from gcevents.entrypoints.runtime import build_runtime

    setup = env.client("dynamodb")
    idem, state = env.table_name("c", "idem"), env.table_name("c", "state")
    create_idempotency_table(setup, idem)
    create_state_table(setup, state)
    dlq_url = env.client("sqs").create_queue(QueueName=env.table_name("c", "dlq"))["QueueUrl"]
    config = Config.from_env(
        {
            "GCEVENTS_IDEMPOTENCY_STORE": f"dynamodb:{idem}",
            "GCEVENTS_STATE_STORE": f"dynamodb:{state}",
            "GCEVENTS_DLQ": f"sqs:{dlq_url}",
            "GCEVENTS_ENRICH_KINDS": ",".join(ENRICH_KINDS),
            "GCEVENTS_LOG_LEVEL": "WARNING",
            **env.simulator.env(),
            "GENESYS_RATE_PER_MINUTE": str(env.params.rate_per_minute),
            "GCEVENTS_CLAIM_MODE": env.params.claim_mode,
        }
    )
    router = Router()

    def side_effect(event: Any, context: Any) -> None:
        effects.record(event.message_id)

    router.add("v2.detail.events.conversation.*", side_effect)
    runtime = build_runtime(config, router=router)
    dynamo.attach(runtime.clients["dynamodb"])
    other.attach(runtime.clients["sqs"])
    runtime.metrics.stream = _Discard()
    return runtime, setup, dlq_url


def run(env: BenchEnv, workload: Workload, *, track_memory: bool = True) -> VariantResult:
    from gcevents.adapters.sqs import SqsDeadLetterSink
    from gcevents.entrypoints.lambda_handler import process_invocation

    params = env.params
    effects = EffectLog(workload)
    dynamo, other = RequestCounter(params.aws_rtt_ms), RequestCounter(params.aws_rtt_ms)
    # gcevents builds its boto3 clients from the environment, as in Lambda: point them at moto.
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = env.endpoint
    try:
        runtime, _setup, dlq_url = build(env, effects, dynamo, other)
        queue = event_source_mapping(workload, params, "bench-gcevents")
        env.simulator.reset_stats()
        with measure_memory(track_memory) as peak:
            started = time.perf_counter()
            invocations = invoke_until_empty(
                queue, lambda event, context: process_invocation(runtime, event, context), params.visibility_timeout
            )
            wall = time.perf_counter() - started
        client_stats = runtime.api_stats()
        letters = _drain(SqsDeadLetterSink(env.client("sqs"), dlq_url))
    finally:
        if previous is None:
            os.environ.pop("AWS_ENDPOINT_URL", None)
        else:
            os.environ["AWS_ENDPOINT_URL"] = previous
    dead = set(queue.redriven) | {m for m in letters if m}
    accounting = account(workload.message_ids, dead, effects, workload.identity)
    notes = [f"{queue.stats.redeliveries} redeliveries"] if queue.stats.redeliveries else []
    if letters:
        notes.append(f"{len(letters)} records dead-lettered by gcevents")
    notes.append(
        "client: "
        + ", ".join(f"{k}={int(v)}" for k, v in client_stats.items() if v and k.startswith(("calls.", "rate")))
    )
    return VariantResult(
        name="c",
        label="gcevents (SQS batches, process_invocation)",
        events=workload.total,
        unique_events=workload.unique_events,
        wall_seconds=wall,
        invocations=invocations.count,
        batch_latencies_ms=invocations.latencies_ms,
        genesys=env.simulator.stats(),
        dynamodb_requests=dict(dynamo.by_operation),
        other_aws_requests=dict(other.by_operation),
        accounting=accounting,
        double_effects=effects.double_effects(),
        peak_memory_mb=peak(),
        deliveries=queue.stats.deliveries,
        notes=notes,
    )


def _drain(sink: Any) -> list[str | None]:
    found: list[str | None] = []
    while batch := sink.receive(max_messages=10, visibility_timeout=300):
        found.extend(stored.letter.message_id for stored in batch)
    return found
