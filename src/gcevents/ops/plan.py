"""`gcevents plan`: size the SQS -> Lambda event source mapping for a load, and say why.

Pure functions over a `PlanInputs`; the CLI only parses arguments and prints. Every value the planner emits
respects the AWS limits it is checked against (see `LIMITS` below and tests/test_plan.py), and the values map
one to one onto the parameters of template.yaml, so `--format sam` feeds `sam deploy --parameter-overrides`.

Model (deliberately simple, and printed with the numbers used: each formula is a `gcevents.ops.formula.Term`,
written once, that computes its value and renders its own arithmetic):
- a batch of B events takes  overhead + B x per-event time + API calls x API latency;
- one instance working a backlog processes B / batch-time events/s;
- Genesys enrichment costs ceil(ceil(B x fraction) / chunk) bulk calls per batch. With the `token` budget scope
  (the default) each instance has its own client-credentials token and its own budget, which bounds what one
  instance does but not how many run; with `shared`, every instance draws on one budget, so
  concurrency x batches/min x calls/batch <= API limit x share;
- the event source mapping ramps in one of two poller modes:
  standard    from 5 concurrent batches by +300 per minute up to MaximumConcurrency (2-1000; ~1,250 without it);
  provisioned from the warm MinimumPollers (10 concurrent invokes and ~1 MB/s each) by up to +1,000 concurrent
              executions per minute, up to MaximumPollers x 10 (at most 20,000), billed per event poller hour."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from gcevents.ops.cost import MonthlyBill, monthly_bill
from gcevents.ops.formula import Term, ceil, floor, largest, num, smallest
from gcevents.ops.prices import usd
from gcevents.ops.spike import Spike, SpikeProfile, spike_profile, spike_series
from gcevents.variables import BUDGET_SCOPES as BUDGET_SCOPES  # GENESYS_BUDGET_SCOPE's values, defined once

__all__ = [
    "LIMITS",
    "Comparison",
    "Plan",
    "PlanInputs",
    "Spike",  # deprecated alias of SpikeProfile
    "SpikeProfile",
    "check_limits",
    "compare",
    "explain",
    "plan",
    "spike_profile",
]

# AWS limits (Lambda SQS event source mapping, Lambda, SQS). Checked by `check_limits`.
MAX_BATCH_SIZE = 10_000  # standard queue
MAX_BATCH_WITHOUT_WINDOW = 10  # a larger BatchSize needs MaximumBatchingWindowInSeconds >= 1
MAX_WINDOW_SECONDS = 300
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1000  # ScalingConfig.MaximumConcurrency
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invoke payload
MAX_FUNCTION_TIMEOUT = 900
MAX_VISIBILITY_TIMEOUT = 12 * 3600
MIN_RECEIVE_COUNT = 5  # AWS: at least 5, so a receive the mapping throttles does not dead-letter a healthy message
MAX_RECEIVE_COUNT = 1000
VISIBILITY_FACTOR = 6  # AWS: queue visibility >= 6 x function timeout (we add the batching window on top)
# Standard poller mode: five concurrent batches at once, then up to +300 per minute.
INITIAL_CONCURRENCY = 5
SCALE_UP_PER_MINUTE = 300
# Provisioned poller mode (ProvisionedPollerConfig). MaximumPollers: the CloudFormation resource schema allows
# 2..2000 (the Lambda API reference now says up to 10,000 for SQS). We deploy through CloudFormation, and
# 2000 pollers x 10 invokes already reach the 20,000 concurrency ceiling of provisioned mode, so 2000 it is.
MIN_POLLERS, MAX_MIN_POLLERS, MAX_POLLERS = 2, 200, 2000
PROVISIONED_SCALE_UP_PER_MINUTE = 1000
INVOKES_PER_POLLER = 10
POLLER_BYTES_PER_SECOND = 1024 * 1024  # about 1 MB/s per event poller
MAX_PROVISIONED_CONCURRENCY = 20_000
# USD per event poller hour (one SQS event poller = one event poller unit, EPU). From the AWS Lambda pricing page
# (aws.amazon.com/lambda/pricing, "Provisioned Mode for SQS ESM" pricing example: $0.00925 per EPU-hour, US East
# N. Virginia), in the price table. Prices differ by region and change: pass --poller-price.
EPU_HOUR_PRICE = usd("event_poller_hour")
HOURS_PER_MONTH = 730
# An SQS record carries messageId, receiptHandle (hundreds of bytes), attributes, md5 and the queue ARN
# around the body: about 1 KB on top of the event itself.
RECORD_OVERHEAD_BYTES = 1024
FULL_VCPU_MB = 1769  # Lambda's memory size with one full vCPU
MIN_MEMORY_MB, MAX_MEMORY_MB = 128, 10_240

# template.yaml enumerates these so it can look the visibility timeout up (CloudFormation has no arithmetic).
TIMEOUT_CHOICES = (15, 30, 60, 90, 120, 180, 300, 600, 900)
WINDOW_CHOICES = (0, 1, 2, 5, 10, 20, 30, 60, 120, 300)
POLLER_MODES = ("standard", "provisioned")
PACINGS = ("adaptive", "static")

LIMITS = {
    "BatchSize": (1, MAX_BATCH_SIZE),
    "MaximumBatchingWindowInSeconds": (0, MAX_WINDOW_SECONDS),
    "MaximumConcurrency": (MIN_CONCURRENCY, MAX_CONCURRENCY),
    "MinimumPollers": (MIN_POLLERS, MAX_MIN_POLLERS),
    "MaximumPollers": (MIN_POLLERS, MAX_POLLERS),
    "FunctionTimeout": (1, MAX_FUNCTION_TIMEOUT),
    "VisibilityTimeout": (0, MAX_VISIBILITY_TIMEOUT),
    "MaxReceiveCount": (MIN_RECEIVE_COUNT, MAX_RECEIVE_COUNT),
}


@dataclass(frozen=True, slots=True)
class PlanInputs:
    rate: float  # steady events/s
    peak_rate: float  # events/s during the spike (total, not on top of `rate`)
    duration: float  # spike length, s
    # CPU time per event on one full vCPU: what `make bench` measured for gcevents at batch 100 (bench/results/
    # table-run.json, 2026-12-01: 1.265 ms, the median of three runs of 1.22-1.33 ms; state on, enrichment for
    # customer.end and acw, 100 conversations in flight; docs/benchmarks.md). `memory_mb` turns it into time.
    event_ms: float = 1.3
    # The function's MemorySize (the template's default): Lambda gives one vCPU at 1,769 MB and a proportional share
    # below it, so at 512 MB each CPU millisecond takes ~3.5 ms.
    memory_mb: int = 512
    batch_overhead_ms: float = 150.0  # per batch: idempotency reads/claims, state batch reads, report
    api_latency_ms: float = 300.0  # one bulk analytics call
    api_limit: int = 300  # Genesys requests/min per client-credentials token (the limits API says the org's)
    api_share: float = 0.8  # of the API limit we plan to use (the rest: retries, other tools)
    clients: int = 1  # OAuth clients in the deployment (GENESYS_CLIENT_ID lists them): one token and budget each
    api_max_wait: float = 20.0  # how long the Genesys client may wait for budget inside one invocation (s)
    chunk: int = 100  # conversation ids per bulk analytics call
    enrich_fraction: float = 0.2  # events that need a Genesys lookup (e.g. customer.end, acw)
    account_headroom: int = 900  # concurrent executions this function may take from the account
    event_kb: float = 2.0  # average EventBridge event size
    max_latency: float = 5.0  # how long a quiet-time event may wait for its batch to fill (s)
    max_batch_seconds: float = 20.0  # keep one batch shorter than this (bounds retry cost and timeouts)
    safety: float = 1.2  # concurrency headroom over the peak
    deadline_margin: float = 5.0  # the handler starts no new work this close to its deadline (s)
    lag_retries: int = 2  # analytics-lag redeliveries (GCEVENTS_LAG_RETRIES)
    transient_retries: int = 2  # further redeliveries for outages before the DLQ (429s are re-sent, not counted)
    crash_retries: int = 1  # crashed invocations (timeout, out of memory) a record survives; one receive each
    reserve: bool = False  # also reserve concurrency (= the cap); AWS advises MaximumConcurrency instead
    poller_mode: str = "standard"  # or "provisioned" (ProvisionedPollerConfig)
    min_pollers: int = MIN_POLLERS  # provisioned: warm pollers at least (raised to carry the steady rate)
    poller_price: float = EPU_HOUR_PRICE  # USD per event poller hour
    budget_scope: str = "token"  # Genesys budget: "token" (per instance) or "shared" (one for the fleet)
    pacing: str = "adaptive"  # "static": emit the old fixed per-instance GenesysRatePerMinute override
    latency_target: float = 60.0  # --compare recommends the cheaper mode whose worst queue wait meets this (s)
    lake: bool = False  # the template's DataLake (Firehose to S3): priced in the monthly bill

    def validate(self) -> None:
        problems = _basic_problems(self) + _mode_problems(self)
        if problems:
            raise ValueError("; ".join(problems))


def _basic_problems(i: PlanInputs) -> list[str]:
    problems = []
    if i.rate < 0 or i.peak_rate <= 0 or i.duration < 0:
        problems.append("rate >= 0, peak rate > 0 and duration >= 0 are required")
    if i.peak_rate < i.rate:
        problems.append(f"peak rate {i.peak_rate} is below the steady rate {i.rate}")
    if i.event_ms <= 0 or i.batch_overhead_ms < 0 or i.api_latency_ms < 0:
        problems.append("event time must be > 0, overhead and API latency >= 0")
    if not MIN_MEMORY_MB <= i.memory_mb <= MAX_MEMORY_MB:
        problems.append(f"memory must be within {MIN_MEMORY_MB}-{MAX_MEMORY_MB} MB")
    if i.api_limit < 1 or not 0 < i.api_share <= 1 or i.chunk < 1 or i.api_max_wait < 0 or i.clients < 1:
        problems.append("API limit >= 1, 0 < API share <= 1, chunk >= 1, API max wait >= 0, clients >= 1 are required")
    if not 0 <= i.enrich_fraction <= 1:
        problems.append("enrichment fraction must be within 0..1")
    if i.account_headroom < MIN_CONCURRENCY:
        problems.append(f"account headroom must allow at least {MIN_CONCURRENCY} concurrent executions")
    if i.event_kb <= 0 or record_bytes(i.event_kb).value > MAX_PAYLOAD_BYTES:
        problems.append("event size must be > 0 and fit the 6 MB payload")
    if i.max_latency < 0 or i.max_batch_seconds <= 0 or i.safety < 1 or i.deadline_margin < 0:
        problems.append("max latency >= 0, max batch seconds > 0, safety >= 1, deadline margin >= 0")
    if i.lag_retries < 0 or i.transient_retries < 0 or i.crash_retries < 0:
        problems.append("retry counts must not be negative")
    return problems


def _mode_problems(i: PlanInputs) -> list[str]:
    problems = []
    choices = (
        ("poller mode", i.poller_mode, POLLER_MODES),
        ("budget scope", i.budget_scope, BUDGET_SCOPES),
        ("pacing", i.pacing, PACINGS),
    )
    for name, value, allowed in choices:
        if value not in allowed:
            problems.append(f"{name} must be one of {', '.join(allowed)}, got {value!r}")
    if not MIN_POLLERS <= i.min_pollers <= MAX_MIN_POLLERS:
        problems.append(f"min pollers must be within {MIN_POLLERS}..{MAX_MIN_POLLERS}")
    if i.poller_price < 0 or i.latency_target < 0:
        problems.append("poller price and latency target must not be negative")
    return problems


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    value: float | int | str
    formula: str  # the arithmetic, with the numbers used


@dataclass(frozen=True, slots=True)
class Plan:
    inputs: PlanInputs
    batch_size: int
    window: int
    max_concurrency: int  # standard: MaximumConcurrency; provisioned: what MaximumPollers lets Lambda reach
    reserved_concurrency: int  # 0: not reserved
    function_timeout: int
    visibility_timeout: int
    max_receive_count: int
    genesys_rate_per_minute: int  # 0: adaptive pacing; > 0 the static override, per token (one per OAuth client)
    batch_seconds: float
    calls_per_batch: int
    capacity: float  # events/s at full concurrency (and within the API budget)
    api_calls_per_minute: float  # at capacity, the whole fleet
    spike: SpikeProfile
    minimum_pollers: int = 0  # provisioned mode only
    maximum_pollers: int = 0
    spike_poller_cost: float = 0.0  # USD the pollers above MinimumPollers cost during the spike
    monthly_poller_cost: float = 0.0  # USD per month for MinimumPollers, always on
    steps: tuple[Step, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())
    monthly: MonthlyBill | None = None  # the AWS bill of a month at the steady rate (`gcevents.ops.cost`)
    start_capacity: float = 0.0  # events/s the fleet takes when the spike starts
    ramp_per_second: float = 0.0  # events/s of capacity the mapping adds per second, up to `capacity`

    def series(self) -> dict[str, list[float]]:
        """The spike over time (`spike_series`): what `--chart` draws and `--json` reports as `series`."""
        i = self.inputs
        return spike_series(
            rate=i.rate,
            peak_rate=i.peak_rate,
            duration=i.duration,
            start_capacity=self.start_capacity,
            ramp=self.ramp_per_second,
            capacity=self.capacity,
        )

    @property
    def poller_mode(self) -> str:
        return self.inputs.poller_mode

    @property
    def enriches(self) -> bool:
        return self.calls_per_batch > 0

    def parameter_overrides(self) -> dict[str, int | str]:
        """template.yaml parameters; the template derives VisibilityTimeout from FunctionTimeout + window. Only
        the chosen poller mode's settings, and Genesys pacing only when enrichment is on."""
        out: dict[str, int | str] = {
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.window,
            "PollerMode": self.poller_mode,
        }
        if self.poller_mode == "provisioned":
            out |= {"MinimumPollers": self.minimum_pollers, "MaximumPollers": self.maximum_pollers}
        else:
            out["MaximumConcurrency"] = self.max_concurrency
        out |= {
            "ReservedConcurrency": self.reserved_concurrency,
            "FunctionTimeout": self.function_timeout,
            "MaxReceiveCount": self.max_receive_count,
        }
        if self.enriches:
            out |= {
                "GenesysBudgetScope": self.inputs.budget_scope,
                "GenesysRatePerMinute": self.genesys_rate_per_minute,
                "GenesysBulkChunk": self.inputs.chunk,
            }
        return out

    def to_sam(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.parameter_overrides().items())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["poller_mode"] = self.poller_mode
        if self.monthly is not None:
            out["monthly_cost"] = {
                "total_usd": round(self.monthly.total, 2),
                "usd_per_million_events": round(self.monthly.per_million_events(), 3),
                "events_per_month": self.monthly.events_per_month,
                "prices_as_of": self.monthly.prices_as_of,
                "lines": [{**asdict(line), "usd": round(line.usd, 2)} for line in self.monthly.lines],
            }
        del out["monthly"]
        out["series"] = self.series()
        out["parameter_overrides"] = self.parameter_overrides()
        out["spike"] = {k: (None if math.isinf(v) else v) for k, v in out["spike"].items()}  # JSON has no inf
        return out


# ------------------------------------------------------------------------------------------------ formulas
# Each formula is written once, as a `Term`: it computes the value and renders the arithmetic behind it.
def visibility_timeout(function_timeout: int, window: int) -> int:
    return int(_visibility(num(function_timeout), num(window)).value)


def _visibility(timeout: Term, window: Term) -> Term:
    """Queue visibility: 6 x function timeout (room for Lambda's own retries of a throttled batch) + window."""
    return VISIBILITY_FACTOR * timeout + window


def record_bytes(event_kb: float) -> Term:
    return num(event_kb, "KB") * 1024 + num(RECORD_OVERHEAD_BYTES, "B record overhead")


def payload_cap(event_kb: float) -> Term:
    return largest(num(1), num(MAX_PAYLOAD_BYTES, "B") // record_bytes(event_kb))


def calls_per_batch(batch_size: Term, enrich_fraction: float, chunk: int) -> Term:
    """Bulk calls per batch, assuming every event that needs enrichment is a different conversation."""
    return ceil(ceil(batch_size * enrich_fraction, slack=1e-9) / chunk)


def batch_time(inputs: PlanInputs, batch_size: int) -> Term:
    """Seconds one batch takes: overhead + B x per-event time + API calls x API latency (all in ms), where the
    per-event time is the CPU time per event stretched by the function's share of a vCPU (`cpu_stretch`)."""
    i, size = inputs, num(batch_size)
    calls = num(calls_per_batch(size, i.enrich_fraction, i.chunk).value)
    per_event = num(i.event_ms, "ms CPU") * cpu_stretch(i.memory_mb)
    return (num(i.batch_overhead_ms, "ms") + size * per_event + calls * num(i.api_latency_ms, "ms")) / 1000.0


def cpu_stretch(memory_mb: int) -> Term:
    """How much longer CPU work takes than on a full vCPU: Lambda allocates CPU in proportion to memory, one vCPU at
    1,769 MB (AWS Lambda developer guide, "Configure Lambda function memory")."""
    return largest(num(1), num(FULL_VCPU_MB, "MB per vCPU") / num(memory_mb, "MB MemorySize"))


def choose_window(max_latency: float) -> Term:
    value = max(w for w in WINDOW_CHOICES if w <= max_latency)
    return Term(value, f"largest of {list(WINDOW_CHOICES)} <= max latency {max_latency:g} s")


def choose_timeout(needed: Term) -> Term:
    value = next((choice for choice in TIMEOUT_CHOICES if choice >= needed.value), TIMEOUT_CHOICES[-1])
    return Term(value, f"smallest of {list(TIMEOUT_CHOICES)} >= {needed.text} = {needed.value:.1f} s")


def max_receive_count(i: PlanInputs) -> Term:
    """Receives a record may need; never below AWS's advice of 5. A crash costs one: its message returns after the
    visibility timeout (>= 6 x the function timeout), long after its lease (the invocation's deadline) ended. A
    key another invocation holds costs one: the record waits until that lease ends (the pipeline's in-progress
    wait is capped at 900 s, longer than any FunctionTimeout). A 429 costs none: the record is re-sent as a new
    message. docs/operations.md has the worker's version (two per crash: its lease is renewed)."""
    needed = (
        num(1, "delivery")
        + num(i.lag_retries, "lag retries")
        + num(i.transient_retries, "transient retries")
        + num(i.crash_retries, "crashes")
        + num(1, "wait for a held key")
    )
    return smallest(largest(needed, num(MIN_RECEIVE_COUNT, "AWS floor")), num(MAX_RECEIVE_COUNT, "SQS max"))


def worker_max_receive_count(lag_retries: int = 2, transient_retries: int = 2, crash_retries: int = 1) -> int:
    """The same rule for `gcevents worker`, whose lease is one visibility timeout renewed with the visibility: a
    crash costs two receives, the crashed delivery and one wait for its last lease to end (a redelivery comes one
    visibility timeout after the last renewal, when that lease is just over, give or take the clock-skew margin)."""
    return max(MIN_RECEIVE_COUNT, 1 + lag_retries + transient_retries + 2 * crash_retries + 1)


def concurrency_seconds(start: Term, ramp: Term, ceiling: Term, seconds: Term) -> Term:
    """The area under a concurrency that starts at `start` and grows by `ramp` per second up to `ceiling`, over
    `seconds`: start x T + ramp x T^2 / 2 while ramping, then ceiling for the rest."""
    t_ramp = (ceiling - start) / ramp if ramp.value > 0 else num(0)
    if seconds.value <= t_ramp.value:
        return start * seconds + ramp * seconds * seconds / 2
    ramping = t_ramp.rounded(1)
    return start * ramping + ramp * ramping * ramping / 2 + ceiling * (seconds - ramping)


# ------------------------------------------------------------------------------------------------ plan
@dataclass(slots=True)
class _Sheet:
    """The steps (each a value with the arithmetic behind it) and the warnings, in the order they arise."""

    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def step(self, name: str, term: Term, digits: int | None = None) -> Term:
        """Record `term` (its value rounded to `digits` for display); returns it as a number for later steps."""
        value = term.value if digits is None else round(term.value) if digits == 0 else round(term.value, digits)
        self.steps.append(Step(name, value, term.text))
        return num(term.value, digits=digits)

    def note(self, name: str, value: float | int | str, why: str) -> None:
        self.steps.append(Step(name, value, why))


@dataclass(frozen=True, slots=True)
class _Batch:
    size: Term
    calls: Term  # bulk API calls per batch
    seconds: Term
    calls_per_minute: Term  # API calls/min of one instance working a backlog


@dataclass(frozen=True, slots=True)
class _Fleet:
    per_instance: Term  # events/s of one instance working a backlog
    target: Term  # the concurrency we want: the peak's, within the API (shared scope), AWS and the account
    concurrency: Term  # the cap the mapping enforces (standard: MaximumConcurrency; provisioned: pollers x 10)
    budget: Term | None  # API calls/min of the whole fleet when the scope is shared; None: per instance
    throughput: Term | None = None  # provisioned: events/s the MaximumPollers carry
    minimum_pollers: Term | None = None
    maximum_pollers: Term | None = None
    per_poller: Term | None = None  # instances one poller feeds (invokes, or its 1 MB/s)


def plan(inputs: PlanInputs) -> Plan:
    inputs.validate()
    i, sheet = inputs, _Sheet()
    window = sheet.step("MaximumBatchingWindowInSeconds", choose_window(i.max_latency))
    batch = _batch(i, window, sheet)
    timeout = sheet.step("FunctionTimeout", _function_timeout(i, batch, sheet))
    visibility = sheet.step("VisibilityTimeout", _visibility(timeout, window).noted("derived by template.yaml"))
    fleet = _fleet(i, batch, sheet)
    reserved = _reserved(i, fleet, sheet)
    rate = _pacing(i, batch, fleet, sheet)
    receives = sheet.step("MaxReceiveCount", max_receive_count(i))
    capacity, api_per_minute = _capacity(batch, fleet, sheet)
    spike, spike_cost, monthly, start_rate, ramp = _spike(i, fleet, capacity, sheet)
    pollers = (fleet.minimum_pollers, fleet.maximum_pollers)
    result = Plan(
        inputs=i,
        batch_size=int(batch.size.value),
        window=int(window.value),
        max_concurrency=int(fleet.concurrency.value),
        reserved_concurrency=reserved,
        function_timeout=int(timeout.value),
        visibility_timeout=int(visibility.value),
        max_receive_count=int(receives.value),
        genesys_rate_per_minute=rate,
        batch_seconds=batch.seconds.value,
        calls_per_batch=int(batch.calls.value),
        capacity=capacity.value,
        api_calls_per_minute=api_per_minute.value,
        spike=spike,
        minimum_pollers=int(pollers[0].value) if pollers[0] else 0,
        maximum_pollers=int(pollers[1].value) if pollers[1] else 0,
        spike_poller_cost=spike_cost,
        monthly_poller_cost=monthly,
        steps=tuple(sheet.steps),
        warnings=tuple(sheet.warnings),
        start_capacity=start_rate.value,
        ramp_per_second=ramp.value,
    )
    check_limits(result)
    return replace(result, monthly=_monthly_bill(result))


def _monthly_bill(p: Plan) -> MonthlyBill:
    i = p.inputs
    return monthly_bill(
        rate=i.rate,
        batch_size=p.batch_size,
        window=p.window,
        memory_mb=i.memory_mb,
        batch_seconds=lambda size: batch_time(i, size).value,
        monthly_pollers=p.monthly_poller_cost,
        lake=i.lake,
    )


def _batch(i: PlanInputs, window: Term, sheet: _Sheet) -> _Batch:
    cap_time = _largest_batch_within(i, i.max_batch_seconds)
    if cap_time < 1:
        cap_time = 1
        sheet.warnings.append(f"even a single event exceeds max batch seconds {i.max_batch_seconds:g}")
    window_cap = MAX_BATCH_SIZE if window.value >= 1 else MAX_BATCH_WITHOUT_WINDOW
    largest_allowed = smallest(
        num(MAX_BATCH_SIZE, "SQS max"),
        payload_cap(i.event_kb).explained("payload cap"),
        num(window_cap, "window cap" if window.value else "window cap (no window: <= 10)"),
        num(cap_time, f"time cap = largest B with batch time <= {i.max_batch_seconds:g} s"),
    )
    size = sheet.step("BatchSize", _align_to_chunks(largest_allowed, i.enrich_fraction, i.chunk))
    calls = sheet.step("API calls per batch", calls_per_batch(size, i.enrich_fraction, i.chunk))
    seconds = sheet.step("batch time (s)", batch_time(i, int(size.value)), digits=3)
    return _Batch(size, calls, seconds, 60.0 / seconds * calls)


def _function_timeout(i: PlanInputs, batch: _Batch, sheet: _Sheet) -> Term:
    """Three batch times of room (a slow store, a cold start), or one batch plus the longest wait for API budget
    the Genesys client allows itself, plus the margin the handler keeps before its deadline."""
    wait = num(i.api_max_wait if batch.calls.value else 0.0, "API wait")
    needed = largest(3 * batch.seconds, batch.seconds + wait) + num(i.deadline_margin, "margin")
    if needed.value > MAX_FUNCTION_TIMEOUT:
        sheet.warnings.append(f"a batch needs {needed.value:.0f} s but Lambda stops at {MAX_FUNCTION_TIMEOUT} s")
    return choose_timeout(needed)


def _per_instance(i: PlanInputs, batch: _Batch, sheet: _Sheet) -> Term:
    """One instance working a backlog: its batches back to back, and with the `token` scope no faster than its
    own token's share allows (bulk calls it may make per minute / calls per batch x events per batch)."""
    alone = batch.size / batch.seconds
    if batch.calls.value and i.budget_scope == "token":
        tokens = _tokens(i)
        own = (tokens * i.api_share / 60.0 / batch.calls * batch.size).explained("own tokens")
        return sheet.step("events/s per instance", smallest(alone.explained("batches"), own), digits=1)
    return sheet.step("events/s per instance", alone, digits=1)


def _tokens(i: PlanInputs) -> Term:
    """Requests/min one instance's tokens allow: the per-token limit, once per OAuth client (each has its own)."""
    limit = num(i.api_limit, "/min per token")
    return limit if i.clients == 1 else limit * num(i.clients, "clients")


def _fleet(i: PlanInputs, batch: _Batch, sheet: _Sheet) -> _Fleet:
    per_instance = _per_instance(i, batch, sheet)
    need = sheet.step("concurrency for the peak", ceil(num(i.safety) * i.peak_rate / per_instance, slack=1e-9))
    caps = [need.called("peak")]
    budget: Term | None = None
    if batch.calls.value and i.budget_scope == "shared":
        budget = _tokens(i) * i.api_share
        allowed = floor(budget / batch.calls_per_minute, slack=1e-9)
        caps.append(sheet.step("concurrency the shared API budget allows", allowed).called("API"))
    elif batch.calls.value:
        sheet.note("concurrency the API allows", "unbounded", "token scope: each instance paces its own token")
    else:
        sheet.note("concurrency the API allows", "unbounded", "no enrichment: no API calls")
    if i.poller_mode == "provisioned":
        caps.append(num(MAX_PROVISIONED_CONCURRENCY, "provisioned max"))
    else:
        caps.append(num(MAX_CONCURRENCY, "MaximumConcurrency max"))
    caps.append(num(i.account_headroom, "account headroom"))
    target = sheet.step("concurrency cap", largest(num(MIN_CONCURRENCY, "AWS min"), smallest(*caps)))
    if budget is not None and caps[1].value < MIN_CONCURRENCY:
        sheet.warnings.append(
            f"the API budget ({budget.value:.0f} calls/min) cannot feed even {MIN_CONCURRENCY} concurrent batches; "
            "enrichment will be paced by the rate limiter (fewer events per call: raise --chunk, or use more "
            "client credentials)"
        )
    if need.value > target.value:
        sheet.warnings.append(
            f"the peak needs {need.text} concurrent batches, capped at {target.text}: a backlog will build"
        )
    if i.poller_mode == "provisioned":
        return _provisioned(i, per_instance, target, budget, sheet)
    concurrency = sheet.step("MaximumConcurrency", target.noted("standard mode"))
    return _Fleet(per_instance, target, concurrency, budget)


def _provisioned(i: PlanInputs, per_instance: Term, target: Term, budget: Term | None, sheet: _Sheet) -> _Fleet:
    """Pollers instead of MaximumConcurrency: enough for the cap (10 invokes or ~1 MB/s each, whichever binds
    first), at least enough warm ones for the steady rate. The concurrency cap is then MaximumPollers x 10."""
    poller_rate = num(POLLER_BYTES_PER_SECOND, "B/s") / record_bytes(i.event_kb)
    per_poller = sheet.step(
        "instances one poller feeds",
        smallest(num(INVOKES_PER_POLLER, "invokes"), (poller_rate / per_instance).explained("1 MB/s")),
        digits=2,
    )
    steady = ceil(num(i.rate) / (per_poller * per_instance), slack=1e-9).explained("steady")
    minimum = sheet.step(
        "MinimumPollers", smallest(largest(num(i.min_pollers, "--min-pollers"), steady), num(MAX_MIN_POLLERS))
    )
    wanted = ceil(target / per_poller, slack=1e-9)
    maximum = sheet.step("MaximumPollers", smallest(largest(minimum, wanted), num(MAX_POLLERS, "CloudFormation max")))
    concurrency = sheet.step(
        "concurrency the pollers allow",
        smallest(maximum * INVOKES_PER_POLLER, num(MAX_PROVISIONED_CONCURRENCY), num(i.account_headroom)),
    )
    throughput = (maximum * poller_rate).rounded(1)
    if budget is not None and concurrency.value > target.value:
        sheet.warnings.append(
            f"provisioned mode has no MaximumConcurrency: up to {concurrency.value:.0f} instances may run while the "
            f"shared API budget feeds {target.value:.0f}; the budget paces them (or --reserve caps them)"
        )
    return _Fleet(per_instance, target, concurrency, budget, throughput, minimum, maximum, per_poller)


def _reserved(i: PlanInputs, fleet: _Fleet, sheet: _Sheet) -> int:
    if not i.reserve:
        sheet.note(
            "ReservedConcurrency", 0, "0: not reserved (AWS advises capping with the mapping; --reserve sets it)"
        )
        return 0
    reserved = int(fleet.target.value)
    sheet.note("ReservedConcurrency", reserved, f"= the concurrency cap {reserved} (--reserve)")
    return reserved


def _pacing(i: PlanInputs, batch: _Batch, fleet: _Fleet, sheet: _Sheet) -> int:
    """0 (adaptive: each container reads its limits and paces by AIMD) unless --pacing static asks for the old
    fixed override: the token's share per instance, or the shared budget divided by the concurrency cap."""
    if not batch.calls.value:
        sheet.note("GenesysRatePerMinute", "-", "no enrichment: no Genesys pacing parameter")
        return 0
    if i.pacing == "adaptive":
        sheet.note(
            "GenesysRatePerMinute", 0, f"0: adaptive pacing ({i.budget_scope} scope; the limits API, AIMD on 429)"
        )
        return 0
    per_token = num(i.api_limit) * i.api_share
    if fleet.budget is not None:  # each instance paces each of its tokens (one per client) at this rate
        per_token = fleet.budget / fleet.target if i.clients == 1 else fleet.budget / fleet.target / i.clients
    rate = sheet.step("GenesysRatePerMinute (static, per token)", largest(num(1), floor(per_token)))
    return int(rate.value)


def _capacity(batch: _Batch, fleet: _Fleet, sheet: _Sheet) -> tuple[Term, Term]:
    """Events/s at full concurrency (within the pollers' throughput and the shared API budget) and the API
    calls/min that makes for the whole fleet."""
    parts = [(fleet.concurrency * fleet.per_instance).explained("fleet")]
    if fleet.throughput is not None:
        parts.append(fleet.throughput.called("pollers"))
    if batch.calls.value and fleet.budget is not None:
        parts.append((fleet.budget / 60.0 / batch.calls * batch.size).explained("API-bound"))
    capacity = sheet.step("capacity (events/s)", smallest(*parts) if len(parts) > 1 else parts[0], digits=1)
    api_per_minute = Term(0.0, "0: no enrichment")
    if batch.calls.value:
        api_per_minute = capacity / batch.size * batch.calls * 60.0
    return capacity, sheet.step("API calls/min at capacity", api_per_minute, digits=1)


def _ramp(i: PlanInputs, fleet: _Fleet, capacity: Term) -> tuple[Term, Term, Term]:
    """(start concurrency, concurrency added per second, start capacity in events/s) of the chosen mode."""
    steady = ceil(num(i.rate) / fleet.per_instance, slack=1e-9).explained("steady")
    if fleet.minimum_pollers is not None and fleet.per_poller is not None:
        warm = (fleet.minimum_pollers * fleet.per_poller).explained("warm pollers")
        start = smallest(fleet.concurrency, largest(warm, steady))
        per_second = num(PROVISIONED_SCALE_UP_PER_MINUTE) / 60.0
    else:
        start = smallest(fleet.concurrency, largest(num(INITIAL_CONCURRENCY, "initial"), steady))
        per_second = num(SCALE_UP_PER_MINUTE) / 60.0
    return start, per_second, smallest(capacity, start * fleet.per_instance)


def _spike(
    i: PlanInputs, fleet: _Fleet, capacity: Term, sheet: _Sheet
) -> tuple[SpikeProfile, float, float, Term, Term]:
    start, per_second, start_rate = _ramp(i, fleet, capacity)
    ramp = per_second * fleet.per_instance
    spike = spike_profile(
        rate=i.rate,
        peak_rate=i.peak_rate,
        duration=i.duration,
        start_capacity=start_rate.value,
        ramp=ramp.value,
        capacity=capacity.value,
    )
    sheet.note(
        "spike peak backlog (events)",
        round(spike.peak_backlog),
        f"{i.peak_rate:g}/s for {i.duration:g} s ({i.poller_mode} mode) against a capacity that starts at "
        f"{start_rate.value:.0f}/s ({start_rate.text}) and grows by {ramp.value:.0f}/s per s ({ramp.text}) up to "
        f"{capacity.value:.0f}/s",
    )
    _drain_note(i, spike, capacity, sheet)
    wait = "never" if math.isinf(spike.worst_wait) else round(spike.worst_wait, 1)
    sheet.note("worst queue wait (s)", wait, "the longest an event waits for the fleet (first in, first out)")
    cost, monthly = _poller_cost(i, fleet, spike, (start, per_second), capacity.value, sheet)
    return spike, cost, monthly, start_rate, ramp


def _drain_note(i: PlanInputs, spike: SpikeProfile, capacity: Term, sheet: _Sheet) -> None:
    """The drain is measured from the end of the spike until the queue is empty. Once the ramp is over the
    backlog shrinks by capacity - steady rate each second, which is the formula shown; while the ramp still runs
    at the end of the spike, the planner integrates the ramp instead (and says so)."""
    if math.isinf(spike.drain_seconds):
        sheet.warnings.append("capacity does not exceed the steady rate: the queue never drains")
        sheet.note("drain after the spike (s)", "never", f"capacity {capacity.value:.0f}/s <= steady {i.rate:g}/s")
        return
    if spike.drain_seconds <= 0:
        sheet.note("drain after the spike (s)", 0, "no backlog left when the spike ends")
        return
    drain = num(spike.end_backlog, "queued at the end", digits=0) / (capacity - num(i.rate, "steady"))
    if abs(drain.value - spike.drain_seconds) <= max(1e-6, 1e-6 * spike.drain_seconds):
        sheet.step("drain after the spike (s)", drain, digits=0)
    else:
        sheet.note(
            "drain after the spike (s)",
            round(spike.drain_seconds),
            "from the end of the spike until the queue is empty, while capacity still ramps (integrated)",
        )


def _poller_cost(
    i: PlanInputs, fleet: _Fleet, spike: SpikeProfile, ramp: tuple[Term, Term], capacity: float, sheet: _Sheet
) -> tuple[float, float]:
    """Provisioned mode: the event poller hours above MinimumPollers from the start of the spike until it is over
    and the queue is empty again, at --poller-price; and what MinimumPollers cost per month, always on. Pollers
    follow the concurrency in use (one per `per_poller` instances), which ramps as the mapping scales."""
    if fleet.minimum_pollers is None or fleet.per_poller is None:
        sheet.note("added poller cost for the spike (USD)", 0, "standard mode: no poller charge")
        return 0.0, 0.0
    busy = max(i.duration, spike.clear_seconds)
    if math.isinf(busy):
        busy = 30 * 86400.0  # a queue that never drains: a month of maximum pollers
    # The instances the spike keeps busy: the peak's, or as many as the capacity allows when that is less.
    busiest = smallest(num(i.peak_rate, "peak"), num(capacity, "capacity"))
    used = smallest(ceil(busiest / fleet.per_instance, slack=1e-9), fleet.concurrency).called("in use")
    start, per_second = ramp
    area = concurrency_seconds(smallest(start, used), per_second, used, num(busy, "s busy", digits=0))
    pollers = (area / fleet.per_poller).explained("poller-seconds")
    extra = largest(num(0), pollers - fleet.minimum_pollers * num(busy, "s", digits=0))
    cost = sheet.step("added poller cost for the spike (USD)", extra / 3600.0 * num(i.poller_price, "$/h"), digits=2)
    monthly = sheet.step(
        "MinimumPollers per month (USD)",
        fleet.minimum_pollers * num(HOURS_PER_MONTH, "h") * num(i.poller_price, "$/h"),
        digits=2,
    )
    return cost.value, monthly.value


def _largest_batch_within(inputs: PlanInputs, seconds: float) -> int:
    """The batch time is non-decreasing in the batch size: binary search for the largest that fits."""
    lo, hi = 0, MAX_BATCH_SIZE
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if batch_time(inputs, mid).value <= seconds:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _align_to_chunks(batch: Term, fraction: float, chunk: int) -> Term:
    """Shrink the batch so its enrichment lookups fill whole bulk calls (a call for 3 ids costs as much as one
    for 100). Only when at least one full chunk fits, and never by more than one chunk's worth."""
    size = num(batch.value)
    if fraction <= 0 or size.value * fraction < chunk:
        return batch
    aligned = floor(floor(size * fraction / chunk, slack=1e-9) * chunk / fraction, slack=1e-9)
    value = max(1, min(int(size.value), int(aligned.value)))
    if value == size.value:
        return batch
    return Term(value, f"{batch.text}, then {value} = {aligned.text} so its lookups fill whole bulk calls")


def check_limits(p: Plan) -> None:
    """Raise ValueError naming the first AWS rule the plan breaks: the planner checks its own output."""
    values = {**p.parameter_overrides(), "VisibilityTimeout": p.visibility_timeout}
    for name, (low, high) in LIMITS.items():
        value = values.get(name)
        if value is not None and not low <= int(value) <= high:
            raise ValueError(f"{name}={value} outside {low}..{high}")
    if p.batch_size > MAX_BATCH_WITHOUT_WINDOW and p.window < 1:
        raise ValueError("BatchSize > 10 needs MaximumBatchingWindowInSeconds >= 1")
    if p.batch_size * record_bytes(p.inputs.event_kb).value > MAX_PAYLOAD_BYTES:
        raise ValueError("a full batch exceeds the 6 MB invoke payload")
    if p.visibility_timeout < VISIBILITY_FACTOR * p.function_timeout + p.window:
        raise ValueError("VisibilityTimeout < 6 x FunctionTimeout + MaximumBatchingWindowInSeconds")
    if p.poller_mode == "standard" and p.reserved_concurrency and p.reserved_concurrency < p.max_concurrency:
        raise ValueError("ReservedConcurrency < MaximumConcurrency")
    if p.poller_mode == "provisioned" and not p.minimum_pollers <= p.maximum_pollers:
        raise ValueError("MinimumPollers > MaximumPollers")
    if p.function_timeout not in TIMEOUT_CHOICES or p.window not in WINDOW_CHOICES:
        raise ValueError("FunctionTimeout / window not among the values template.yaml accepts")


def explain(p: Plan) -> str:
    width = max(len(s.name) for s in p.steps)
    lines = [f"gcevents plan: steady {p.inputs.rate:g}/s, peak {p.inputs.peak_rate:g}/s for {p.inputs.duration:g} s"]
    lines += [f"  {s.name:<{width}}  {s.value!s:>10}   {s.formula}" for s in p.steps]
    lines += [f"  warning: {w}" for w in p.warnings]
    if p.monthly is not None:
        lines += ["", *bill_lines(p.monthly)]
    lines.append("")
    lines.append(f"sam deploy --parameter-overrides {p.to_sam()}")
    return "\n".join(lines)


def bill_lines(bill: MonthlyBill) -> list[str]:
    width = max(len(line.item) for line in bill.lines)
    lines = [
        f"monthly AWS bill at the steady rate ({bill.events_per_month:,.0f} events; prices {bill.prices_as_of},"
        " US East):"
    ]
    lines += [
        f"  {line.item:<{width}}  ${line.usd:>10,.2f}   {line.quantity:,.1f} {line.unit}: {line.why}"
        for line in bill.lines
    ]
    lines.append(f"  {'total':<{width}}  ${bill.total:>10,.2f}   ${bill.per_million_events():.2f} per million events")
    return lines


# ------------------------------------------------------------------------------------------------ compare
@dataclass(frozen=True, slots=True)
class Comparison:
    standard: Plan
    provisioned: Plan
    recommended: str  # a poller mode
    why: str

    @property
    def chosen(self) -> Plan:
        return self.provisioned if self.recommended == "provisioned" else self.standard

    def to_dict(self) -> dict[str, Any]:
        standard, provisioned = self.standard.to_dict(), self.provisioned.to_dict()
        return {
            "standard": standard,
            "provisioned": provisioned,
            "recommendation": {"poller_mode": self.recommended, "why": self.why},
            # The bill of the recommended mode (each mode's is under its own key too).
            "monthly_cost": (provisioned if self.recommended == "provisioned" else standard)["monthly_cost"],
        }


def compare(inputs: PlanInputs) -> Comparison:
    """Both poller modes for the same load, and the cheaper one that keeps the worst queue wait within
    --latency-target (if neither does: the one with the shorter wait)."""
    standard = plan(replace(inputs, poller_mode="standard"))
    provisioned = plan(replace(inputs, poller_mode="provisioned"))
    target = inputs.latency_target
    s_wait, p_wait = standard.spike.worst_wait, provisioned.spike.worst_wait
    extra = (
        f"provisioned would add ${provisioned.spike_poller_cost:.2f} for this spike and "
        f"${provisioned.monthly_poller_cost:.2f}/month for {provisioned.minimum_pollers} warm pollers"
    )
    if s_wait <= target:
        return Comparison(
            standard,
            provisioned,
            "standard",
            f"standard keeps the worst queue wait at {_seconds(s_wait)} (target {target:g} s) "
            f"at no poller cost; {extra}",
        )
    if p_wait <= target:
        return Comparison(
            standard,
            provisioned,
            "provisioned",
            f"only provisioned keeps the worst queue wait within {target:g} s ({_seconds(p_wait)} "
            f"against {_seconds(s_wait)}); {extra}",
        )
    faster = "provisioned" if p_wait < s_wait else "standard"
    why = (
        f"neither meets the {target:g} s target (standard {_seconds(s_wait)}, provisioned {_seconds(p_wait)}); "
        f"{faster} waits less. The concurrency cap binds: see the warnings (API budget, account headroom)"
    )
    return Comparison(standard, provisioned, faster, why)


def _seconds(value: float) -> str:
    return "never" if math.isinf(value) else f"{value:.0f} s"


def _comparison_rows(p: Plan) -> list[tuple[str, object]]:
    pollers = f"{p.minimum_pollers}-{p.maximum_pollers}" if p.maximum_pollers else "-"
    return [
        ("concurrency cap", p.max_concurrency),
        ("pollers (min-max)", pollers),
        ("capacity (events/s)", round(p.capacity, 1)),
        ("peak backlog (events)", round(p.spike.peak_backlog)),
        ("drain after the spike (s)", _seconds(p.spike.drain_seconds).removesuffix(" s")),
        ("worst queue wait (s)", _seconds(p.spike.worst_wait).removesuffix(" s")),
        ("added poller cost, spike", f"${p.spike_poller_cost:.2f}"),
        ("MinimumPollers per month", f"${p.monthly_poller_cost:.2f}"),
        ("AWS bill per month", f"${p.monthly.total:,.2f}" if p.monthly else "-"),
    ]


def explain_comparison(c: Comparison) -> str:
    i = c.standard.inputs
    lines = [
        f"gcevents plan --compare: steady {i.rate:g}/s, peak {i.peak_rate:g}/s for {i.duration:g} s",
        f"  {'':<26}  {'standard':>12}  {'provisioned':>12}",
    ]
    for (name, standard), (_, provisioned) in zip(
        _comparison_rows(c.standard), _comparison_rows(c.provisioned), strict=True
    ):
        lines.append(f"  {name:<26}  {standard!s:>12}  {provisioned!s:>12}")
    lines += [f"  warning ({p.poller_mode}): {w}" for p in (c.standard, c.provisioned) for w in p.warnings]
    lines += ["", f"recommended: {c.recommended} - {c.why}", ""]
    lines.append(f"sam deploy --parameter-overrides {c.chosen.to_sam()}")
    return "\n".join(lines)
