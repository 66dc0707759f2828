"""(c) gcevents: the Lambda entry point (`process_invocation`) with a Runtime built from the environment, exactly
as `gcevents.handler` builds it in Lambda: DynamoDB idempotency and state, SQS dead letters, the Genesys client
pointed at the simulator, the default enrichment (`customer.end` and `acw`). A router handler on those two topics is
the side effect; the built-in state projection keeps the state. SQS-shaped batches; batchItemFailures are
redelivered like (b).

The state is checked after the run, outside the measurement: an event counts as applied when the stored state of its
conversation already contains it (joining the event's delta changes nothing, `gcevents.core.state`)."""

from __future__ import annotations

import io
import os
from collections import Counter
from typing import Any

from .harness import (
    BenchEnv,
    EffectLog,
    VariantResult,
    Workload,
    account,
    event_source_mapping,
    invoke_until_empty,
    measured,
    queue_sqs_requests,
)

EFFECT_PATTERNS = ("v2.detail.events.conversation.{id}.customer.end", "v2.detail.events.conversation.{id}.acw")


class _Discard(io.StringIO):
    """EMF metrics are still serialised (their cost is real in Lambda), just not printed here."""

    def write(self, text: str) -> int:
        return len(text)


def build(env: BenchEnv, effects: EffectLog) -> tuple[Any, str, str]:
    from gcevents.adapters.dynamodb import create_idempotency_table, create_state_table
    from gcevents.config import Config
    from gcevents.core.router import Router
    from gcevents.entrypoints.runtime import build_runtime

    setup = env.client("dynamodb")
    idem, state = env.table_name("idem"), env.table_name("state")
    create_idempotency_table(setup, idem)
    create_state_table(setup, state)
    dlq_url = env.client("sqs").create_queue(QueueName=env.table_name("dlq"))["QueueUrl"]
    config = Config.from_env(
        {
            "GCEVENTS_IDEMPOTENCY_STORE": f"dynamodb:{idem}",
            "GCEVENTS_STATE_STORE": f"dynamodb:{state}",
            "GCEVENTS_DLQ": f"sqs:{dlq_url}",
            "GCEVENTS_LOG_LEVEL": "WARNING",
            **env.genesys,  # pacing as deployed: adaptive (the limits API once, then AIMD on 429)
            "GCEVENTS_CLAIM_MODE": env.params.claim_mode,
        }
    )
    router = Router()

    def side_effect(event: Any, context: Any) -> None:
        effects.record(event.message_id)  # the CRM update

    router.on(*EFFECT_PATTERNS)(side_effect)
    runtime = build_runtime(config, router=router)
    runtime.metrics.stream = _Discard()
    return runtime, state, dlq_url


def run(env: BenchEnv, workload: Workload) -> VariantResult:
    from gcevents.adapters.sqs import SqsDeadLetterSink
    from gcevents.entrypoints.lambda_handler import process_invocation

    params = env.params
    effects = EffectLog(workload)
    # gcevents builds its boto3 clients from the environment, as in Lambda: point them at moto.
    os.environ["AWS_ENDPOINT_URL"] = env.endpoint
    runtime, state_table, dlq_url = build(env, effects)
    outcomes: Counter[str] = Counter()
    pipeline_run = runtime.pipeline.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        report = pipeline_run(*args, **kwargs)
        outcomes.update(report.counts())
        return report

    runtime.pipeline.run = counted  # type: ignore[method-assign]
    queue = event_source_mapping(workload, params, env.batch_size, "bench-gcevents")
    with measured(env) as m:
        invocations = invoke_until_empty(
            queue, lambda event, context: process_invocation(runtime, event, context), params.visibility_timeout
        )
    letters = _drain(SqsDeadLetterSink(env.client("sqs"), dlq_url))
    effects.reflected(applied_events(env.client("dynamodb"), state_table, workload))
    notes = [f"{queue.stats.redeliveries} redeliveries"] if queue.stats.redeliveries else []
    if letters:
        notes.append(f"{len(letters)} records dead-lettered by gcevents")
    return VariantResult.measured_run(
        m,
        workload,
        name="c",
        label="gcevents (SQS batches, process_invocation)",
        batch_size=env.batch_size,
        invocation_seconds=invocations.seconds,
        sqs_requests=queue_sqs_requests(invocations),
        accounting=account(workload, effects),
        duplicates_skipped=outcomes["duplicate"],
        dead_lettered=len(set(queue.redriven) | {m for m in letters if m}),
        notes=notes,
    )


def applied_events(client: Any, table: str, workload: Workload) -> set[str]:
    """The identities of the unique events the stored state contains (a join with the event changes nothing)."""
    from gcevents.adapters.dynamodb.state import from_item
    from gcevents.core.events import GenesysEvent, RawRecord, parse_record
    from gcevents.core.state import Observation, delta, join

    stored: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            item = from_item(raw)
            stored[item.conversation_id] = item.state
    applied: set[str] = set()
    for identity, body in workload.unique.items():
        event = parse_record(RawRecord(payload=body))
        assert isinstance(event, GenesysEvent)
        state = stored.get(event.conversation_id or "")
        if state is not None and join(state, delta(Observation(event))) == state:
            applied.add(identity)
    return applied


def _drain(sink: Any) -> list[str | None]:
    found: list[str | None] = []
    while batch := sink.receive(max_messages=10, visibility_timeout=300):
        found.extend(stored.letter.message_id for stored in batch)
    return found
