"""(b) Powertools for AWS Lambda, set up as favourably as it honestly can be for this job.

SQS -> Lambda (event source mapping, ReportBatchItemFailures), `BatchProcessor(event_type=EventType.SQS)` with
`process_partial_response`, and per record an `@idempotent_function` on `DynamoDBPersistenceLayer` keyed by a
hash of `detail` (so re-sends with new envelope ids are caught, which the envelope id would not do). The record
handler makes, for `customer.end` and `acw`, one single-conversation analytics call (Powertools has no bulk
enrichment, and BatchProcessor runs records one after another) and the side effect, and for every event writes the
conversation state with `put_item` (a summary of the details, as gcevents keeps, not the whole document). A
failure (429, 5xx) raises: Powertools deletes the in-progress record and reports the item as failed; SQS
redelivers it."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from .harness import (
    BenchEnv,
    EffectLog,
    VariantResult,
    Workload,
    account,
    event_source_mapping,
    invoke_until_empty,
    is_effect_topic,
    measured,
    queue_sqs_requests,
)
from .tutorial import CachedToken


class PowertoolsFunction:
    def __init__(self, env: BenchEnv, effects: EffectLog) -> None:
        from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
        from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
        from aws_lambda_powertools.utilities.idempotency import (
            DynamoDBPersistenceLayer,
            IdempotencyConfig,
            idempotent_function,
        )

        client = env.client("dynamodb")
        idempotency_table = _create_table(client, env.table_name("idem"), "id")
        state_table = _create_table(client, env.table_name("state"), "conversationId")
        persistence = DynamoDBPersistenceLayer(table_name=idempotency_table, boto3_client=client)
        config = IdempotencyConfig(event_key_jmespath="detail", raise_on_no_idempotency_key=True)
        settings = env.genesys_settings()
        http = httpx.Client(timeout=10.0)
        token = CachedToken(http, settings.login_base_url, settings.client_id, settings.client_secret.reveal())
        processor = BatchProcessor(event_type=EventType.SQS)
        current: dict[str, str] = {}  # message id of the record in hand (BatchProcessor is sequential)
        self.http = http
        self.calls = 0  # record handler calls that ran the function (the rest were idempotency hits)

        @idempotent_function(data_keyword_argument="event", persistence_store=persistence, config=config)  # type: ignore[untyped-decorator]
        def process_event(event: dict[str, Any]) -> dict[str, Any]:
            self.calls += 1
            topic = event["detail"]["topicName"]
            body = event["detail"]["eventBody"]
            conversation_id = body["conversationId"]
            item = {
                "conversationId": {"S": conversation_id},
                "lastTopic": {"S": topic},
                "eventTime": {"N": str(body["eventTime"])},
                "updatedAt": {"N": str(int(time.time() * 1000))},
            }
            if is_effect_topic(topic):
                response = http.get(
                    f"{settings.api_base_url}/api/v2/analytics/conversations/{conversation_id}/details",
                    headers={"Authorization": f"Bearer {token.get()}"},
                )
                response.raise_for_status()
                item["details"] = {"S": json.dumps(summary(response.json()), separators=(",", ":"))}
                effects.record(current["message_id"])  # the CRM update
            client.put_item(TableName=state_table, Item=item)
            effects.record_state(current["message_id"])
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


def summary(details: dict[str, Any]) -> dict[str, Any]:
    """The few analytics facts worth keeping next to the state, as gcevents keeps them (the full details are
    several KB: storing them would cost Powertools write units it need not spend)."""
    participants = details.get("participants") or []
    out = {k: details[k] for k in ("conversationStart", "conversationEnd", "originatingDirection") if k in details}
    out["divisionIds"] = sorted(details.get("divisionIds") or [])
    out["participantCount"] = len(participants)
    return out


def _create_table(client: Any, name: str, key: str) -> str:
    client.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    return name


def run(env: BenchEnv, workload: Workload) -> VariantResult:
    params = env.params
    effects = EffectLog(workload)
    function = PowertoolsFunction(env, effects)
    queue = event_source_mapping(workload, params, env.batch_size, "bench-powertools")
    with measured(env) as m:
        # A raised invocation ("All records failed processing") makes SQS redeliver the whole batch.
        invocations = invoke_until_empty(queue, function.lambda_handler, params.visibility_timeout)
    function.http.close()
    notes = [f"{queue.stats.redeliveries} redeliveries"] if queue.stats.redeliveries else []
    if invocations.whole_batch_failures:
        notes.append(f"{invocations.whole_batch_failures} invocations failed as a whole")
    return VariantResult.measured_run(
        m,
        workload,
        name="b",
        label="Powertools BatchProcessor + idempotent_function",
        batch_size=env.batch_size,
        invocation_seconds=invocations.seconds,
        sqs_requests=queue_sqs_requests(invocations),
        accounting=account(workload, effects),
        duplicates_skipped=sum(invocations.batch_sizes) - function.calls,
        dead_lettered=len(queue.redriven),
        notes=notes,
    )
