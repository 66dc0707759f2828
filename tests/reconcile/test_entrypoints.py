"""The entry points: `gcevents reconcile` on SQLite against the simulator over HTTP (slow), and the Lambda
handler recognising EventBridge Scheduler's payload, reconciling a lagged window and emitting EMF metrics."""

from __future__ import annotations

import io
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gcevents.adapters.genesys import GenesysClient
from gcevents.config import Config, StoreSpec
from gcevents.core.events import RawRecord
from gcevents.core.pipeline import PipelineSettings
from gcevents.entrypoints import cli
from gcevents.entrypoints.cli.reconcile import GAPS_REMAIN, parse_duration
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.entrypoints.scheduled import scheduled_window
from gcevents.errors import ConfigError
from gcevents.observability import MetricsEmitter
from gcevents.ops.local import run_records
from gcevents.testing import LambdaContext
from gcevents.testing.fakes import MemoryEnricher
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions
from gcevents.testing.sinks import WebhookReceiver
from gcevents.testing.workload import make_spike


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def recent_spike(events: int, seed: int = 5) -> Any:
    """A spike that happened four hours ago (reconcile refuses windows older than the state's retention)."""
    hour = int(time.time() // 3600 * 3600)
    return make_spike(
        events,
        duplicate_rate=0.1,
        malformed=0,
        untrusted=0,
        seed=seed,
        start_ms=(hour - 4 * 3600) * 1000,
        drop_rate=0.05,
    )


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90m", 5400), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("PT2H", 7200), ("P1DT6H", 108000), ("45s", 45)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "2", "h", "-2h", "2w", "PT", "2h junk", "0m"])
def test_bad_durations_are_refused(text: str) -> None:
    import argparse

    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)


@pytest.mark.slow  # the simulator and a webhook receiver over HTTP, SQLite files, whole CLI runs
def test_the_cli_reports_repairs_and_then_finds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    spike = recent_spike(1500)
    with GenesysSimulator(SimulatorOptions(rate_limit_per_minute=None)) as sim, WebhookReceiver("s3cret") as hook:
        sim.register_conversations(spike.analytics.values())
        for name, value in {
            **sim.env(),
            "GCEVENTS_DB": str(tmp_path / "db"),
            "GCEVENTS_SINKS": f"webhook:{hook.url}",
            "GCEVENTS_WEBHOOK_SECRET": "s3cret",
            "GCEVENTS_LOG_LEVEL": "ERROR",
            "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
        }.items():
            monkeypatch.setenv(name, value)
        (tmp_path / "in.jsonl").write_text("\n".join(spike.bodies))
        assert cli.main(["process", str(tmp_path / "in.jsonl"), "--json"]) == 0
        capsys.readouterr()
        first = min(d["conversationStart"] for d in spike.analytics.values())
        start = datetime.fromisoformat(first.replace("Z", "+00:00")).replace(minute=0, second=0, microsecond=0)
        window = ["--from", start.isoformat(), "--until", (start + timedelta(hours=3)).isoformat(), "--json"]

        assert cli.main(["reconcile", *window]) == GAPS_REMAIN
        found = json.loads(capsys.readouterr().out)
        assert {g["conversationId"]: set(g["gaps"]) for g in found["gaps"]} == spike.expected_gaps()
        terminal, captured = Terminal(), sys.stderr
        sys.stderr = terminal
        assert cli.main(["reconcile", *window, "--apply"]) == 0
        applied = json.loads(capsys.readouterr().out)
        assert (applied["repaired"], applied["unrepaired"]) == (len(spike.expected_gaps()), [])
        assert terminal.getvalue() == ""  # --json: no progress, even on a terminal
        assert cli.main(["reconcile", *window[:-1]]) == 0
        assert "gaps: 0" in capsys.readouterr().out
        assert f"{found['conversationsChecked']} conversations read" in terminal.getvalue()  # on a terminal: progress
        sys.stderr = captured

        (tmp_path / "late.jsonl").write_text("\n".join(spike.dropped))
        assert cli.main(["process", str(tmp_path / "late.jsonl"), "--json"]) == 0
        late = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert late["duplicate"] == applied["facts"]["processed"]  # every rebuilt fact: its real event a duplicate
        completed = hook.completed_per_conversation()
        ended = {c for c, d in spike.analytics.items() if d.get("conversationEnd")}
        assert completed == Counter(dict.fromkeys(ended, 1))
        assert max(hook.keys().values()) == 1
        assert hook.bad_signatures == 0
        reconciled = [r for r in hook.snapshot() if r.document["conversation"].get("reconciled")]
        assert {r.document["conversationId"] for r in reconciled} == set(spike.expected_gaps())


@pytest.mark.slow  # SQLite files and a few hundred events: the fast tier has the same path on memory ports
def test_the_handler_runs_a_scheduled_reconcile_and_emits_its_metrics(tmp_path: Path) -> None:
    spike = recent_spike(600, seed=8)
    sim = GenesysSimulator(SimulatorOptions(rate_limit_per_minute=None))
    sim.register_conversations(spike.analytics.values())
    transport = sim.transport()
    sqlite = StoreSpec("sqlite", str(tmp_path / "db"))
    config = Config(
        idempotency_store=sqlite,
        state_store=sqlite,
        dead_letters=sqlite,
        pipeline=PipelineSettings(handler_concurrency=2),
    )
    runtime = build_runtime(config, enricher=MemoryEnricher())
    runtime.genesys = GenesysClient(sim.settings(rate_per_minute=60_000), transport=transport)
    stream = io.StringIO()
    runtime.metrics = MetricsEmitter(stream=stream)
    records = [RawRecord(b, f"m{n}") for n, b in enumerate(spike.bodies)]
    run_records(runtime.pipeline, runtime.dead_letters, records, batch_size=100, max_attempts=3, max_wait=0.0)

    payload = {"gcevents": {"task": "reconcile", "everyMinutes": 60, "lagMinutes": 30, "windowMinutes": 300}}
    summary = process_invocation(runtime, payload, LambdaContext(120.0))
    assert summary["gapsFound"] == len(spike.expected_gaps()) > 0
    assert summary["repaired"] == summary["gapsFound"]
    emf = json.loads(stream.getvalue().splitlines()[-1])
    names = {m["Name"]: m["Unit"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert names["ReconcileGapsFound"] == names["ReconcileConversationsChecked"] == "Count"
    assert emf["ReconcileGapsFound"] == summary["gapsFound"]
    assert emf["ReconcileGapsRepaired"] == summary["repaired"]
    assert emf["ReconcileConversationsChecked"] == summary["conversationsChecked"]
    again = process_invocation(runtime, payload, LambdaContext(120.0))
    assert again["gapsFound"] == 0

    with pytest.raises(ConfigError, match="unknown scheduled task"):
        process_invocation(runtime, {"gcevents": {"task": "reboot"}}, LambdaContext(120.0))


def test_scheduled_windows_end_on_a_period_boundary_behind_the_lag_and_overlap() -> None:
    now = datetime(2026, 3, 1, 10, 7, 30, tzinfo=UTC).timestamp()
    start, end = scheduled_window({"everyMinutes": 15, "lagMinutes": 30}, now)
    assert (start, end) == (datetime(2026, 3, 1, 9, 0, tzinfo=UTC), datetime(2026, 3, 1, 9, 30, tzinfo=UTC))
    following = scheduled_window({"everyMinutes": 15, "lagMinutes": 30}, now + 15 * 60)
    assert following[0] < end  # each window overlaps the previous one by a period
    with pytest.raises(ConfigError):
        scheduled_window({"everyMinutes": 0}, now)
