"""Creating the tables template.yaml declares, for local runs and tests: on demand, one string hash key, TTL."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gcevents.adapters.aws import error_code, translate

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def create_table(client: DynamoDBClient, table: str, *, key: str = "pk", ttl_attribute: str | None = None) -> bool:
    """Create `table` if missing and wait until it is active; with `ttl_attribute`, make sure TTL is on.
    Idempotent. True if this call created it."""
    created = False
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        created = True
    except Exception as exc:
        if error_code(exc) != "ResourceInUseException":
            raise translate(exc, f"dynamodb create_table {table}") from exc
    try:
        client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        if ttl_attribute is not None:
            ttl = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
            if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
                client.update_time_to_live(
                    TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl_attribute}
                )
    except Exception as exc:
        raise translate(exc, f"dynamodb wait for {table}") from exc
    return created
