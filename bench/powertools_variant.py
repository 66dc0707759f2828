"""(b) Powertools for AWS Lambda, set up as favourably as it honestly can be for this job.

SQS -> Lambda (event source mapping, ReportBatchItemFailures), `BatchProcessor(event_type=EventType.SQS)` with
`process_partial_response`, and per record an `@idempotent_function` on `DynamoDBPersistenceLayer` keyed by a
hash of `detail` (so re-sends with new envelope ids are caught, which the envelope id would not do). The record
handler makes one single-conversation analytics call (Powertools has no bulk enrichment, and BatchProcessor
runs records one after another) and writes the conversation state with `put_item`. A failure (429, 5xx)
raises: Powertools deletes the in-progress record and reports the item as failed; SQS redelivers it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

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
from .tutorial import CachedToken


class PowertoolsFunction:
    def __init__(self, env: BenchEnv, effects: EffectLog, dynamo_counter: RequestCounter) -> None:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        client = env.client("dynamodb")
        idempotency_table = _create_table(client, env.table_name("b", "idem"), "id")
        state_table = _create_table(client, env.table_name("b", "state"), "conversationId")
        dynamo_counter.attach(client)  # after setup: only the work is counted
        persistence = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=client)
        config = IdempotencyConfig(event_key_jmespath="detail", raise_on_no_idempotency_key=True)
        settings = env.simulator.settings()
        http = httpx.Client(timeout=10.0)
        token = CachedToken(http, settings.login_base_url, settings.client_id, settings.client_secret.reveal())
        processor = BatchProcessor(event_type=EventType.SQS)
        current: dict[str, str] = {}  # message id of the record in hand (BatchProcessor is sequential)
        self.http = http

        @idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config)  # type: ignore[untyped-decorator]
        def process_event(event: dict[str, Any]) -> dict[str, Any]:
            body = event["detail"]["eventBody"]
            conversation_id = body["conversationId"]
            response = http.get(
                f"{settings.api_base_url}/api/v2/analytics/conversations/{conversation_id}/details",
                headers={"Authorization": f"Bearer {token.get()}"},
            )
            response.raise_for_status()
            details = response.json()
            client.put_item(
                TableName=state_table,
                Item={
                    "conversationId": {"S": conversation_id},
                    "lastTopic": {"S": event["detail"]["topicName"]},
                    "eventTime": {"N": str(body["eventTime"])},
                    "details": {"S": json.dumps(details)},
                    "updatedAt": {"N": str(int(time.time() * 1000))},
                },
            )
            effects.record(current["message_id"])
            return {"conversationId": conversation_id}

        def record_handler(record: SQSRecord) -> None:
            current["message_id"] = record.message_id
            process_event(event=json.loads(record.body))

        def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
            config.register_lambda_context(context)  # in-progress records expire with the invocation
            return dict(
                process_partial_response(
                    event=event, record_handler=record_handler, processor=processor, context=context
                )
            )

        self.lambda_handler = lambda_handler


def _create_table(client: Any, name: str, key: str) -> str:
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name


def run(env: BenchEnv, workload: Workload, *, track_memory: bool = True) -> VariantResult:
    params = env.params
    effects = EffectLog(workload)
    dynamo = RequestCounter(params.aws_rtt_ms)
    function = PowertoolsFunction(env, effects, dynamo)
    queue = event_source_mapping(workload, params, "bench-powertools")
    env.simulator.reset_stats()
    with measure_memory(track_memory) as peak:
        started = time.perf_counter()
        # A raised invocation ("All records failed processing") makes SQS redeliver the whole batch.
        invocations = invoke_until_empty(queue, function.lambda_handler, params.visibility_timeout)
        wall = time.perf_counter() - started
    function.http.close()
    accounting = account(workload.message_ids, set(queue.redriven), effects, workload.identity)
    notes = [f"{queue.stats.redeliveries} redeliveries"] if queue.stats.redeliveries else []
    if invocations.whole_batch_failures:
        notes.append(f"{invocations.whole_batch_failures} invocations failed as a whole")
    return VariantResult(
        name="b",
        label="Powertools BatchProcessor + idempotent_function",
        events=workload.total,
        unique_events=workload.unique_events,
        wall_seconds=wall,
        invocations=invocations.count,
        batch_latencies_ms=invocations.latencies_ms,
        genesys=env.simulator.stats(),
        dynamodb_requests=dict(dynamo.by_operation),
        other_aws_requests={},
        accounting=accounting,
        double_effects=effects.double_effects(),
        peak_memory_mb=peak(),
        deliveries=queue.stats.deliveries,
        notes=notes,
    )
