"""One backoff formula and one per-operation retry budget for every retry loop in gcevents.

`compute_backoff` is full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"): sleep a uniform
draw from [0, min(cap, base * 2**attempt)], so clients that failed together do not retry together.

A `RetryBudget` belongs to ONE operation (one store call, one HTTP request with its retries) and is shared by
every round of it, so nested loops add up instead of multiplying. It bounds both the number of retries and
the seconds slept.

Attempt bounds, botocore included (SDK = `SDK_MAX_ATTEMPTS` HTTP attempts per AWS API call, botocore's
standard retry mode, configured from this module by `adapters.aws.make_client`):

==============================================  ============================================================
operation                                       at most
==============================================  ============================================================
DynamoDB `completed` / state `_load`, n keys    (ceil(n/100) + LEFTOVER_RETRIES) BatchGetItem calls,
                                                x SDK HTTP attempts; <= LEFTOVER_MAX_SECONDS of our sleeps
DynamoDB idempotency `complete`, n claims       (ceil(n/25) + LEFTOVER_RETRIES) BatchWriteItem calls, x SDK
`Idempotency.complete` (core)                   COMPLETE_ATTEMPTS store calls: DynamoDB total
                                                COMPLETE_ATTEMPTS x (ceil(n/25) + LEFTOVER_RETRIES) x SDK
DynamoDB `claim_many`, n keys                   TRANSACTION_ROUNDS x ceil(n/100) TransactWriteItems, then
                                                one PutItem per key still cancelled, x SDK
DynamoDB `claim` / `release` / `renew` /       1 call, x SDK
state put
state `apply` (optimistic writes)               `max_attempts` write rounds per conversation
Genesys `_request`                              1 + `max_retries` attempts (429s, 5xx, timeouts together),
                                                each at most 2 API requests (one resend after a 401) and
                                                2 token fetches (a stale token, then the 401), each 1 POST
                                                (2 when the secret was rotated);
                                                every sleep ends before the caller's deadline
==============================================  ============================================================

With the defaults: one chunk of `complete` makes at most 4 x (1 + 5) x 4 = 96 HTTP attempts, 10 chunks (250
claims) at most 4 x (10 + 5) x 4 = 240 (when every chunk had its own rounds: 4 x 60 x 4 = 960).

SQS redelivery (`redelivery_delay`) is not a loop of ours: SQS redelivers, at most maxReceiveCount times, and
the delays (equal jitter, REDELIVERY_BASE) decide how long a record survives a downstream outage before that.
A worker poller that failed an iteration restarts after compute_backoff(consecutive failures, POLLER_BACKOFF_*):
it never gives up (a configuration error stops it instead), and never spins.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

# botocore standard mode: HTTP attempts per AWS API call, the first included. botocore's `max_attempts` key
# counts retries only (3 meant 4 attempts), so `make_client` sets `total_max_attempts` from this.
SDK_MAX_ATTEMPTS = 4
LEFTOVER_RETRIES = 5  # extra DynamoDB batch calls per operation for UnprocessedKeys / UnprocessedItems
LEFTOVER_BACKOFF_BASE = 0.05  # seconds
LEFTOVER_BACKOFF_CAP = 1.0
LEFTOVER_MAX_SECONDS = 2.0  # our own sleeps per operation (botocore's between its attempts come on top)
TRANSACTION_ROUNDS = 5  # TransactWriteItems rounds per 100 keys (cancelled keys are resubmitted)
COMPLETE_ATTEMPTS = 4  # `Idempotency.complete`: store calls to mark COMPLETED
COMPLETE_BACKOFF_BASE = 0.05
COMPLETE_BACKOFF_CAP = 1.0
# SQS redelivery without a Retry-After hint: equal jitter on base * 2**(receives - 1), i.e. between half of it and
# all of it. With maxReceiveCount 5 a record is retried 4 times, 10-20, 20-40, 40-80 and 80-160 s later: it gives
# up after 150-300 s, time for a downstream blip to pass. (Full jitter from 2 s put all 5 receives within ~30 s,
# worst case: 12 of 12 enriched events were dead-lettered within 27 s of a Genesys outage.)
REDELIVERY_BASE = 20.0
REDELIVERY_CAP = 900.0
POLLER_BACKOFF_BASE = 0.5  # seconds; a worker poller whose iteration failed restarts after compute_backoff(failures)
POLLER_BACKOFF_CAP = 30.0
RETRY_AFTER_JITTER_CAP = 30.0  # spread records handed back with the same Retry-After over up to this much

_MAX_EXPONENT = 64  # 2**64 * base exceeds any sane cap; larger exponents would overflow the float


def compute_backoff(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter: uniform(0, min(cap, base * 2**attempt)). `attempt` counts from 0 (the first retry)."""
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    if base < 0 or cap < 0:
        raise ValueError("base and cap must be >= 0")
    ceiling = cap if attempt >= _MAX_EXPONENT else min(cap, base * 2.0**attempt)
    return (rng or random).uniform(0.0, ceiling)  # jitter, not security


def redelivery_delay(
    retry_after: float | None,
    receive_count: int,
    *,
    base: float = REDELIVERY_BASE,
    cap: float = REDELIVERY_CAP,
    rng: random.Random | None = None,
) -> float:
    """Seconds to keep a retried SQS message hidden before it is delivered again.

    With a Retry-After hint: the hint plus up to min(hint, 30 s) of jitter, so the records handed back together
    do not all return in the same second. Without: equal jitter on the receive count (1 = first delivery), between
    half and all of min(cap, base * 2**(receives - 1)): spread out, yet never the near-zero waits of full jitter,
    which would spend the queue's maxReceiveCount in seconds and dead-letter records a short outage delayed."""
    if retry_after is not None:
        return retry_after + (rng or random).uniform(0.0, min(retry_after, RETRY_AFTER_JITTER_CAP))
    attempt = max(0, receive_count - 1)
    ceiling = cap if attempt >= _MAX_EXPONENT else min(cap, base * 2.0**attempt)
    return ceiling / 2 + (rng or random).uniform(0.0, ceiling / 2)


class RetryBudget:
    """The retries one operation may still make: at most `max_retries` after its first pass, and at most
    `max_seconds` slept in total. Shared by every round of the operation; not thread-safe (one per call).

        budget = RetryBudget(5, 2.0, base=0.05, cap=1.0)
        while leftovers:
            if not budget.retry():  # sleeps the next full-jitter backoff, False once spent
                raise StoreUnavailableError(...)
            ...

    The backoff exponent is the number of retries taken before this one, whether they slept or not."""

    def __init__(
        self,
        max_retries: int,
        max_seconds: float = math.inf,
        *,
        base: float,
        cap: float,
        rng: random.Random | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_retries < 0 or max_seconds < 0:
            raise ValueError("max_retries and max_seconds must be >= 0")
        self.max_retries = max_retries
        self.max_seconds = max_seconds
        self.base = base
        self.cap = cap
        self.retries = 0  # taken so far
        self.slept = 0.0  # seconds handed out by `next_delay` so far
        self._rng = rng
        self._sleep = sleep

    def __repr__(self) -> str:
        return f"RetryBudget(retries={self.retries}/{self.max_retries}, slept={self.slept:.3f}/{self.max_seconds})"

    @property
    def exhausted(self) -> bool:
        return self.retries >= self.max_retries

    def take(self) -> bool:
        """Count one retry that needs no backoff of ours (another request of the same round, or a wait someone
        else does, such as the rate limiter's). False, and nothing counted, when none is left."""
        if self.exhausted:
            return False
        self.retries += 1
        return True

    def next_delay(self) -> float | None:
        """Count one retry and return its full-jitter backoff, clipped to the seconds left; None, and nothing
        counted, when no retry or no second is left. The caller sleeps (or decides it will not fit)."""
        left = self.max_seconds - self.slept
        if self.exhausted or left <= 0:
            return None
        delay = min(left, compute_backoff(self.retries, base=self.base, cap=self.cap, rng=self._rng))
        self.retries += 1
        self.slept += delay
        return delay

    def retry(self) -> bool:
        """`next_delay`, then sleep it. False (without sleeping) when the budget is spent."""
        delay = self.next_delay()
        if delay is None:
            return False
        self._sleep(delay)
        return True
