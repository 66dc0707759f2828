"""`IdempotencyStore` in memory."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from gcevents.ports import Claim, ClaimResult, ClaimStatus, Failure

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
                k
                for k in keys
                if (r := self._records.get(k)) and r.status is ClaimStatus.COMPLETED and r.expires_at_ms > now_ms
            }

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
