"""In-memory fakes of the ports: the reference behaviour the contract suites hold the real adapters to.

Thread-safe, like the adapters they stand in for. Used by the tests, the benchmarks and `memory` store specs.
The queue with SQS semantics is `gcevents.testing.queue.SimulatedQueue`."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gcevents.core.state_store import DEFAULT_TTL_DAYS, Conflict, OptimisticStateStore, PendingWrite
from gcevents.errors import RateLimitedError
from gcevents.ports import (
    Claim,
    ClaimResult,
    ClaimStatus,
    Clock,
    DeadLetter,
    EnrichmentResult,
    Failure,
    StoredDeadLetter,
    StoredState,
    schedule_permits,
)

_FAILED = "FAILED"  # a stored status only: `claim` never answers it (a FAILED record is simply claimable)


@dataclass(slots=True)
class _Record:
    status: ClaimStatus | str
    token: str
    lease_until_ms: int = 0
    expires_at_ms: int = 0
    failure: Failure | None = None


class MemoryIdempotencyStore:
    def __init__(self) -> None:
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()
        self.requests = 0  # counted like DynamoDB requests, so algorithms can be compared on fakes

    def completed(self, keys: Sequence[str], now_ms: int) -> set[str]:
        with self._lock:
            self.requests += -(-len(keys) // 100)
            return {
                k for k in keys
                if (r := self._records.get(k)) and r.status is ClaimStatus.COMPLETED and r.expires_at_ms > now_ms
            }  # fmt: skip

    def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
        with self._lock:
            self.requests += 1
            current = self._records.get(key)
            if current is None or _claimable(current, now_ms) or _held_by(current, token):
                self._records[key] = _Record(ClaimStatus.IN_PROGRESS, token, lease_until_ms)
                return ClaimResult(ClaimStatus.CLAIMED)
            if current.status is ClaimStatus.COMPLETED:
                return ClaimResult(ClaimStatus.COMPLETED)
            return ClaimResult(ClaimStatus.IN_PROGRESS, current.lease_until_ms)

    def complete(self, claims: Sequence[Claim], expires_at_ms: int) -> None:
        with self._lock:
            self.requests += -(-len(claims) // 25)
            for claim in claims:
                self._records[claim.key] = _Record(ClaimStatus.COMPLETED, claim.token, 0, expires_at_ms)

    def release(self, claim: Claim, failure: Failure | None = None) -> None:
        with self._lock:
            self.requests += 1
            current = self._records.get(claim.key)
            if current is None or current.token != claim.token or current.status is not ClaimStatus.IN_PROGRESS:
                return
            if failure is None:
                del self._records[claim.key]
            else:
                self._records[claim.key] = _Record(_FAILED, claim.token, 0, failure.keep_until_ms, failure)

    def failures(self, keys: Sequence[str]) -> dict[str, Failure]:
        with self._lock:
            self.requests += -(-len(keys) // 100)
            return {k: r.failure for k in keys if (r := self._records.get(k)) and r.failure and r.status == _FAILED}

    def renew(self, claim: Claim, lease_until_ms: int) -> bool:
        with self._lock:
            self.requests += 1
            current = self._records.get(claim.key)
            if current is None or not _held_by(current, claim.token):
                return False
            current.lease_until_ms = lease_until_ms
            return True


def _held_by(record: _Record, token: str) -> bool:
    """A lease with this token is the caller's own (its earlier attempt landed): claiming it again wins."""
    return record.status is ClaimStatus.IN_PROGRESS and record.token == token


def _claimable(record: _Record, now_ms: int) -> bool:
    if record.status == _FAILED:
        return True
    if record.status is ClaimStatus.IN_PROGRESS:
        return record.lease_until_ms < now_ms
    return record.expires_at_ms < now_ms


class MemoryDeadLetterSink:
    """A `DeadLetterStore` in memory; `letters` is what was sent and is still there."""

    def __init__(self) -> None:
        self._rows: dict[int, DeadLetter] = {}
        self._next = 0
        self._lock = threading.Lock()

    @property
    def letters(self) -> list[DeadLetter]:
        with self._lock:
            return list(self._rows.values())

    def send(self, letters: Sequence[DeadLetter]) -> None:
        with self._lock:
            for letter in letters:
                self._rows[self._next] = letter
                self._next += 1

    def list(self, limit: int = 1000) -> list[StoredDeadLetter]:
        with self._lock:
            return [StoredDeadLetter(letter, str(i)) for i, letter in list(self._rows.items())[:limit]]

    def scan(self, limit: int) -> Iterator[StoredDeadLetter]:
        yield from self.list(limit)

    def remove(self, handles: Sequence[str]) -> None:
        with self._lock:
            for handle in handles:
                self._rows.pop(int(handle), None)

    def release(self, handles: Sequence[str]) -> None:
        """Nothing is hidden by reading."""


class MemoryPermitBucket:
    """`PermitBucket` in memory: the fleet's bucket shared by the limiters of one process (tests, the demo)."""

    def __init__(self, rate_per_minute: float = 300.0, burst: float = 5.0, *, clock: Any = None) -> None:
        self._clock = clock or time.time
        self._lock = threading.Lock()
        self._next_free: float | None = None
        self._interval = 60.0 / rate_per_minute
        self._burst = burst
        self.takes = 0  # requests to the bucket (one per batch of permits)

    @property
    def interval(self) -> float:
        return self._interval

    def configure(self, rate_per_minute: float, burst: float) -> None:
        with self._lock:
            self._interval, self._burst = 60.0 / rate_per_minute, burst

    def take(self, permits: int, max_wait: float) -> float:
        with self._lock:
            self.takes += 1
            now = self._clock()
            start, next_free = schedule_permits(self._next_free, now, permits, self._interval, self._burst)
            if start - now > max_wait:
                raise RateLimitedError(f"shared Genesys budget booked for {start - now:.1f}s", retry_after=start - now)
            self._next_free = next_free
            return start

    def hold(self, seconds: float) -> None:
        with self._lock:
            self._next_free = max(self._next_free or 0.0, self._clock() + seconds)


@dataclass(slots=True)
class MemoryEnricher:
    """Serves fixed conversation details; ids not in `details` are reported missing (analytics lag)."""

    details: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    failures: Mapping[str, Exception] = field(default_factory=dict)
    calls: int = 0
    requested: list[str] = field(default_factory=list)

    def enrich(self, conversation_ids: Sequence[str], deadline: float) -> EnrichmentResult:
        self.calls += 1
        self.requested.extend(conversation_ids)
        result = EnrichmentResult()
        for cid in conversation_ids:
            if cid in self.failures:
                result.failed[cid] = self.failures[cid]
            elif cid in self.details:
                result.details[cid] = self.details[cid]
            else:
                result.missing.add(cid)
        return result


@dataclass(slots=True)
class FakeClock:
    current: float = 1_700_000_000.0

    def now(self) -> float:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += seconds


class MemoryStateStore(OptimisticStateStore):
    def __init__(self, *, ttl_days: int = DEFAULT_TTL_DAYS, clock: Clock | None = None, **kwargs: Any) -> None:
        super().__init__(ttl_days=ttl_days, clock=clock, **kwargs)
        self._items: dict[str, StoredState] = {}
        self._lock = threading.Lock()

    def _load(self, conversation_ids: Sequence[str]) -> dict[str, StoredState]:
        with self._lock:
            return {cid: self._items[cid] for cid in conversation_ids if cid in self._items}

    def _save(self, writes: Sequence[PendingWrite]) -> dict[str, Conflict | Exception]:
        outcomes: dict[str, Conflict | Exception] = {}
        with self._lock:
            for write in writes:
                cid = write.item.conversation_id
                stored = self._items.get(cid)
                if (stored.version if stored else None) != write.expected_version:
                    outcomes[cid] = Conflict(stored, known=True)
                    continue
                # A JSON round trip, as the real stores do: a value they could not store fails here too.
                state = json.loads(json.dumps(write.item.state))
                self._items[cid] = StoredState(cid, state, write.item.version, write.item.updated_at_ms, write.item.ttl)
        return outcomes

    def get(self, conversation_id: str) -> StoredState | None:
        with self._lock:
            return self._items.get(conversation_id)

    def delete(self, conversation_id: str) -> bool:
        with self._lock:
            return self._items.pop(conversation_id, None) is not None

    def list(self, *, since: datetime | None = None, limit: int = 50) -> list[StoredState]:
        floor = int(since.timestamp() * 1000) if since else 0
        with self._lock:
            items = [i for i in self._items.values() if i.updated_at_ms >= floor]
        items.sort(key=lambda i: (i.updated_at_ms, i.conversation_id), reverse=True)
        return items[:limit]
