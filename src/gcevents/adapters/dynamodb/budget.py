"""The shared Genesys budget in DynamoDB: one item per OAuth client holding the fleet's next free slot.

`take` books several permits with ONE conditional UpdateItem (`nf` must still be what we last saw); when another
container got there first, the failure returns the current item (ReturnValuesOnConditionCheckFailure=ALL_OLD)
and we recompute from it, with no extra read. The scheduling rule is `gcevents.ports.schedule_permits`. Slots
are wall-clock milliseconds, so a container's clock skew shifts only its own view by that much."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gcevents.adapters.aws import error_code, error_response, translate
from gcevents.adapters.dynamodb.tables import create_table
from gcevents.errors import RateLimitedError, StoreUnavailableError
from gcevents.ports import schedule_permits
from gcevents.retry import compute_backoff

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

log = logging.getLogger(__name__)

# Containers racing for the item: each lost race returns the winner's value, and the loser backs off (full
# jitter) so a crowd that arrived together does not stay together.
_CONFLICT_ATTEMPTS = 30
_CONFLICT_BACKOFF_BASE, _CONFLICT_BACKOFF_CAP = 0.002, 0.1


class DynamoDbPermitBucket:
    """Implements `gcevents.ports.PermitBucket`. Thread-safe as far as DynamoDB is: callers serialise their own
    takes (`SharedLimiter` does, per container)."""

    def __init__(
        self,
        client: DynamoDBClient,
        table: str,
        key: str,
        *,
        rate_per_minute: float = 300.0,
        burst: float = 5.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.client = client
        self.table = table
        self.key = key
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter, not security
        self._interval = 60.0 / rate_per_minute
        self._burst = burst
        self._known: int | None = None  # the item's `nf` (ms) as we last saw it; None: not seen yet

    def __repr__(self) -> str:
        return f"DynamoDbPermitBucket(table={self.table!r}, key={self.key!r})"

    @property
    def interval(self) -> float:
        return self._interval

    def configure(self, rate_per_minute: float, burst: float) -> None:
        self._interval, self._burst = 60.0 / rate_per_minute, burst

    def take(self, permits: int, max_wait: float) -> float:
        for attempt in range(_CONFLICT_ATTEMPTS):
            now = self._clock()
            known = self._known / 1000.0 if self._known is not None else None
            start, next_free = schedule_permits(known, now, permits, self._interval, self._burst)
            if start - now > max_wait:
                raise RateLimitedError(f"shared Genesys budget booked for {start - now:.1f}s", retry_after=start - now)
            if self._swap(int(next_free * 1000)):
                return start
            self._sleep(compute_backoff(attempt, base=_CONFLICT_BACKOFF_BASE, cap=_CONFLICT_BACKOFF_CAP, rng=self._rng))
        raise StoreUnavailableError(f"shared Genesys budget {self.key}: {_CONFLICT_ATTEMPTS} lost races in a row")

    def hold(self, seconds: float) -> None:
        """Best effort: a failure here leaves the other containers to meet the 429 themselves."""
        try:
            for _ in range(3):
                until = int((self._clock() + seconds) * 1000)
                if self._known is not None and self._known >= until:
                    return
                if self._swap(until):
                    return
        except Exception as exc:
            log.warning("could not hold the shared Genesys budget", extra={"error": repr(translate(exc, "hold"))})

    def _swap(self, next_free_ms: int) -> bool:
        """Set `nf` if it is still `self._known`. False (with `_known` refreshed from the item) when it was not."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "Key": {"pk": {"S": self.key}},
            "UpdateExpression": "SET nf = :new",
            "ExpressionAttributeValues": {":new": {"N": str(next_free_ms)}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
        if self._known is None:
            request["ConditionExpression"] = "attribute_not_exists(nf)"
        else:
            request["ConditionExpression"] = "nf = :old"
            request["ExpressionAttributeValues"][":old"] = {"N": str(self._known)}
        try:
            self.client.update_item(**request)
        except Exception as exc:
            if error_code(exc) != "ConditionalCheckFailedException":
                raise translate(exc, "dynamodb update_item (genesys budget)") from exc
            item = error_response(exc).get("Item") or {}
            self._known = int(item["nf"]["N"]) if "nf" in item else None
            return False
        self._known = next_free_ms
        return True


def create_budget_table(client: DynamoDBClient, table: str) -> bool:
    """Create the shared budget table (on demand, key `pk`) if missing, as template.yaml does. True if created."""
    return create_table(client, table)
