"""`gcevents demo`: the whole product on the embedded default, with no AWS and no network.

A spike of realistic conversation lifecycles (duplicates, shuffled order, malformed and untrusted events) goes
through a local SQLite queue with SQS semantics, the real pipeline (SQLite idempotency, state and dead letters)
and the real Genesys client against the built-in simulator, which answers some calls with 429. The source drops a
share of the conversations' events before the queue (some whole conversations); `gcevents reconcile` then finds
every gap against the simulator's analytics, repairs it, finds nothing the second time, and the dropped events
arriving late change nothing twice. The report ends with a loss check: every input is accounted for exactly once."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gcevents.adapters.genesys.settings import GenesysSettings
from gcevents.adapters.sqlite import SqliteQueue
from gcevents.adapters.sqlite.database import SqliteDatabase
from gcevents.config import Config, OutputsConfig, StoreSpec
from gcevents.core.events import TIMER_KIND, GenesysEvent, RawRecord, parse_record
from gcevents.core.pipeline import BatchReport, Outcome, PipelineSettings
from gcevents.core.state import Observation, delta, join
from gcevents.core.times import epoch_ms, parse_iso
from gcevents.entrypoints.runtime import Runtime, build_runtime
from gcevents.entrypoints.scheduled import run_reconcile
from gcevents.entrypoints.worker import Worker, WorkerSettings, WorkerStats
from gcevents.ops.dlq import DeadLetterReader, LetterFilter, failure_explainer, inspect
from gcevents.progress import Progress, terminal_progress
from gcevents.secret import Secret
from gcevents.testing.sinks import WebhookReceiver
from gcevents.testing.workload import TRUSTED_PREFIX, Spike, make_spike
from gcevents.variables import sinks

DEMO_WEBHOOK_SECRET = "demo-webhook-secret"  # noqa: S105 - the demo receiver's own throwaway key

if TYPE_CHECKING:
    from gcevents.testing.genesys import SimulatorOptions


@dataclass(frozen=True)
class DemoOptions:
    events: int = 20_000
    duplicate_rate: float = 0.10
    malformed: int = 12
    untrusted: int = 8
    workers: int = 2
    batch_size: int = 250
    seed: int = 7
    directory: str = ".gcevents/demo"
    # The simulator's real limit: 20 requests per 5 s window (240/min). The client is given a static 900/min, too
    # optimistic on purpose, so 429s happen and the Retry-After handling is exercised.
    api_requests_per_window: int = 20
    api_window_seconds: float = 5.0
    client_rate_per_minute: int = 900
    api_latency_ms: float = 15.0
    api_error_rate: float = 0.01
    show_progress: bool = True
    # Outputs without code: a signed-webhook receiver (the test kit's) on loopback takes the derived records.
    webhook: bool = True
    grace_seconds: float = 2.0  # a missing wrap-up is waited for this long (demo scale, production 900)
    # The source (EventBridge, the integration) loses this share of the conversations' events before the queue;
    # `gcevents reconcile` finds and repairs them. 0: nothing dropped, no reconcile.
    drop_rate: float = 0.05


def run_demo(options: DemoOptions) -> dict[str, Any]:
    from gcevents.testing.genesys import GenesysSimulator

    directory = Path(options.directory)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    db_path = str(directory / "gcevents.db")
    # The spike happened in the hours before now, so reconciling it is what a scheduled run would do.
    hour = int(time.time() // 3600 * 3600)
    spike = make_spike(
        options.events,
        duplicate_rate=options.duplicate_rate,
        malformed=options.malformed,
        untrusted=options.untrusted,
        seed=options.seed,
        start_ms=(hour - 4 * 3600) * 1000,
        drop_rate=options.drop_rate,
    )

    receiver = WebhookReceiver(DEMO_WEBHOOK_SECRET) if options.webhook else None
    timers = {Outcome.PROCESSED.value: 0, Outcome.DUPLICATE.value: 0}
    with GenesysSimulator(_simulator_options(options)) as simulator:
        simulator.register_conversations(spike.analytics.values())  # what Genesys analytics knows
        config = demo_config(options, db_path, simulator.base_url)
        if receiver is not None:
            config = with_webhook(config, receiver.url, options.grace_seconds, db_path)
        runtime = build_runtime(config)
        queue = SqliteQueue(
            SqliteDatabase(db_path),
            max_receive_count=5,
            redrive_to=runtime.dead_letters,
            explain=failure_explainer(runtime.idempotency_store),
        )
        queue.send(spike.bodies)

        progress = terminal_progress(spike.total, "events", quiet=not options.show_progress)
        on_batch = _batch_observer(progress, timers)

        def drain(observer: Callable[[BatchReport], None]) -> WorkerStats:
            return Worker(
                runtime.pipeline, queue, _worker_settings(options), on_batch=observer, is_drained=queue.is_drained
            ).run(exit_when_idle=True)

        started = time.perf_counter()
        stats = drain(on_batch)
        elapsed = time.perf_counter() - started
        if progress is not None:
            progress.close()
        api = simulator.stats()
        stats.outcomes.subtract(timers)
        report = _report(spike, stats, elapsed, api, runtime, db_path)
        if options.drop_rate > 0:
            report["reconcile"] = reconcile_phase(spike, runtime, lambda bodies: _late(queue, bodies, drain))
            report["loss_check"].update(report["reconcile"].pop("checks"))
    if receiver is not None:
        receiver.close()
        report["derived"] = derived_report(spike, receiver, timers)
        report["loss_check"]["one_signed_completed_per_ended_conversation"] = report["derived"]["exactly_once"]
    return report


def _worker_settings(options: DemoOptions) -> WorkerSettings:
    return WorkerSettings(
        batch_size=options.batch_size,
        batch_window=0.05,
        wait_seconds=0.2,
        visibility_timeout=60.0,
        batch_time_limit=120.0,
        concurrency=options.workers,
        retry_base_delay=0.5,
        retry_max_delay=3.0,
    )


def _late(queue: SqliteQueue, bodies: list[str], drain: Callable[[Callable[[BatchReport], None]], Any]) -> Counter[str]:
    """The dropped events arrive after all (the source re-sent them): outcomes by reason."""
    reasons: Counter[str] = Counter()

    def count(report: BatchReport) -> None:
        for result in report.results:
            if result.outcome is not Outcome.RETRY and not (result.event and result.event.kind == TIMER_KIND):
                reasons[result.reason or result.outcome.value] += 1

    queue.send(bodies)
    drain(count)
    return reasons


def reconcile_phase(spike: Spike, runtime: Runtime, late: Callable[[list[str]], Counter[str]]) -> dict[str, Any]:
    """Reconcile the spike's window (`--apply`: it reports the gaps it found and repairs them), once more (nothing
    left), then let the dropped events arrive late."""
    began = time.perf_counter()
    first_ms = min(_epoch_ms(d["conversationStart"]) for d in spike.analytics.values())
    start = datetime.fromtimestamp(first_ms // 3_600_000 * 3600, tz=UTC)
    end = datetime.fromtimestamp(start.timestamp() + 3 * 3600, tz=UTC)
    repaired = run_reconcile(runtime, start, end, apply=True, poll_interval=0.2)
    again = run_reconcile(runtime, start, end, apply=False, poll_interval=0.2)
    reconciled = time.perf_counter()
    arrived = late(spike.dropped)
    expected = spike.expected_gaps()
    found = {g.conversation_id: set(g.kinds) for g in repaired.gaps}
    applied = repaired.facts.get("processed", 0)
    return {
        "window": repaired.summary()["window"],
        "source": repaired.summary()["source"],
        "dropped_events": len(spike.dropped),
        "withheld_messages": spike.withheld,  # the dropped events and their re-sends
        "conversations_checked": repaired.checked,
        "gaps_expected": len(expected),
        "gaps_found": repaired.gap_counts() | {"total": len(repaired.gaps)},
        "facts_rebuilt": repaired.facts.get("synthesized", 0),
        "facts_applied": applied,
        "repaired": repaired.repaired,
        "second_run_gaps": len(again.gaps),
        "late_events": dict(arrived),
        "genesys_calls": {"apply": repaired.genesys_calls, "again": again.genesys_calls},
        "seconds": {"reconcile": round(reconciled - began, 2), "late": round(time.perf_counter() - reconciled, 2)},
        "checks": {
            "reconcile_found_exactly_the_dropped_gaps": found == expected,
            "reconcile_repaired_every_gap": repaired.repaired == len(expected) and not repaired.unrepaired,
            "second_reconcile_found_nothing": not again.gaps,
            "late_events_found_their_facts_applied": arrived.get("fact_already_applied", 0) == applied,
        },
    }


def _epoch_ms(text: str) -> int:
    moment = parse_iso(text)
    if moment is None:
        raise ValueError(f"not an ISO 8601 time: {text!r}")
    return epoch_ms(moment)


def _batch_observer(progress: Progress | None, timers: dict[str, int]) -> Callable[[BatchReport], None]:
    """Counts settled inputs for the progress bar; completion timers are ours, not inputs: counted apart."""

    def on_batch(report: BatchReport) -> None:
        settled = 0
        for result in report.results:
            is_timer = result.event is not None and result.event.kind == TIMER_KIND
            if is_timer and result.outcome.value in timers:
                timers[result.outcome.value] += 1
            elif not is_timer and result.outcome is not Outcome.RETRY:
                settled += 1
        if progress is not None:
            progress.advance(settled)

    return on_batch


def _simulator_options(options: DemoOptions) -> SimulatorOptions:
    from gcevents.testing.genesys import SimulatorOptions

    return SimulatorOptions(
        client_id="demo-client",
        client_secret="demo-secret",  # noqa: S106 - the simulator's own throwaway credentials
        latency_ms=options.api_latency_ms,
        rate_limit_per_minute=options.api_requests_per_window,
        rate_window_seconds=options.api_window_seconds,
        error_rate=options.api_error_rate,
        seed=options.seed,
    )


def demo_config(options: DemoOptions, db_path: str, api_base_url: str) -> Config:
    """Everything on one SQLite file, the real Genesys client against the simulator at `api_base_url`."""
    sqlite = StoreSpec("sqlite", db_path)
    return Config(
        idempotency_store=sqlite,
        state_store=sqlite,
        dead_letters=sqlite,
        # Local retries come back in seconds, not the minute a Lambda deployment would wait for analytics.
        pipeline=PipelineSettings(
            allowed_sources=(TRUSTED_PREFIX,),
            lag_retries=2,
            lag_retry_delay=1.0,
            deadline_margin=2.0,
            handler_concurrency=8,
            in_progress_retry_cap=1.0,
        ),
        genesys=GenesysSettings.for_base_url(
            api_base_url,
            client_id="demo-client",
            client_secret="demo-secret",  # noqa: S106 - the simulator's own throwaway credentials
            rate_per_minute=options.client_rate_per_minute,
        ),
    )


def with_webhook(config: Config, url: str, grace_seconds: float, db_path: str) -> Config:
    """The demo's outputs: the derived records to the loopback receiver; grace timers on the demo's queue."""
    outputs = OutputsConfig(
        sinks=sinks(f"webhook:{url}"),
        webhook_secret=Secret(DEMO_WEBHOOK_SECRET),
        webhook_allow_loopback=True,  # the demo's receiver listens on 127.0.0.1
        grace_seconds=grace_seconds,
        check_queue=StoreSpec("sqlite", db_path),
    )
    return dataclasses.replace(config, outputs=outputs)


def derived_report(spike: Spike, receiver: WebhookReceiver, timers: dict[str, int]) -> dict[str, Any]:
    """What the receiver got: counts per type, one sample, and the exactly-once check against the workload (every
    conversation that ended: whose customer.end arrived, or, reconciled, that analytics says ended)."""
    parsed = [parse_record(RawRecord(body)) for body in spike.bodies]
    ended = {p.conversation_id for p in parsed if isinstance(p, GenesysEvent) and p.kind == "conversation.customer.end"}
    if spike.dropped:
        ended |= {cid for cid, document in spike.analytics.items() if document.get("conversationEnd")}
    completed = receiver.completed_per_conversation()
    samples = receiver.of_type("conversation.completed")
    return {
        "completed": sum(completed.values()),
        "updated": len(receiver.of_type("conversation.updated")),
        "ended_conversations": len(ended),
        "bad_signatures": receiver.bad_signatures,
        "completion_timers": timers["processed"] + timers["duplicate"],
        "exactly_once": completed == dict.fromkeys(ended, 1) and max(receiver.keys().values(), default=1) == 1,
        # The fullest one: in a shuffled spike some conversations complete before their agent's events arrive.
        "sample": max(samples, key=lambda r: len(r.document["conversation"]["sourceEventKeys"])).document
        if samples
        else None,
    }


def _report(
    spike: Spike, stats: WorkerStats, elapsed: float, api: dict[str, Any], runtime: Runtime, db_path: str
) -> dict[str, Any]:
    # `inspect` gives back every letter it read: the `dlq inspect` the report suggests sees them all at once.
    dead_letters = inspect(DeadLetterReader(runtime.dead_letters), LetterFilter(), 100_000)
    reasons: dict[str, int] = {}
    for letter in dead_letters:
        reasons[letter.reason] = reasons.get(letter.reason, 0) + 1
    processed = stats.outcomes.get(Outcome.PROCESSED.value, 0)
    duplicates = stats.outcomes.get(Outcome.DUPLICATE.value, 0)
    tracked = len(runtime.state_store.list(limit=10**7)) if runtime.state_store is not None else 0
    accounted = processed + duplicates + len(dead_letters)
    api_calls = int(api.get("total_calls", 0))
    report = {
        "events_in": spike.total,
        "seconds": round(elapsed, 2),
        "events_per_second": round(spike.total / elapsed, 1),
        "batches": stats.batches,
        "processed": processed,
        "duplicates_skipped": duplicates,
        "dead_letters": len(dead_letters),
        "dead_letters_by_reason": reasons,
        "conversations_tracked": tracked,
        "genesys_api_calls": api_calls,
        "genesys_calls_per_event": round(api_calls / spike.total, 4),
        "genesys_429s": int(api.get("rate_limited", 0)),
        "genesys_5xx": int(api.get("errors_injected", 0)),
        "tokens_issued": int(api.get("tokens_issued", 0)),
        "expected": {
            "unique_events": spike.unique_events,
            "resent_duplicates": spike.duplicates,
            "malformed": spike.malformed,
            "untrusted": spike.untrusted,
            "conversations": len(spike.conversations),
            "withheld_by_the_source": spike.withheld,
        },
        "loss_check": {
            "every_input_accounted_for": accounted == spike.total,
            "accounted": accounted,
            # Exact labels, claim-free events included: every unique event processed once, every re-send a duplicate.
            "processed_equals_unique_events": processed == spike.unique_events,
            "duplicates_equal_resends": duplicates == spike.duplicates,
            "unique_events_in_state": unique_events_applied(spike, runtime),
            "all_conversations_tracked": tracked == len(spike.conversations),
        },
        "database": db_path,
    }
    return report


def unique_events_applied(spike: Spike, runtime: Runtime) -> bool:
    """Every unique event of the spike is in its conversation's stored state: joining the event changes nothing
    (`gcevents.core.state`), the projection's exactly-once in effect."""
    if runtime.state_store is None:
        return True
    states = {item.conversation_id: item.state for item in runtime.state_store.list(limit=10**7)}
    seen: set[str] = set()
    for body in spike.bodies:
        event = parse_record(RawRecord(payload=body), (TRUSTED_PREFIX,))
        if not isinstance(event, GenesysEvent) or event.content_key in seen:
            continue
        seen.add(event.content_key)
        state = states.get(event.conversation_id or "")
        if state is None or join(state, delta(Observation(event))) != state:
            return False
    return len(seen) == spike.unique_events


def print_report(report: dict[str, Any]) -> None:
    ok = all(report["loss_check"][k] for k in report["loss_check"] if k != "accounted")
    command = invoked_as()
    lines = [
        "",
        "gcevents demo: a spike on the embedded default (SQLite + Genesys API simulator)",
        f"  events in              {report['events_in']:>10,}",
        f"  throughput             {report['events_per_second']:>10,.0f} events/s  ({report['seconds']} s)",
        f"  processed              {report['processed']:>10,}",
        f"  duplicates skipped     {report['duplicates_skipped']:>10,}",
        f"  dead letters           {report['dead_letters']:>10,}  "
        + ", ".join(f"{k} {v}" for k, v in sorted(report["dead_letters_by_reason"].items())),
        f"  conversations tracked  {report['conversations_tracked']:>10,}",
        f"  Genesys API calls      {report['genesys_api_calls']:>10,}  ({report['genesys_calls_per_event']} per event,"
        f" {report['genesys_429s']} answered 429, {report['genesys_5xx']} 5xx injected)",
        f"  loss check             {'PASS' if ok else 'FAIL'}: {report['loss_check']['accounted']:,} of"
        f" {report['events_in']:,} inputs accounted for; {report['expected']['unique_events']:,} unique and"
        f" {report['expected']['resent_duplicates']:,} re-sent expected",
        *_reconcile_lines(report.get("reconcile")),
        *_derived_lines(report.get("derived")),
        f"  state and dead letters: {report['database']}",
        f"    GCEVENTS_DB={report['database']} {command} dlq inspect",
        f"    {command} state list --store sqlite:{report['database']}",
    ]
    print("\n".join(lines))


def invoked_as(argv0: str | None = None) -> str:
    """How to type this gcevents again from here: `gcevents` when that is the one on PATH (an installed wheel,
    an activated venv), else the path that ran it, relative when it can be (`.venv/bin/gcevents` in a checkout)."""
    ran = Path(argv0 if argv0 is not None else sys.argv[0])
    on_path = shutil.which("gcevents")
    if ran.name != "gcevents" or (on_path is not None and Path(on_path).resolve() == ran.resolve()):
        return "gcevents"
    absolute = ran.absolute()
    return str(absolute.relative_to(Path.cwd())) if absolute.is_relative_to(Path.cwd()) else str(absolute)


def _reconcile_lines(reconcile: dict[str, Any] | None) -> list[str]:
    if not reconcile:
        return []
    found, late, calls = reconcile["gaps_found"], reconcile["late_events"], reconcile["genesys_calls"]
    source = reconcile["source"]
    return [
        f"  dropped at the source   {reconcile['withheld_messages']:>9,} messages, before the queue:"
        f" {reconcile['dropped_events']:,} events of {reconcile['gaps_expected']:,} conversations (some whole)"
        " and their re-sends",
        f"  reconcile --apply       {reconcile['conversations_checked']:>9,} conversations checked against analytics"
        f" ({source['mode']}, {source['pages']} pages): {found['total']:,} gaps (unknown {found['unknown']},"
        f" not ended {found['not_ended']}, missing wrap-up {found['missing_wrapup']})",
        f"                          {reconcile['facts_applied']:>9,} facts rebuilt and applied,"
        f" {reconcile['repaired']:,} conversations repaired; a second run: {reconcile['second_run_gaps']} gaps",
        f"    late arrival          {sum(late.values()):>9,} dropped events arrive after all:"
        f" {late.get('fact_already_applied', 0):,} found their fact applied, {late.get('processed', 0):,} new"
        " (facts reconcile does not rebuild: IVR, queue, wrapup topic)",
        f"    Genesys calls         {calls['apply']['total']:>9} to find and repair ({calls['apply']['rate_limited']}"
        f" answered 429), {calls['again']['total']} to check again; {reconcile['seconds']['reconcile']} s for both"
        f" runs, {reconcile['seconds']['late']} s for the late events",
    ]


def _derived_lines(derived: dict[str, Any] | None) -> list[str]:
    if not derived:
        return []
    lines = [
        f"  derived events         {derived['completed']:>10,} conversation.completed (one per ended conversation:"
        f" {'yes' if derived['exactly_once'] else 'NO'}), {derived['updated']:,} conversation.updated",
        f"                         signed webhook on loopback, {derived['bad_signatures']} bad signatures;"
        f" {derived['completion_timers']:,} completion timers",
    ]
    sample = derived.get("sample")
    if sample:
        text = json.dumps(sample, indent=2)
        lines += ["  one conversation.completed, as the webhook received it:"]
        shown = text.splitlines()
        lines += ["    " + line for line in shown[:80]]
        if len(shown) > 80:
            lines.append(f"    ... ({len(shown) - 80} more lines; `gcevents demo --json` has it whole)")
    return lines
