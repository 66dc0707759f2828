"""DynamoDB idempotency store.

Item: pk (S), status (S), token (S), lease_until (N, epoch ms), expires_at (N, epoch ms), ttl (N, epoch s).
`ttl` is only for DynamoDB's TTL garbage collection, which can lag 48 h; validity is decided from the
timestamps inside the condition expressions."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from ..errors import StoreUnavailableError
from ..ports import Claim, ClaimResult, ClaimStatus
from .aws import error_code, translate

_CLAIMABLE = (
    "attribute_not_exists(pk)"
    " OR (#status = :in_progress AND lease_until < :now)"
    " OR (#status = :completed AND expires_at < :now)"
)
_BATCH_RETRIES = 5  # for UnprocessedKeys / UnprocessedItems, with exponential backoff


class DynamoDbIdempotencyStore:
    def __init__(self, client: Any, table: str, *, sleep: Any = time.sleep) -> None:
        self.client = client
        self.table = table
        self._sleep = sleep

    def completed(self, keys: Sequence[str], now_ms: int) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 100):  # BatchGetItem: 100 keys per call
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [{"pk": {"S": k}} for k in dict.fromkeys(keys[start : start + 100])],
                    "ProjectionExpression": "pk, #status, expires_at",
                    "ExpressionAttributeNames": {"#status": "status"},
                }
            }
            for attempt in range(_BATCH_RETRIES + 1):
                try:
                    response = self.client.batch_get_item(RequestItems=request)
                except Exception as exc:
                    raise translate(exc, "dynamodb batch_get_item") from exc
                for item in response.get("Responses", {}).get(self.table, []):
                    if item["status"]["S"] == "COMPLETED" and int(item["expires_at"]["N"]) > now_ms:
                        found.add(item["pk"]["S"])
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                self._sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise StoreUnavailableError("dynamodb batch_get_item: keys left unprocessed")
        return found

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
        try:
            self.client.put_item(
                TableName=self.table,
                Item={
                    "pk": {"S": key},
                    "status": {"S": "IN_PROGRESS"},
                    "token": {"S": token},
                    "lease_until": {"N": str(lease_until_ms)},
                    "ttl": {"N": str(lease_until_ms // 1000 + 3600)},
                },
                ConditionExpression=_CLAIMABLE,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":in_progress": {"S": "IN_PROGRESS"},
                    ":completed": {"S": "COMPLETED"},
                    ":now": {"N": str(now_ms)},
                },
                # The holder comes back with the failure: no second read to learn why we lost.
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, "dynamodb put_item (claim)") from exc
            old = getattr(exc, "response", {}).get("Item") or {}
            if old.get("status", {}).get("S") == "COMPLETED":
                return ClaimResult(ClaimStatus.COMPLETED)
            lease = old.get("lease_until", {}).get("N")
            return ClaimResult(ClaimStatus.IN_PROGRESS, int(lease) if lease else None)
        return ClaimResult(ClaimStatus.CLAIMED)

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        # Unconditional batched puts (25 per call): we hold the lease until the deadline, and the effects
        # are done either way, so COMPLETED is the truth even if a lease had lapsed.
        unique = list({c.key: c for c in claims}.values())
        for start in range(0, len(unique), 25):
            requests: list[dict[str, Any]] = [
                {
                    "PutRequest": {
                        "Item": {
                            "pk": {"S": c.key},
                            "status": {"S": "COMPLETED"},
                            "token": {"S": c.token},
                            "expires_at": {"N": str(expires_at_ms)},
                            "ttl": {"N": str(expires_at_ms // 1000)},
                        }
                    }
                }
                for c in unique[start : start + 25]
            ]
            pending: dict[str, Any] = {self.table: requests}
            for attempt in range(_BATCH_RETRIES + 1):
                try:
                    response = self.client.batch_write_item(RequestItems=pending)
                except Exception as exc:
                    raise translate(exc, "dynamodb batch_write_item (complete)") from exc
                pending = response.get("UnprocessedItems") or {}
                if not pending:
                    break
                self._sleep(min(1.0, 0.05 * 2**attempt))
            else:
                raise StoreUnavailableError("dynamodb batch_write_item: items left unprocessed")

    def release(self, claim: Claim) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"pk": {"S": claim.key}},
                # Only our own IN_PROGRESS claim: a late release must not delete a completion (same token).
                ConditionExpression="#token = :token AND #status = :in_progress",
                ExpressionAttributeNames={"#token": "token", "#status": "status"},
                ExpressionAttributeValues={":token": {"S": claim.token}, ":in_progress": {"S": "IN_PROGRESS"}},
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return  # completed, or re-taken by someone else after our lease ended: not ours to delete
            raise translate(exc, "dynamodb delete_item (release)") from exc


def create_idempotency_table(client: Any, table: str) -> bool:
    """Create the table (on demand, TTL on `ttl`) if missing. Returns True if it was created."""
    created = False
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        created = True
    except Exception as exc:
        if error_code(exc) != "ResourceInUseException":
            raise translate(exc, f"dynamodb create_table {table}") from exc
    client.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
    ttl = client.describe_time_to_live(TableName=table).get("TimeToLiveDescription", {})
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "ttl"})
    return created
