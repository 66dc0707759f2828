"""`gcevents demo` end to end on a small spike: the report's loss check must hold and match the workload."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gcevents.entrypoints import cli

pytestmark = pytest.mark.slow  # subprocesses, servers and whole workloads


def test_demo_accounts_for_every_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo", "--events", "1500", "--dir", str(tmp_path / "demo"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = report["expected"]
    assert report["events_in"] == 1500
    assert report["processed"] == expected["unique_events"]
    assert report["duplicates_skipped"] == expected["resent_duplicates"]
    assert report["dead_letters"] == expected["malformed"] + expected["untrusted"]
    assert report["dead_letters_by_reason"]["untrusted_source"] == expected["untrusted"]
    assert report["conversations_tracked"] == expected["conversations"]
    assert all(report["loss_check"][k] for k in report["loss_check"] if k != "accounted")
    # Bulk enrichment: a handful of calls for the whole spike, not one per event.
    assert 0 < report["genesys_api_calls"] < 0.05 * report["events_in"]

    # The state and dead letters it leaves behind are what the other commands read.
    assert cli.main(["state", "list", "--json", "--store", f"sqlite:{report['database']}", "--limit", "5"]) == 0
    listed = capsys.readouterr().out
    assert listed.strip()
