"""One helper shared by the core and the adapters: run a function over items on a thread pool, one task per thread.

`ThreadPoolExecutor.map` makes a task per item: a Future (a lock and a condition), a queue hand-off and a wake-up
each, which for a small DynamoDB write costs a sizeable share of the CPU the write itself costs (about 15 % of the
client's CPU per event in the benchmark's profile, docs/benchmarks.md). `fan_out` deals the items round-robin into at
most `width` chunks instead, and each chunk runs its items one after another on one thread: the same number of
requests in flight, a few tasks per batch instead of one per item."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def fan_out(pool: Executor, fn: Callable[[T], R], items: Sequence[T], width: int) -> list[R]:
    """`[fn(item) for item in items]`, at most `width` at a time on `pool`, results in the items' order. A single
    item (or a width of 1) runs in the calling thread. `fn` should not raise: an exception propagates and the other
    chunks' results are lost (the callers wrap `fn` to return their errors)."""
    count = min(max(1, width), len(items))
    if count <= 1:
        return [fn(item) for item in items]
    chunks = [items[start::count] for start in range(count)]
    results: list[R | None] = [None] * len(items)
    for start, done in enumerate(pool.map(lambda chunk: [fn(item) for item in chunk], chunks)):
        results[start::count] = done
    return results  # type: ignore[return-value]  # every slot was filled
