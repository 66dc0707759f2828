"""The one backoff formula, the per-operation budget and the SQS redelivery delay."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factories import Highest
from gcevents.retry import RETRY_AFTER_JITTER_CAP, RetryBudget, compute_backoff, redelivery_delay

bases = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
caps = st.floats(min_value=0.0, max_value=1000.0, allow_nan=False)


class Lowest(random.Random):
    """Always draws the bottom of the range."""

    def uniform(self, a: float, b: float) -> float:
        return a


@given(attempt=st.integers(min_value=0, max_value=10_000), base=bases, cap=caps, seed=st.integers())
def test_backoff_stays_within_full_jitter_bounds(attempt: int, base: float, cap: float, seed: int) -> None:
    delay = compute_backoff(attempt, base=base, cap=cap, rng=random.Random(seed))
    assert 0.0 <= delay <= cap
    if attempt < 64:
        assert delay <= base * 2**attempt


def test_backoff_ceiling_doubles_then_caps() -> None:
    ceilings = [compute_backoff(a, base=0.05, cap=1.0, rng=Highest()) for a in range(7)]
    assert ceilings == [0.05, 0.1, 0.2, 0.4, 0.8, 1.0, 1.0]


def test_backoff_is_jittered_and_reproducible_with_a_seed() -> None:
    draws = [compute_backoff(3, base=1.0, cap=100.0, rng=random.Random(7)) for _ in range(2)]
    assert draws[0] == draws[1]
    spread = {round(compute_backoff(3, base=1.0, cap=100.0), 6) for _ in range(50)}
    assert len(spread) > 40  # full jitter, not a fixed schedule


def test_negative_attempts_and_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="attempt"):
        compute_backoff(-1, base=1.0, cap=1.0)
    with pytest.raises(ValueError, match="base and cap"):
        compute_backoff(0, base=-1.0, cap=1.0)


@given(
    max_retries=st.integers(min_value=0, max_value=20),
    max_seconds=st.floats(min_value=0.0, max_value=5.0, allow_nan=False),
    steps=st.lists(st.sampled_from(["take", "retry"]), max_size=40),
    seed=st.integers(),
)
def test_budget_bounds_retries_and_seconds(max_retries: int, max_seconds: float, steps: list[str], seed: int) -> None:
    slept: list[float] = []
    budget = RetryBudget(max_retries, max_seconds, base=0.1, cap=2.0, rng=random.Random(seed), sleep=slept.append)
    takes = retries = 0
    for step in steps:
        if step == "take":
            takes += budget.take()
        else:
            retries += budget.retry()
    assert takes + retries == budget.retries <= max_retries
    assert len(slept) == retries  # one sleep per granted `retry`, none for `take`
    assert sum(slept) == pytest.approx(budget.slept)
    assert budget.slept <= max_seconds + 1e-9


def test_budget_exponent_counts_every_retry_taken() -> None:
    slept: list[float] = []
    budget = RetryBudget(5, base=0.05, cap=1.0, rng=Highest(), sleep=slept.append)
    assert budget.retry()
    assert budget.take()  # e.g. a 429 the limiter waits out
    assert budget.retry()
    assert slept == [0.05, 0.2]


def test_spent_budget_refuses_without_sleeping() -> None:
    slept: list[float] = []
    budget = RetryBudget(2, base=0.05, cap=1.0, sleep=slept.append)
    assert budget.retry()
    assert budget.retry()
    assert budget.exhausted
    assert not budget.retry()
    assert not budget.take()
    assert budget.next_delay() is None
    assert len(slept) == 2
    assert "2/2" in repr(budget)


def test_seconds_budget_clips_the_last_delay_then_refuses() -> None:
    slept: list[float] = []
    budget = RetryBudget(10, 0.5, base=0.4, cap=10.0, rng=Highest(), sleep=slept.append)
    assert budget.retry()  # 0.4
    assert budget.retry()  # 0.8, clipped to the 0.1 left
    assert not budget.retry()
    assert slept == pytest.approx([0.4, 0.1])
    assert budget.retries == 2


@given(after=st.floats(min_value=0.0, max_value=3600.0, allow_nan=False), receives=st.integers(1, 50))
def test_redelivery_with_a_hint_waits_it_out_plus_bounded_jitter(after: float, receives: int) -> None:
    delay = redelivery_delay(after, receives)
    assert after <= delay <= after + min(after, RETRY_AFTER_JITTER_CAP)


@given(receives=st.integers(min_value=0, max_value=500), seed=st.integers())
def test_redelivery_without_a_hint_backs_off_on_the_receive_count(receives: int, seed: int) -> None:
    delay = redelivery_delay(None, receives, base=2.0, cap=900.0, rng=random.Random(seed))
    ceiling = min(900.0, 2.0 * 2 ** max(0, receives - 1))
    assert ceiling / 2 <= delay <= ceiling  # equal jitter: never the near-zero waits of full jitter


def test_redelivery_ceilings() -> None:
    assert [redelivery_delay(None, n, base=2.0, cap=10.0, rng=Highest()) for n in (1, 2, 3, 4)] == [2.0, 4.0, 8.0, 10.0]
    assert [redelivery_delay(None, n, base=2.0, cap=10.0, rng=Lowest()) for n in (1, 2, 3, 4)] == [1.0, 2.0, 4.0, 5.0]


def test_five_receives_without_a_hint_span_minutes_not_seconds() -> None:
    """The four redeliveries before maxReceiveCount 5 span minutes, never seconds: a Genesys outage of under two
    minutes dead-letters nothing (full jitter from 2 s had sent 12 of 12 enriched events to the DLQ within 27 s)."""
    shortest = sum(redelivery_delay(None, n, rng=Lowest()) for n in range(1, 5))
    longest = sum(redelivery_delay(None, n, rng=Highest()) for n in range(1, 5))
    assert (shortest, longest) == (150.0, 300.0)
    assert redelivery_delay(100.0, 1, rng=Highest()) == 100.0 + RETRY_AFTER_JITTER_CAP
    assert redelivery_delay(4.0, 1, rng=Highest()) == 8.0
