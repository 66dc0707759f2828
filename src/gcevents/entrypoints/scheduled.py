"""Reconciliation on a runtime: shared by `gcevents reconcile` and the Lambda handler's scheduled run.

EventBridge Scheduler invokes the function with a small payload instead of an event batch:

    {"gcevents": {"task": "reconcile", "everyMinutes": 15, "lagMinutes": 30, "windowMinutes": 30, "apply": true}}

The window ends at the last multiple of `everyMinutes` before now - `lagMinutes` and spans `windowMinutes` (by
default two periods): consecutive runs overlap, so a run that failed or came late is covered by the next one, and
reconciliation is idempotent, so the overlap costs queries, not effects."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from gcevents.entrypoints.runtime import Runtime
from gcevents.errors import ConfigError
from gcevents.ops.reconcile import ReconcileOptions, ReconcileReport, pipeline_runner, reconcile

log = logging.getLogger("gcevents")

SCHEDULE_KEY = "gcevents"
RECONCILE_TASK = "reconcile"


def is_scheduled(event: Any) -> bool:
    """A scheduler payload: `{"gcevents": {...}}` and nothing an event batch would carry."""
    return isinstance(event, Mapping) and isinstance(event.get(SCHEDULE_KEY), Mapping) and "detail" not in event


def run_reconcile(
    runtime: Runtime,
    start: datetime,
    end: datetime,
    *,
    apply: bool,
    deadline: float | None = None,
    poll_interval: float = 2.0,
    progress: Callable[[int], object] | None = None,
    on_read: Callable[[int], object] | None = None,
) -> ReconcileReport:
    """Reconcile [start, end) with the runtime's Genesys client (its limiter and counters), state store and pipeline."""
    if runtime.genesys is None:
        raise ConfigError("reconcile reads Genesys analytics: set GENESYS_CLIENT_ID and its secret")
    if runtime.state_store is None:
        raise ConfigError("reconcile compares with the conversation state: GCEVENTS_STATE_STORE is off")
    from gcevents.adapters.genesys.analytics import ConversationDetails

    options = ReconcileOptions(
        start,
        end,
        apply=apply,
        deadline=deadline,
        fact_keys_after=runtime.config.pipeline.fact_keys_after,
        max_age=runtime.config.state_ttl_days * 86400.0,
    )
    return reconcile(
        ConversationDetails(runtime.genesys, poll_interval=poll_interval, progress=on_read),
        runtime.state_store,
        options,
        runner=pipeline_runner(runtime.pipeline, runtime.dead_letters, progress=progress),
        api_calls=runtime.genesys.stats.snapshot,
    )


def scheduled_window(payload: Mapping[str, Any], now: float) -> tuple[datetime, datetime]:
    """[start, end) for a scheduled run at `now` (epoch seconds); ConfigError for a payload that makes no sense."""
    try:
        every = float(payload.get("everyMinutes", 15)) * 60
        lag = float(payload.get("lagMinutes", 30)) * 60
        span = float(payload.get("windowMinutes", 2 * every / 60)) * 60
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"scheduled reconcile: minutes must be numbers ({exc})") from exc
    if not (every > 0 and lag >= 0 and span > 0 and math.isfinite(every + lag + span)):
        raise ConfigError("scheduled reconcile: everyMinutes and windowMinutes > 0, lagMinutes >= 0")
    end = math.floor((now - lag) / every) * every
    return datetime.fromtimestamp(end - span, tz=UTC), datetime.fromtimestamp(end, tz=UTC)


def handle_scheduled(runtime: Runtime, event: Mapping[str, Any], deadline: float) -> dict[str, Any]:
    """Run the scheduled task, emit its metrics (EMF) and return its summary. A failure raises: Lambda records an
    error (the FunctionErrors alarm), and the next run's overlapping window covers this one."""
    payload = event[SCHEDULE_KEY]
    if payload.get("task") != RECONCILE_TASK:
        raise ConfigError(f"unknown scheduled task {str(payload.get('task'))[:40]!r}")
    start, end = scheduled_window(payload, time.time())
    report = run_reconcile(runtime, start, end, apply=bool(payload.get("apply", True)), deadline=deadline - 5.0)
    summary = report.summary()
    runtime.metrics.emit_metrics(reconcile_metrics(report), {"reconcile": _brief(summary)})
    log.info("reconcile done", extra={k: v for k, v in _brief(summary).items() if k != "gaps"})
    if report.gaps:
        log.warning("reconcile found gaps", extra={"gaps": summary["gaps"][:50]})
    return summary


def reconcile_metrics(report: ReconcileReport) -> dict[str, tuple[float, str]]:
    """EMF metrics of one run (Count). `ReconcileGapsFound` > 0 means the source lost events: the alarm."""
    return {
        "ReconcileConversationsChecked": (float(report.checked), "Count"),
        "ReconcileGapsFound": (float(len(report.gaps)), "Count"),
        "ReconcileGapsRepaired": (float(report.repaired), "Count"),
        "ReconcileGapsDeferred": (float(len(report.deferred)), "Count"),
        "ReconcileGapsUnrepaired": (float(len(report.unrepaired)), "Count"),
        "ReconcileFactsApplied": (float(report.facts.get("processed", 0)), "Count"),
        "ReconcileGenesysCalls": (float(report.genesys_calls.get("total", 0)), "Count"),
    }


def _brief(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The summary without the per-conversation lists (a log line, not a report)."""
    return {k: v for k, v in summary.items() if k not in ("gaps", "deferred", "unrepaired")}
