"""The idempotency algorithm, written once over the `IdempotencyStore` port.

Per batch: one batched read drops keys already COMPLETED, then each remaining key is claimed with ONE
conditional write (concurrently; or, opt-in with `batch_claims`, up to 100 per transactional request of a store
that has `claim_many`); the caller does the work, then `complete`s what succeeded (batched) and
`release`s what failed so a retry can run. The tutorial's "mark processed first" is exactly what this avoids.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

from gcevents.errors import TransientError
from gcevents.fanout import fan_out
from gcevents.ports import (
    BatchClaimStore,
    Claim,
    ClaimResult,
    ClaimStatus,
    Clock,
    Failure,
    IdempotencyStore,
    SystemClock,
)
from gcevents.retry import COMPLETE_ATTEMPTS, COMPLETE_BACKOFF_BASE, COMPLETE_BACKOFF_CAP, RetryBudget

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 5 * 24 * 3600  # Genesys re-sends for up to 4 days; keep a day of margin
FAILURE_RETENTION_SECONDS = 14 * 24 * 3600  # failure records outlive the DLQ's letters (SQS keeps them <= 14 days)
# COMPLETE_ATTEMPTS (gcevents.retry): a COMPLETED mark that never lands lets a re-send run the handlers again.
CLAIM_MANY_CHUNK = 100  # keys per `claim_many` call (DynamoDB: one TransactWriteItems request)


class Idempotency:
    def __init__(
        self,
        store: IdempotencyStore,
        *,
        clock: Clock | None = None,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        concurrency: int = 16,
        sleep: Callable[[float], None] = time.sleep,
        batch_claims: bool = False,
        skew_margin: float = 0.0,
    ) -> None:
        self.store = store
        # Clock-skew tolerance: a lapsed lease is taken over only once it ended this many seconds ago by our clock,
        # so a holder whose clock is behind ours by less than this is never overtaken while it renews. The runtime
        # sets it from GCEVENTS_CLOCK_SKEW_MARGIN; docs/operations.md has the arithmetic.
        self.skew_margin = skew_margin
        # Opt-in: claim through the store's `claim_many` (fewer requests) instead of one write per key.
        self._claim_many = store if batch_claims and isinstance(store, BatchClaimStore) else None
        self._sleep = sleep
        self.clock = clock or SystemClock()
        self.ttl_seconds = ttl_seconds
        # Reused across invocations of a warm container: threads are cheap to keep, costly to start per batch.
        self._width = max(1, concurrency)
        self._pool = ThreadPoolExecutor(max_workers=self._width, thread_name_prefix="gcevents-claim")

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def claim_all(self, keys: Sequence[str], lease_until: float) -> dict[str, tuple[Claim, ClaimResult] | Exception]:
        """Claim every key; per key either (claim, result) or the exception that prevented the claim."""
        results: dict[str, tuple[Claim, ClaimResult] | Exception] = {}
        if not keys:
            return results
        now_ms = self._now_ms()
        # The claim condition compares leases with `now`: the margin moves our now back, so a lease counts as lapsed
        # only `skew_margin` seconds after it ended by our clock (a completion's 5-day expiry moves by as much).
        claim_now_ms = now_ms - int(self.skew_margin * 1000)
        try:
            done = self.store.completed(keys, now_ms)
        except Exception as exc:  # the pre-filter is an optimisation; the claim itself detects COMPLETED too
            log.warning("completed-key pre-filter failed, claiming all", extra={"error": repr(exc)})
            done = set()
        lease_ms = int(lease_until * 1000)
        for key in keys:
            if key in done:
                results[key] = (Claim(key, ""), ClaimResult(ClaimStatus.COMPLETED))
        pending = [k for k in keys if k not in done]

        def attempt(key: str) -> tuple[Claim, ClaimResult] | Exception:
            claim = Claim(key, uuid.uuid4().hex)
            try:
                return claim, self.store.claim(key, claim.token, lease_ms, claim_now_ms)
            except Exception as exc:
                return exc

        if self._claim_many is not None:
            results.update(self._claim_batches(self._claim_many, pending, lease_ms, claim_now_ms))
        else:
            results.update(zip(pending, fan_out(self._pool, attempt, pending, self._width), strict=True))
        return results

    def _claim_batches(
        self, store: BatchClaimStore, keys: Sequence[str], lease_ms: int, now_ms: int
    ) -> dict[str, tuple[Claim, ClaimResult] | Exception]:
        claims = {key: Claim(key, uuid.uuid4().hex) for key in keys}  # one token per unique key, as per key
        unique = list(claims.values())
        chunks = [unique[start : start + CLAIM_MANY_CHUNK] for start in range(0, len(unique), CLAIM_MANY_CHUNK)]

        def attempt(chunk: list[Claim]) -> dict[str, tuple[Claim, ClaimResult] | Exception]:
            try:
                answers = store.claim_many([(c.key, c.token) for c in chunk], lease_ms, now_ms)
            except Exception as exc:
                return {c.key: exc for c in chunk}
            out: dict[str, tuple[Claim, ClaimResult] | Exception] = {}
            for c in chunk:
                answer = answers.get(c.key)
                if isinstance(answer, ClaimResult):
                    out[c.key] = (c, answer)
                else:
                    out[c.key] = answer or TransientError(f"claim_many gave no answer for {c.key!r}")
            return out

        results: dict[str, tuple[Claim, ClaimResult] | Exception] = {}
        for outcome in map(attempt, chunks) if len(chunks) <= 1 else self._pool.map(attempt, chunks):
            results.update(outcome)
        return results

    def complete(self, claims: Sequence[Claim]) -> None:
        """Mark claims COMPLETED, retrying throttling with jittered backoff: the effects have happened, and a key
        left IN_PROGRESS becomes claimable when its lease ends, so a later re-send would run its handlers again.
        Re-putting COMPLETED is idempotent. At most COMPLETE_ATTEMPTS store calls (each bounded by the store's
        own budget: `gcevents.retry` has the product)."""
        if not claims:
            return
        budget = RetryBudget(
            COMPLETE_ATTEMPTS - 1, base=COMPLETE_BACKOFF_BASE, cap=COMPLETE_BACKOFF_CAP, sleep=self._sleep
        )
        while True:
            try:
                self.store.complete(claims, self._now_ms() + self.ttl_seconds * 1000)
                return
            except TransientError:
                if not budget.retry():
                    raise

    def renew(self, claims: Sequence[Claim], lease_until: float) -> dict[str, bool | Exception]:
        """Move the leases of claims we hold to `lease_until` (epoch s), each conditional on its token. Per key:
        True (renewed), False (not ours any more) or the error that prevented the renewal."""
        lease_ms = int(lease_until * 1000)

        def attempt(claim: Claim) -> bool | Exception:
            try:
                return self.store.renew(claim, lease_ms)
            except Exception as exc:
                return exc

        return {
            c.key: outcome for c, outcome in zip(claims, fan_out(self._pool, attempt, claims, self._width), strict=True)
        }

    def release(self, claims: Sequence[Claim], why: Mapping[str, tuple[str, int]] | None = None) -> list[Exception]:
        """Release every claim; best effort (an unreleased lease still ends at the deadline). `why`: key -> (last
        error, attempts so far); such a claim leaves a FAILED record saying so, kept FAILURE_RETENTION_SECONDS, for
        `dlq inspect` once SQS gives up on the record (maxReceiveCount) and cannot say why itself."""
        now_ms = self._now_ms()
        keep_until_ms = now_ms + FAILURE_RETENTION_SECONDS * 1000
        failures = {
            key: Failure(error, attempts, now_ms, keep_until_ms) for key, (error, attempts) in (why or {}).items()
        }

        def attempt(claim: Claim) -> Exception | None:
            try:
                self.store.release(claim, failures.get(claim.key))
            except Exception as exc:
                return exc
            return None

        errors = [e for e in fan_out(self._pool, attempt, claims, self._width) if e is not None]
        for error in errors:
            log.warning("release failed; lease will lapse at the deadline", extra={"error": repr(error)})
        return errors


class Lease:
    """The claims one batch holds, leased for `seconds` from their claim or last renewal.

    A runner whose handlers may outlive a fixed lease (the worker: its lease is one visibility timeout, its batch
    may run longer) renews it from a heartbeat while they run; the pipeline takes its claims' lease from `begin`,
    hands them over with `hold`, lets go of them with `drop` before it completes or releases them, and starts no
    new work once `ending` (the lease ends within the margin, or a key was taken over). Thread-safe: the
    heartbeat renews while the pipeline's threads read it."""

    def __init__(self, idempotency: Idempotency, seconds: float) -> None:
        self.idempotency = idempotency
        self.seconds = seconds
        self.renewals = 0  # heartbeat rounds that renewed at least one claim
        self.lost: set[str] = set()  # keys a renewal found taken over (our lease had lapsed)
        self._held: dict[str, tuple[Claim, float]] = {}  # key -> (claim, lease end in epoch s)
        self._lock = threading.Lock()

    def begin(self) -> float:
        """The lease end of claims made now."""
        return self.idempotency.clock.now() + self.seconds

    def hold(self, claims: Sequence[Claim], lease_until: float) -> None:
        with self._lock:
            self._held.update((c.key, (c, lease_until)) for c in claims)

    def drop(self, claims: Sequence[Claim]) -> None:
        with self._lock:
            for claim in claims:
                self._held.pop(claim.key, None)

    @property
    def valid_until(self) -> float:
        """When the first of the held leases ends (inf while none is held)."""
        with self._lock:
            return min((until for _, until in self._held.values()), default=math.inf)

    def ending(self, now: float, margin: float) -> bool:
        return bool(self.lost) or now >= self.valid_until - margin

    def renew(self) -> int:
        """Extend every held claim to now + seconds. Returns how many claims were renewed. A renewal that finds
        the key taken over is logged and recorded in `lost`; a failed one leaves that lease as it was."""
        with self._lock:
            claims = [claim for claim, _ in self._held.values()]
        if not claims:
            return 0
        until = self.begin()
        outcomes = self.idempotency.renew(claims, until)
        renewed, lost, failed = 0, [], []
        with self._lock:
            for claim in claims:
                outcome = outcomes.get(claim.key)
                if self._held.get(claim.key, (None, 0.0))[0] != claim:
                    continue  # settled while we renewed: whatever the store said, it is not ours to track
                if outcome is True:
                    self._held[claim.key] = (claim, until)
                    renewed += 1
                elif outcome is False:
                    self.lost.add(claim.key)
                    del self._held[claim.key]
                    lost.append(claim.key)
                else:
                    failed.append(repr(outcome))
            self.renewals += renewed > 0
        if lost:  # one line per round, not per key: a store outage would otherwise flood the log
            log.error("lease lost: another consumer took over keys we still hold", extra={"keys": lost[:10]})
        if failed:
            log.warning("lease renewal failed", extra={"claims": len(failed), "error": failed[0]})
        return renewed


@contextmanager
def renewed(lease: Lease, every: float) -> Iterator[Lease]:
    """`lease`, renewed every `every` seconds from a daemon thread while the block runs (a runner without a queue
    visibility to extend alongside, e.g. reconcile's fact runs: the worker's heartbeat does both)."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(every):
            try:
                lease.renew()
            except Exception:  # the lease ends as it was: the pipeline starts no new work past it
                log.warning("lease renewal failed", exc_info=True)

    thread = threading.Thread(target=beat, name="gcevents-lease", daemon=True)
    thread.start()
    try:
        yield lease
    finally:
        done.set()
        thread.join()
