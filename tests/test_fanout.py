"""`fan_out`: a thread pool used one task per thread, results in the items' order."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from gcevents.fanout import fan_out


def test_results_come_back_in_order_with_at_most_width_tasks_in_flight() -> None:
    pool = ThreadPoolExecutor(8)
    lock, running, peak, threads = threading.Lock(), [0], [0], set()

    def work(n: int) -> int:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            threads.add(threading.get_ident())
        with lock:
            running[0] -= 1
        return n * n

    assert fan_out(pool, work, list(range(37)), 3) == [n * n for n in range(37)]
    assert peak[0] <= 3
    assert len(threads) <= 3


def test_one_item_or_width_one_runs_in_the_calling_thread() -> None:
    pool = ThreadPoolExecutor(4)
    me = threading.get_ident()
    assert fan_out(pool, lambda _: threading.get_ident(), ["x"], 8) == [me]
    assert set(fan_out(pool, lambda _: threading.get_ident(), list(range(5)), 1)) == {me}
    assert fan_out(pool, lambda n: n, [], 4) == []
