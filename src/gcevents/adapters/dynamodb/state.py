"""DynamoDB state store.

Item: conversationId (S, hash key), version (N), updatedAt (N, epoch ms), ttl (N, epoch s, the table's TTL
attribute), and `state` (B): the whole merged state as compact JSON, zlib-compressed. One value instead of a tree
of typed maps: botocore validates and serialises every nested attribute, which measured as most of the client CPU
of a state write (docs/benchmarks.md). Compressed because DynamoDB charges a write unit per KB of the item: a
finished conversation's state is ~3.1 KB of JSON (4 units per write) and ~0.85 KB compressed (1 unit), for ~25 us
of CPU per write. Items written as a JSON string (`S`, before compression) are still read; the next write
compresses them. `gcevents state get` shows the state readably.

Requests per batch: ceil(conversations / 100) BatchGetItem + one conditional PutItem per changed
conversation (+ one more per lost race, which brings the current item back via ALL_OLD, so no extra read).
At most (see `gcevents.retry`): ceil(n/100) + LEFTOVER_RETRIES BatchGetItem calls per read, `max_attempts`
write rounds per conversation, each call up to SDK_MAX_ATTEMPTS HTTP attempts.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gcevents.adapters.aws import error_code, error_response, translate
from gcevents.adapters.dynamodb.batch import batch_get_all
from gcevents.adapters.dynamodb.tables import create_table
from gcevents.core import state_format
from gcevents.core.state_store import DEFAULT_TTL_DAYS, Conflict, OptimisticStateStore, PendingWrite
from gcevents.errors import PermanentError
from gcevents.fanout import fan_out
from gcevents.ports import Clock, StoredState
from gcevents.text import is_scalar

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

KEY = "conversationId"
TTL_ATTRIBUTE = "ttl"
STATE_ATTRIBUTE = "state"


class DynamoDbStateStore(OptimisticStateStore):
    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        *,
        ttl_days: int = DEFAULT_TTL_DAYS,
        clock: Clock | None = None,
        write_concurrency: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(ttl_days=ttl_days, clock=clock, sleep=sleep, **kwargs)
        self.client = client
        self.table = table
        self.write_concurrency = max(1, write_concurrency)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None

    # hooks ---------------------------------------------------------------------------------------------
    def _load(self, conversation_ids: Sequence[str]) -> dict[str, StoredState]:
        # Consistent reads: a stale read would only cost a lost race, but races cost a write each.
        items = batch_get_all(
            self.client,
            self.table,
            [{KEY: {"S": cid}} for cid in dict.fromkeys(conversation_ids)],
            what="dynamodb batch_get_item (state)",
            sleep=self._sleep,
            ConsistentRead=True,
        )
        found: dict[str, StoredState] = {}
        for raw in items:
            item = from_item(raw)
            found[item.conversation_id] = item
        return found

    def _save(self, writes: Sequence[PendingWrite]) -> dict[str, Conflict | Exception]:
        if len(writes) == 1 or self.write_concurrency == 1:
            outcomes = [self._put(w) for w in writes]
        else:
            with self._pool_lock:  # reused across batches: threads are cheap to keep, costly to start
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.write_concurrency, thread_name_prefix="gcevents-state")
                pool = self._pool
            outcomes = fan_out(pool, self._put, writes, self.write_concurrency)
        return {w.item.conversation_id: o for w, o in zip(writes, outcomes, strict=True) if o is not None}

    def _put(self, write: PendingWrite) -> Conflict | Exception | None:
        condition: dict[str, Any]
        if write.expected_version is None:
            condition = {
                "ConditionExpression": "attribute_not_exists(#key)",
                "ExpressionAttributeNames": {"#key": KEY},
            }
        else:
            condition = {
                "ConditionExpression": "#version = :expected",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":expected": {"N": str(write.expected_version)}},
            }
        try:
            self.client.put_item(
                TableName=self.table,
                Item=to_item(write.item),
                ReturnValuesOnConditionCheckFailure="ALL_OLD",  # the winner's item: re-merge without a read
                **condition,
            )
        except Exception as exc:
            code = error_code(exc)
            if code == "ConditionalCheckFailedException":
                old = error_response(exc).get("Item")
                if old:
                    return Conflict(from_item(old), known=True)
                # No item back: it vanished (TTL) after we read it, or the backend does not send ALL_OLD.
                return Conflict(None, known=write.expected_version is not None)
            if code == "ValidationException" and "size" in str(exc).lower():
                # Retrying cannot shrink the item: dead-letter the events instead of retrying forever.
                return PermanentError(
                    f"state of conversation {write.item.conversation_id} exceeds DynamoDB's item size",
                    reason="state_item_too_large",
                )
            return translate(exc, "dynamodb put_item (state)")
        return None

    # queries -------------------------------------------------------------------------------------------
    def get(self, conversation_id: str) -> StoredState | None:
        if not is_scalar(conversation_id):
            return None  # no item can have such a key (`apply` refuses it)
        try:
            response = self.client.get_item(
                TableName=self.table, Key={KEY: {"S": conversation_id}}, ConsistentRead=True
            )
        except Exception as exc:
            raise translate(exc, "dynamodb get_item (state)") from exc
        raw = response.get("Item")
        return from_item(raw) if raw else None

    def delete(self, conversation_id: str) -> bool:
        if not is_scalar(conversation_id):
            return False
        try:
            response = self.client.delete_item(
                TableName=self.table, Key={KEY: {"S": conversation_id}}, ReturnValues="ALL_OLD"
            )
        except Exception as exc:
            raise translate(exc, "dynamodb delete_item (state)") from exc
        return bool(response.get("Attributes"))

    def list(self, *, since: datetime | None = None, limit: int = 50) -> list[StoredState]:
        """A filtered Scan (there is no index on updatedAt): it stops after `limit` matches, so on a big table
        these are the first matches found, sorted newest first — narrow with `since`."""
        request: dict[str, Any] = {"TableName": self.table}
        if since is not None:
            request.update(
                FilterExpression="#updated >= :since",
                ExpressionAttributeNames={"#updated": "updatedAt"},
                ExpressionAttributeValues={":since": {"N": str(int(since.timestamp() * 1000))}},
            )
        items: list[StoredState] = []
        while len(items) < limit:
            try:
                response = self.client.scan(**request)
            except Exception as exc:
                raise translate(exc, "dynamodb scan (state)") from exc
            items.extend(from_item(raw) for raw in response.get("Items", []))
            if not response.get("LastEvaluatedKey"):
                break
            request["ExclusiveStartKey"] = response["LastEvaluatedKey"]
        items.sort(key=lambda i: (i.updated_at_ms, i.conversation_id), reverse=True)
        return items[:limit]


def create_state_table(client: DynamoDBClient, table: str) -> bool:
    """Create the state table (on-demand, TTL on `ttl`) if missing; idempotent. True if it was created."""
    return create_table(client, table, key=KEY, ttl_attribute=TTL_ATTRIBUTE)


# ------------------------------------------------------------------------------------------ serialisation
def to_item(item: StoredState) -> dict[str, Any]:
    text = state_format.dumps(item.state, sort_keys=True)  # ASCII: non-ASCII text is escaped
    return {
        KEY: {"S": item.conversation_id},
        "version": {"N": str(item.version)},
        "updatedAt": {"N": str(item.updated_at_ms)},
        TTL_ATTRIBUTE: {"N": str(item.ttl)},
        STATE_ATTRIBUTE: {"B": zlib.compress(text.encode("ascii"))},
    }


def decode_state(value: Mapping[str, Any]) -> Any:
    """The `state` attribute: zlib-compressed JSON (`B`), or the plain JSON string (`S`) of older items."""
    if "B" in value:
        return state_format.loads(zlib.decompress(value["B"]))
    return state_format.loads(value["S"])


def from_item(raw: Mapping[str, Any]) -> StoredState:
    return StoredState(
        conversation_id=raw[KEY]["S"],
        state=decode_state(raw[STATE_ATTRIBUTE]),
        version=int(raw["version"]["N"]),
        updated_at_ms=int(raw["updatedAt"]["N"]),
        ttl=int(raw[TTL_ATTRIBUTE]["N"]),
    )
