"""One store fixture parametrised over every adapter: the contract suite runs on all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gcevents.core.state_store import OptimisticStateStore
from gcevents.testing.fakes import MemoryStateStore

from .helpers import dynamodb_store_factory


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, unique_name: str
) -> Iterator[Callable[..., OptimisticStateStore]]:
    """A factory: every store it makes shares one backing table/file (like separate workers would)."""
    if request.param == "memory":
        shared: dict[str, MemoryStateStore] = {}

        def memory(**kw: Any) -> OptimisticStateStore:
            # One memory "backend" per test: later calls share the first store's items.
            store = shared.setdefault("store", MemoryStateStore(**kw))
            return store

        yield memory
    elif request.param == "sqlite":
        from gcevents.adapters.sqlite.state import SqliteStateStore

        yield lambda **kw: SqliteStateStore(tmp_path / "state.db", **kw)
    else:
        endpoint = request.getfixturevalue("moto_endpoint")
        yield dynamodb_store_factory(endpoint, unique_name)
