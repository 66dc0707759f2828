"""`gcevents reconcile`: prove the tracked state complete against Genesys analytics, and repair what the stream lost.

1. Read the conversations analytics says ended in the window (`ConversationHistory`: the details query, or the
   jobs API for large windows; `adapters/genesys/analytics.py` says why and when).
2. Read their states in batches and compare (`ops/facts.py`): unknown, not ended, missing wrap-ups.
3. With `apply`: rebuild the missing facts as events marked `reconciled` and run them through the same pipeline as
   live events (claims, enrichment from the documents already read, handlers, the state merge, derived records),
   then read the states again: a gap is repaired when the comparison finds nothing.

Safe beside live processing and when run twice: every fact claims its fact key, which the real event shares (a
late real event claims it too), so each fact is applied once whoever comes first; the second run finds no gap.
Its claims are leased for `RECONCILE_LEASE`, renewed while a batch runs and settled when it ends: a live event
racing the run waits for it at most that long.
A fact younger than `GCEVENTS_FACT_KEYS_AFTER` + the longest lease + a skew margin is not applied yet (its
conversation is reported `deferred`): the real event may still be in flight without claiming the fact key."""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gcevents.core.events import RECONCILE_SOURCE, RawRecord, Reason
from gcevents.core.pipeline import Outcome, Pipeline
from gcevents.core.times import iso_z, parse_iso
from gcevents.errors import ConfigError
from gcevents.ops.facts import GAP_KINDS, Gap, find_gap, repair_facts
from gcevents.ops.local import run_records
from gcevents.ports import (
    Clock,
    ConversationHistory,
    DeadLetter,
    DeadLetterSink,
    Enricher,
    EnrichmentResult,
    StateStore,
    StoredState,
    SystemClock,
)

LEASE_BOUND = 900.0  # seconds: the longest lease a claim takes (a Lambda invocation's maximum)
# seconds: the lease on the keys a reconcile run claims, renewed while its batch runs. A live event that meets one
# waits until it ends: short, so a live event racing a finished (or crashed) reconcile is not held back for long.
RECONCILE_LEASE = 60.0
SKEW_MARGIN = 60.0  # seconds: clocks of different machines, analytics times against event times
STATE_CHUNK = 100  # conversations per state read
LEFT_FOR_NEXT_RUN = "left_for_next_run"  # facts still retried after the runner's rounds: the gap stays for next time

# (fact records, analytics documents by conversation) -> (outcome counts, dead-letter reasons)
_Outcomes = tuple[Counter[str], Counter[str]]
FactRunner = Callable[[Sequence[RawRecord], Mapping[str, Mapping[str, Any]]], _Outcomes]


@dataclass(frozen=True, slots=True)
class ReconcileOptions:
    start: datetime
    end: datetime
    apply: bool = False
    deadline: float | None = None  # epoch seconds for the Genesys reads; default: 900 s from now
    fact_keys_after: float = 600.0  # the pipeline's GCEVENTS_FACT_KEYS_AFTER: what `deferred` is measured from
    max_age: float | None = None  # seconds: refuse to apply a window older than this (the state's TTL)

    def min_fact_age(self) -> float:
        """A fact must be this old to be applied (0 when every real event claims its fact key)."""
        return 0.0 if self.fact_keys_after <= 0 else self.fact_keys_after + LEASE_BOUND + SKEW_MARGIN


@dataclass(slots=True)
class ReconcileReport:
    start: datetime
    end: datetime
    applied: bool = False
    mode: str = "query"
    pages: int = 0
    polls: int = 0
    checked: int = 0
    gaps: list[Gap] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)  # gap conversations too recent to repair yet
    facts: Counter[str] = field(default_factory=Counter)  # synthesized, processed, duplicate, dead_lettered, ...
    repaired: int = 0
    unrepaired: list[str] = field(default_factory=list)
    genesys_calls: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def gap_counts(self) -> dict[str, int]:
        counts = Counter(kind for gap in self.gaps for kind in gap.kinds)
        return {kind: counts.get(kind, 0) for kind in GAP_KINDS}

    def summary(self) -> dict[str, Any]:
        """The JSON document `--json` prints and the scheduled run logs."""
        return {
            "window": {"from": iso_z(self.start), "until": iso_z(self.end)},
            "source": {"mode": self.mode, "pages": self.pages, "jobPolls": self.polls},
            "conversationsChecked": self.checked,
            "gapsFound": len(self.gaps),
            "gapsByKind": self.gap_counts(),
            "gaps": [gap.as_dict() for gap in self.gaps],
            "applied": self.applied,
            "deferred": self.deferred,
            "facts": dict(self.facts),
            "repaired": self.repaired,
            "unrepaired": self.unrepaired,
            "genesysCalls": self.genesys_calls,
            "seconds": round(self.seconds, 3),
        }


def reconcile(
    history: ConversationHistory,
    store: StateStore,
    options: ReconcileOptions,
    *,
    runner: FactRunner | None = None,
    clock: Clock | None = None,
    api_calls: Callable[[], Mapping[str, float]] | None = None,
) -> ReconcileReport:
    """Compare (and with `options.apply` and a `runner`, repair) one window. Raises ConfigError for a window that
    cannot be applied safely, GenesysAuthError/TransientError when analytics cannot be read."""
    clock = clock or SystemClock()
    now = clock.now()
    if options.apply and runner is None:
        raise ConfigError("reconcile --apply needs the pipeline (a fact runner)")
    if options.apply and options.max_age is not None and options.start.timestamp() < now - options.max_age:
        raise ConfigError(
            f"the window starts {(now - options.start.timestamp()) / 86400:.1f} days ago, before the state's"
            f" retention ({options.max_age / 86400:.0f} days): conversations would look unknown and be rebuilt"
        )
    before = dict(api_calls()) if api_calls else {}
    window = history.ended_between(options.start, options.end, options.deadline or now + LEASE_BOUND)
    report = ReconcileReport(options.start, options.end, options.apply, window.mode, window.pages, window.polls)
    documents = {str(d["conversationId"]): d for d in window.conversations if d.get("conversationId")}
    report.checked = len(documents)
    states = _states(store, list(documents))
    report.gaps = [g for cid, d in documents.items() if (g := find_gap(d, _state(states.get(cid)))) is not None]
    if options.apply and report.gaps and runner is not None:
        _repair(report, documents, states, store, runner, options, now)
    if api_calls:
        report.genesys_calls = _delta(api_calls(), before)
    report.seconds = clock.now() - now
    return report


def _repair(
    report: ReconcileReport,
    documents: Mapping[str, Mapping[str, Any]],
    states: Mapping[str, StoredState],
    store: StateStore,
    runner: FactRunner,
    options: ReconcileOptions,
    now: float,
) -> None:
    cutoff = now - options.min_fact_age()
    ready = [g.conversation_id for g in report.gaps if _epoch(g.conversation_end) <= cutoff]
    report.deferred = [g.conversation_id for g in report.gaps if _epoch(g.conversation_end) > cutoff]
    checked_at_ms = int(now * 1000)
    envelopes = [
        envelope
        for cid in ready
        for envelope in repair_facts(documents[cid], _state(states.get(cid)), checked_at_ms=checked_at_ms)
    ]
    records = [RawRecord(json.dumps(e, separators=(",", ":")), message_id=f"reconcile:{e['id']}") for e in envelopes]
    report.facts["synthesized"] = len(records)
    if records:
        outcomes, _reasons = runner(records, {cid: documents[cid] for cid in ready})
        report.facts.update(outcomes)
    after = _states(store, ready)
    report.unrepaired = [cid for cid in ready if find_gap(documents[cid], _state(after.get(cid))) is not None]
    report.repaired = len(ready) - len(report.unrepaired)


def _states(store: StateStore, ids: Sequence[str]) -> dict[str, StoredState]:
    found: dict[str, StoredState] = {}
    for start in range(0, len(ids), STATE_CHUNK):
        found.update(store.get_many(ids[start : start + STATE_CHUNK]))
    return found


def _state(item: StoredState | None) -> Mapping[str, Any] | None:
    return item.state if item is not None else None


# ------------------------------------------------------------------------------------------- running the facts
class KnownDetails:
    """An `Enricher` that answers from the analytics documents the reconcile run already read (no extra call),
    and asks `fallback` for any other conversation."""

    def __init__(self, documents: Mapping[str, Mapping[str, Any]], fallback: Enricher | None = None) -> None:
        self.documents = documents
        self.fallback = fallback

    def enrich(self, conversation_ids: Sequence[str], deadline: float) -> EnrichmentResult:
        known = {cid: self.documents[cid] for cid in conversation_ids if cid in self.documents}
        others = [cid for cid in conversation_ids if cid not in known]
        result = EnrichmentResult(details=dict(known))
        if others and self.fallback is not None:
            more = self.fallback.enrich(others, deadline)
            result.details.update(more.details)
            result.missing, result.failed = more.missing, more.failed
        else:
            result.missing = set(others)
        return result


def pipeline_runner(
    live: Pipeline,
    dead_letters: DeadLetterSink,
    *,
    batch_size: int = 100,
    max_attempts: int = 3,
    max_wait: float = 5.0,
    progress: Callable[[int], object] | None = None,
) -> FactRunner:
    """Facts through a pipeline like `live` (same idempotency store, router, state projection and sinks) that also
    trusts RECONCILE_SOURCE, and is enriched from the documents read. Live pipelines keep refusing that source:
    on the queue, a `reconciled` event would be anyone's claim."""

    def run(records: Sequence[RawRecord], documents: Mapping[str, Mapping[str, Any]]) -> _Outcomes:
        settings = live.settings
        if settings.allowed_sources:
            settings = dataclasses.replace(settings, allowed_sources=(*settings.allowed_sources, RECONCILE_SOURCE))
        pipeline = Pipeline(
            idempotency=live.idempotency,
            dead_letters=dead_letters,
            router=live.router,
            enricher=KnownDetails(documents, live.enricher),
            settings=settings,
            clock=live.clock,
            services=live.services,
            tracer=live.tracer,
        )
        try:
            outcomes, reasons = run_records(
                pipeline,
                _NextRun(),
                records,
                batch_size=batch_size,
                max_attempts=max_attempts,
                max_wait=max_wait,
                progress=progress,
                lease_s=RECONCILE_LEASE,
            )
        finally:
            pipeline.close()
        left = reasons.pop(Reason.RETRIES_EXHAUSTED, 0)
        if left:
            outcomes[Outcome.DEAD_LETTERED.value] -= left
            outcomes[LEFT_FOR_NEXT_RUN] = left
        return +outcomes, reasons

    return run


class _NextRun:
    """Where `run_records` puts what still fails after its rounds: nowhere. A fact that could not be applied now (a
    live event holds it, the store is throttled) is not a dead letter: the gap stays, and the next run rebuilds it."""

    def send(self, letters: Sequence[DeadLetter]) -> None:
        return None


# ------------------------------------------------------------------------------------------- helpers
def _delta(after: Mapping[str, float], before: Mapping[str, float]) -> dict[str, int]:
    calls = {k.removeprefix("calls."): int(v - before.get(k, 0.0)) for k, v in after.items() if k.startswith("calls.")}
    calls = {k: v for k, v in calls.items() if v}
    calls["total"] = int(after.get("api_calls", 0.0) - before.get("api_calls", 0.0))
    calls["rate_limited"] = int(after.get("rate_limited", 0.0) - before.get("rate_limited", 0.0))
    return calls


def _epoch(text: str) -> float:
    moment = parse_iso(text)
    return moment.timestamp() if moment is not None else time.time()  # unreadable: now (deferred), never old


__all__ = ["KnownDetails", "ReconcileOptions", "ReconcileReport", "pipeline_runner", "reconcile"]
