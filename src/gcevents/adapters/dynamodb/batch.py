"""BatchGetItem / BatchWriteItem until every key or item got an answer, for both DynamoDB stores.

DynamoDB may answer part of a batch and hand the rest back (`UnprocessedKeys` / `UnprocessedItems`) when a
partition is throttled; botocore does not retry those (the call itself succeeded). The leftovers of every
chunk are gathered and re-chunked each round, under ONE `RetryBudget` for the whole operation:

- calls: at most ceil(n / limit) + `LEFTOVER_RETRIES`, each one of up to `SDK_MAX_ATTEMPTS` HTTP attempts
  (botocore's standard mode retries throttled and failed calls itself);
- our sleeps: one full-jitter backoff per round, at most `LEFTOVER_MAX_SECONDS` in total.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from gcevents.adapters.aws import translate
from gcevents.errors import StoreUnavailableError
from gcevents.retry import (
    LEFTOVER_BACKOFF_BASE,
    LEFTOVER_BACKOFF_CAP,
    LEFTOVER_MAX_SECONDS,
    LEFTOVER_RETRIES,
    RetryBudget,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

BATCH_GET_LIMIT = 100  # keys per BatchGetItem
BATCH_WRITE_LIMIT = 25  # requests per BatchWriteItem

T = TypeVar("T")


def leftover_budget(sleep: Callable[[float], None] = time.sleep) -> RetryBudget:
    """The budget of one batch operation's leftover rounds."""
    return RetryBudget(
        LEFTOVER_RETRIES, LEFTOVER_MAX_SECONDS, base=LEFTOVER_BACKOFF_BASE, cap=LEFTOVER_BACKOFF_CAP, sleep=sleep
    )


def batch_get_all(
    client: DynamoDBClient,
    table: str,
    keys: Sequence[Mapping[str, Any]],
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
    **options: Any,
) -> list[dict[str, Any]]:
    """The stored items among `keys` (unique keys, in the table's key shape). `options` (ProjectionExpression,
    ConsistentRead, ...) go into every request. Raises StoreUnavailableError when the budget runs out with keys
    still unprocessed, and translated errors when a call fails."""
    items: list[dict[str, Any]] = []

    def send(chunk: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        request: dict[str, Any] = {table: {"Keys": chunk, **options}}
        try:
            response = client.batch_get_item(RequestItems=request)
        except Exception as exc:
            raise translate(exc, what) from exc
        items.extend((response.get("Responses") or {}).get(table) or [])
        unprocessed = (response.get("UnprocessedKeys") or {}).get(table)
        return list(unprocessed["Keys"]) if unprocessed else []

    _rounds(list(keys), BATCH_GET_LIMIT, send, leftover_budget(sleep), f"{what}: keys left unprocessed")
    return items


def batch_write_all(
    client: DynamoDBClient,
    table: str,
    requests: Sequence[Mapping[str, Any]],
    *,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Every write request (`{"PutRequest": ...}` / `{"DeleteRequest": ...}`) applied, same budget and errors
    as `batch_get_all`. A request must not touch an item another request of the call touches."""

    def send(chunk: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        request: dict[str, Any] = {table: chunk}
        try:
            response = client.batch_write_item(RequestItems=request)
        except Exception as exc:
            raise translate(exc, what) from exc
        return list((response.get("UnprocessedItems") or {}).get(table) or [])

    _rounds(list(requests), BATCH_WRITE_LIMIT, send, leftover_budget(sleep), f"{what}: items left unprocessed")


def _rounds(pending: list[T], limit: int, send: Callable[[list[T]], list[T]], budget: RetryBudget, spent: str) -> None:
    """First pass over every chunk; then, while leftovers remain, one backoff and one more pass over them.
    Every call after the first pass takes a retry from `budget`."""
    first_pass = True
    while pending:
        leftovers: list[T] = []
        for index, start in enumerate(range(0, len(pending), limit)):
            if not first_pass and not (budget.retry() if index == 0 else budget.take()):
                raise StoreUnavailableError(spent)
            leftovers.extend(send(pending[start : start + limit]))
        pending, first_pass = leftovers, False
