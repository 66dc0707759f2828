"""DynamoDB idempotency store.

Item: pk (S), status (S), token (S), lease_until (N, epoch ms), expires_at (N, epoch ms), ttl (N, epoch s).
`ttl` is only for DynamoDB's TTL garbage collection, which can lag 48 h; validity is decided from the
timestamps inside the condition expressions."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from gcevents.adapters.aws import error_code, error_response, translate
from gcevents.adapters.dynamodb.batch import batch_get_all, batch_write_all
from gcevents.adapters.dynamodb.tables import create_table
from gcevents.errors import StoreUnavailableError
from gcevents.ports import Claim, ClaimResult, ClaimStatus, Failure
from gcevents.retry import LEFTOVER_BACKOFF_BASE, LEFTOVER_BACKOFF_CAP, TRANSACTION_ROUNDS, RetryBudget
from gcevents.text import storable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# A claim wins a missing key, a lapsed lease, an expired completion, or a lease that already carries its own token:
# the SDK retries a timed-out write whose first attempt may have landed, and that claim is still ours.
_CLAIMABLE = (
    "attribute_not_exists(pk)"
    " OR (#status = :in_progress AND (lease_until < :now OR #token = :token))"
    " OR (#status = :completed AND expires_at < :now)"
    " OR #status = :failed"  # a failure record (see `release`) is claimable like a missing item
)
_TRANSACTION_ITEMS = 100  # TransactWriteItems: at most 100 actions per request
_TRANSACTION_KEY_RETRIES = 2  # per key, for TransactionConflict / throttling reasons
_RETRYABLE_REASONS = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)


class DynamoDbIdempotencyStore:
    """Attempt bounds (see `gcevents.retry`; each call is up to SDK_MAX_ATTEMPTS HTTP attempts): `completed`
    ceil(n/100) + LEFTOVER_RETRIES BatchGetItem calls, `complete` ceil(n/25) + LEFTOVER_RETRIES BatchWriteItem
    calls, `claim_many` TRANSACTION_ROUNDS transactions per 100 keys (then one PutItem per key left), `claim` /
    `release` / `renew` one call."""

    def __init__(self, client: DynamoDBClient, table: str, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.table = table
        self._sleep = sleep

    def completed(self, keys: Sequence[str], now_ms: int) -> set[str]:
        items = batch_get_all(
            self.client,
            self.table,
            [{"pk": {"S": k}} for k in dict.fromkeys(keys)],
            what="dynamodb batch_get_item",
            sleep=self._sleep,
            ProjectionExpression="pk, #status, expires_at",
            ExpressionAttributeNames={"#status": "status"},
        )
        return {
            item["pk"]["S"]
            for item in items
            if item["status"]["S"] == "COMPLETED" and int(item["expires_at"]["N"]) > now_ms
        }

    def _claim_put(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> dict[str, Any]:
        """The conditional put of a claim: one shape for `claim` (PutItem) and `claim_many` (a transaction's Put)."""
        return {
            "TableName": self.table,
            "Item": {
                "pk": {"S": key},
                "status": {"S": "IN_PROGRESS"},
                "token": {"S": token},
                "lease_until": {"N": str(lease_until_ms)},
                "ttl": {"N": str(lease_until_ms // 1000 + 3600)},
            },
            "ConditionExpression": _CLAIMABLE,
            "ExpressionAttributeNames": {"#status": "status", "#token": "token"},
            "ExpressionAttributeValues": {
                ":in_progress": {"S": "IN_PROGRESS"},
                ":completed": {"S": "COMPLETED"},
                ":failed": {"S": "FAILED"},
                ":now": {"N": str(now_ms)},
                ":token": {"S": token},
            },
            # The holder comes back with the failure: no second read to learn why we lost.
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
        try:
            self.client.put_item(**self._claim_put(key, token, lease_until_ms, now_ms))
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, "dynamodb put_item (claim)") from exc
            return _held(error_response(exc).get("Item") or {})
        return ClaimResult(ClaimStatus.CLAIMED)

    def claim_many(
        self, items: Sequence[tuple[str, str]], lease_until_ms: int, now_ms: int
    ) -> dict[str, ClaimResult | Exception]:
        """Claim (key, token) pairs with one TransactWriteItems per 100 keys (same puts and conditions as
        `claim`). A transaction is all or nothing, so when one key's condition fails the whole request is
        cancelled: keys that got an answer (COMPLETED, IN_PROGRESS, an error) are settled from the per-item
        cancellation reasons, and the rest are resubmitted. A duplicate key keeps its first token."""
        first: dict[str, str] = {}  # a transaction may not touch one item twice
        for key, token in items:
            first.setdefault(key, token)
        unique = list(first.items())
        results: dict[str, ClaimResult | Exception] = {}
        for start in range(0, len(unique), _TRANSACTION_ITEMS):
            results.update(self._claim_chunk(unique[start : start + _TRANSACTION_ITEMS], lease_until_ms, now_ms))
        return results

    def _claim_chunk(
        self, items: Sequence[tuple[str, str]], lease_until_ms: int, now_ms: int
    ) -> dict[str, ClaimResult | Exception]:
        """At most TRANSACTION_ROUNDS transactions: a cancelled one settles the keys that got an answer and
        resubmits the rest; a round that resubmits a conflicting or throttled key backs off first (full jitter).
        Keys still pending after the last round are claimed one by one (one PutItem each)."""
        results: dict[str, ClaimResult | Exception] = {}
        conflicts: Counter[str] = Counter()
        budget = RetryBudget(
            TRANSACTION_ROUNDS - 1, base=LEFTOVER_BACKOFF_BASE, cap=LEFTOVER_BACKOFF_CAP, sleep=self._sleep
        )
        pending, backoff, first = list(items), False, True
        while pending:
            if not first and not (budget.retry() if backoff else budget.take()):
                # Under contention every round can meet keys other consumers took meanwhile, and cancel again. What
                # is still pending stood beside those: claim it one key at a time, as per-key mode does (a single
                # conditional put always answers), instead of handing healthy records back to burn a receive.
                results.update(self._claim_each(pending, lease_until_ms, now_ms))
                return results
            first = False
            reasons = self._transact(pending, lease_until_ms, now_ms)
            if reasons is None:
                results.update({key: ClaimResult(ClaimStatus.CLAIMED) for key, _ in pending})
                return results
            if isinstance(reasons, Exception):
                results.update({key: reasons for key, _ in pending})
                return results
            pending, backoff = _settle(pending, reasons, conflicts, results)
        return results

    def _claim_each(
        self, pending: Sequence[tuple[str, str]], lease_until_ms: int, now_ms: int
    ) -> dict[str, ClaimResult | Exception]:
        results: dict[str, ClaimResult | Exception] = {}
        for key, token in pending:
            try:
                results[key] = self.claim(key, token, lease_until_ms, now_ms)
            except Exception as exc:
                results[key] = exc
        return results

    def _transact(
        self, pending: Sequence[tuple[str, str]], lease_until_ms: int, now_ms: int
    ) -> list[Mapping[str, Any]] | Exception | None:
        """One TransactWriteItems: None when it committed, the per-item reasons when it was cancelled, or the
        translated error of a request that failed as a whole."""
        puts: list[Any] = [{"Put": self._claim_put(k, t, lease_until_ms, now_ms)} for k, t in pending]
        try:
            self.client.transact_write_items(TransactItems=puts)
        except Exception as exc:
            reasons = error_response(exc).get("CancellationReasons")
            cancelled = error_code(exc) == "TransactionCanceledException"
            if cancelled and isinstance(reasons, list) and len(reasons) == len(pending):
                return reasons
            return translate(exc, "dynamodb transact_write_items (claim)")
        return None

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        # Unconditional batched puts (25 per call): we hold the lease until the deadline, and the effects
        # are done either way, so COMPLETED is the truth even if a lease had lapsed.
        unique = {c.key: c for c in claims}.values()
        requests = [
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
            for c in unique
        ]
        batch_write_all(
            self.client, self.table, requests, what="dynamodb batch_write_item (complete)", sleep=self._sleep
        )

    def release(self, claim: Claim, failure: Failure | None = None) -> None:
        """Delete our claim, or with a `failure` replace it by a FAILED item holding it (one write either way),
        both only while it is our own IN_PROGRESS claim: a late release must not undo a completion (same token)."""
        condition: dict[str, Any] = {
            "ConditionExpression": "#token = :token AND #status = :in_progress",
            "ExpressionAttributeNames": {"#token": "token", "#status": "status"},
            "ExpressionAttributeValues": {":token": {"S": claim.token}, ":in_progress": {"S": "IN_PROGRESS"}},
        }
        try:
            if failure is None:
                self.client.delete_item(TableName=self.table, Key={"pk": {"S": claim.key}}, **condition)
            else:
                self.client.put_item(TableName=self.table, Item=_failure_item(claim, failure), **condition)
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return  # completed, or re-taken by someone else after our lease ended: not ours to change
            raise translate(exc, "dynamodb release") from exc

    def failures(self, keys: Sequence[str]) -> dict[str, Failure]:
        items = batch_get_all(
            self.client,
            self.table,
            [{"pk": {"S": k}} for k in dict.fromkeys(keys)],
            what="dynamodb batch_get_item (failures)",
            sleep=self._sleep,
            ProjectionExpression="pk, #status, last_error, attempts, failed_at, expires_at",
            ExpressionAttributeNames={"#status": "status"},
        )
        return {item["pk"]["S"]: _failure_of(item) for item in items if item["status"]["S"] == "FAILED"}

    def renew(self, claim: Claim, lease_until_ms: int) -> bool:
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": claim.key}},
                UpdateExpression="SET lease_until = :lease, #ttl = :ttl",
                # Only our own IN_PROGRESS claim: never extend a lease someone re-took, nor revive a completion.
                ConditionExpression="#token = :token AND #status = :in_progress",
                ExpressionAttributeNames={"#token": "token", "#status": "status", "#ttl": "ttl"},
                ExpressionAttributeValues={
                    ":lease": {"N": str(lease_until_ms)},
                    ":ttl": {"N": str(lease_until_ms // 1000 + 3600)},
                    ":token": {"S": claim.token},
                    ":in_progress": {"S": "IN_PROGRESS"},
                },
            )
        except Exception as exc:
            if error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise translate(exc, "dynamodb update_item (renew)") from exc
        return True


def _failure_item(claim: Claim, failure: Failure) -> dict[str, Any]:
    return {
        "pk": {"S": claim.key},
        "status": {"S": "FAILED"},
        "token": {"S": claim.token},
        "last_error": {"S": storable(failure.error)[:4000] or "-"},
        "attempts": {"N": str(failure.attempts)},
        "failed_at": {"N": str(failure.failed_at_ms)},
        "expires_at": {"N": str(failure.keep_until_ms)},
        "ttl": {"N": str(failure.keep_until_ms // 1000)},
    }


def _failure_of(item: Mapping[str, Any]) -> Failure:
    def number(name: str) -> int:
        return int(item.get(name, {}).get("N", "0"))

    return Failure(
        item.get("last_error", {}).get("S", ""), number("attempts"), number("failed_at"), number("expires_at")
    )


def _held(old: Mapping[str, Any]) -> ClaimResult:
    """Why a claim lost, from the item that failed the condition (ALL_OLD)."""
    if old.get("status", {}).get("S") == "COMPLETED":
        return ClaimResult(ClaimStatus.COMPLETED)
    lease = old.get("lease_until", {}).get("N")
    return ClaimResult(ClaimStatus.IN_PROGRESS, int(lease) if lease else None)


def _settle(
    pending: Sequence[tuple[str, str]],
    reasons: Sequence[Mapping[str, Any]],
    conflicts: Counter[str],
    results: dict[str, ClaimResult | Exception],
) -> tuple[list[tuple[str, str]], bool]:
    """Settle the keys of a cancelled transaction that got an answer into `results`. Returns the keys to resubmit
    and whether one of them conflicted or was throttled (the next round backs off)."""
    resubmit: list[tuple[str, str]] = []
    backoff = False
    for (key, token), reason in zip(pending, reasons, strict=True):
        code = reason.get("Code")
        if code == "ConditionalCheckFailed":
            results[key] = _held(reason.get("Item") or {})
        elif code is None or code == "None":  # not written only because another key failed
            resubmit.append((key, token))
        elif code in _RETRYABLE_REASONS:
            conflicts[key] += 1
            if conflicts[key] > _TRANSACTION_KEY_RETRIES:
                results[key] = StoreUnavailableError(f"dynamodb transact_write_items (claim): {code}")
            else:
                resubmit.append((key, token))
                backoff = True
        else:
            results[key] = translate(_reason_error(reason), "dynamodb transact_write_items (claim)")
    return resubmit, backoff


def _reason_error(reason: Mapping[str, Any]) -> Exception:
    """A cancellation reason as a ClientError, so `translate` classifies it like any other DynamoDB error."""
    from botocore.exceptions import ClientError

    code = str(reason.get("Code"))
    message = str(reason.get("Message", ""))
    error: Exception = ClientError({"Error": {"Code": code, "Message": message}}, "TransactWriteItems")
    return error


def create_idempotency_table(client: DynamoDBClient, table: str) -> bool:
    """Create the table (on demand, TTL on `ttl`) if missing. Returns True if it was created."""
    return create_table(client, table, ttl_attribute="ttl")
