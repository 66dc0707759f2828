"""bench/budget.py on a few seconds: every variant runs, the accounting adds up (behaviour, never the figures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import budget  # `bench` sits next to `src`; conftest puts it on sys.path

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_the_budget_bench_runs_each_variant_and_accounts_for_every_call(tmp_path: Path) -> None:
    out = tmp_path / "budget.json"
    argv = [
        "--seconds",
        "4",
        "--processes",
        "2",
        "--threads",
        "2",
        "--limit",
        "30",
        "--scopes",
        "token,client",
        "--variants",
        "adaptive,shared,static-split",
        "--out",
        str(out),
    ]
    assert budget.main(argv) == 0
    document = json.loads(out.read_text())
    rows = {(row["scope"], row["variant"]): row for row in document["rows"]}
    # `shared` only against a budget the server shares: with one per token it would leave most unused by design
    assert set(rows) == {
        ("token", "adaptive"),
        ("token", "static-split"),
        ("client", "adaptive"),
        ("client", "shared"),
        ("client", "static-split"),
    }
    for row in rows.values():
        assert row["answered"] + row["throttled"] == row["calls"] > 0
        assert row["granted"] == 30 * (2 if row["scope"] == "token" else 1)  # one window of 30, per token or not
        assert 0 < row["used"] <= 1.0
    # the limits API is read once per container (two namespaces), and only with adaptive pacing
    assert rows[("token", "adaptive")]["calls"] >= 4
