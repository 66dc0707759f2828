"""`gcevents plan`: size the SQS -> Lambda event source mapping for a load, and say why.

Pure functions over a `PlanInputs`; the CLI only parses arguments and prints. Every value the planner emits
respects the AWS limits it is checked against (see `LIMITS` below and tests/test_plan.py), and the values map
one to one onto the parameters of template.yaml, so `--format sam` feeds `sam deploy --parameter-overrides`.

Model (deliberately simple, and printed with the numbers used: each formula is a `gcevents.ops.formula.Term`,
written once, that computes its value and renders its own arithmetic):
- a batch of B events takes  overhead + B x per-event time + API calls x API latency;
- one instance working a backlog processes B / batch-time events/s;
- Genesys enrichment costs ceil(ceil(B x fraction) / chunk) bulk calls per batch, and every instance shares
  one client-credentials budget, so  concurrency x batches/min x calls/batch <= API limit x share;
- the event source mapping ramps from 5 concurrent batches by +300 per minute up to MaximumConcurrency."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from gcevents.ops.formula import Term, ceil, floor, largest, num, smallest

# AWS limits (Lambda SQS event source mapping, Lambda, SQS). Checked by `check_limits`.
MAX_BATCH_SIZE = 10_000  # standard queue
MAX_BATCH_WITHOUT_WINDOW = 10  # a larger BatchSize needs MaximumBatchingWindowInSeconds >= 1
MAX_WINDOW_SECONDS = 300
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1000  # ScalingConfig.MaximumConcurrency
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invoke payload
MAX_FUNCTION_TIMEOUT = 900
MAX_VISIBILITY_TIMEOUT = 12 * 3600
MAX_RECEIVE_COUNT = 1000
# AWS advises a maxReceiveCount of at least 5, so throttled receives do not dead-letter healthy messages.
MIN_RECEIVE_COUNT = 5
VISIBILITY_FACTOR = 6  # AWS: queue visibility >= 6 x function timeout (we add the batching window on top)
SCALE_UP_PER_MINUTE = 300  # SQS pollers add up to 300 concurrent invocations per minute
INITIAL_CONCURRENCY = 5  # ... starting from five concurrent batches
# An SQS record carries messageId, receiptHandle (hundreds of bytes), attributes, md5 and the queue ARN
# around the body: about 1 KB on top of the event itself.
RECORD_OVERHEAD_BYTES = 1024
# template.yaml enumerates these so it can look the visibility timeout up (CloudFormation has no arithmetic).
TIMEOUT_CHOICES = (15, 30, 60, 90, 120, 180, 300, 600, 900)
WINDOW_CHOICES = (0, 1, 2, 5, 10, 20, 30, 60, 120, 300)

LIMITS = {
    "BatchSize": (1, MAX_BATCH_SIZE),
    "MaximumBatchingWindowInSeconds": (0, MAX_WINDOW_SECONDS),
    "MaximumConcurrency": (MIN_CONCURRENCY, MAX_CONCURRENCY),
    "FunctionTimeout": (1, MAX_FUNCTION_TIMEOUT),
    "VisibilityTimeout": (0, MAX_VISIBILITY_TIMEOUT),
    "MaxReceiveCount": (MIN_RECEIVE_COUNT, MAX_RECEIVE_COUNT),
}


@dataclass(frozen=True, slots=True)
class PlanInputs:
    rate: float  # steady events/s
    peak_rate: float  # events/s during the spike (total, not on top of `rate`)
    duration: float  # spike length, s
    event_ms: float = 2.0  # processing time per event, amortised over the batch's parallelism
    batch_overhead_ms: float = 150.0  # per batch: idempotency reads/claims, state batch reads, report
    api_latency_ms: float = 300.0  # one bulk analytics call
    api_limit: int = 300  # Genesys requests/min per client-credentials token
    api_share: float = 0.8  # of the API limit we let the Lambda fleet use (the rest: retries, other tools)
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
    transient_retries: int = 2  # further redeliveries for throttles/outages before the DLQ
    crash_retries: int = 1  # crashed invocations (timeout, out of memory) a record survives; one receive each
    reserve: bool = True  # also set reserved concurrency (= MaximumConcurrency)

    def validate(self) -> None:
        problems = []
        if self.rate < 0 or self.peak_rate <= 0 or self.duration < 0:
            problems.append("rate >= 0, peak rate > 0 and duration >= 0 are required")
        if self.peak_rate < self.rate:
            problems.append(f"peak rate {self.peak_rate} is below the steady rate {self.rate}")
        if self.event_ms <= 0 or self.batch_overhead_ms < 0 or self.api_latency_ms < 0:
            problems.append("event time must be > 0, overhead and API latency >= 0")
        if self.api_limit < 1 or not 0 < self.api_share <= 1 or self.chunk < 1 or self.api_max_wait < 0:
            problems.append("API limit >= 1, 0 < API share <= 1, chunk >= 1, API max wait >= 0 are required")
        if not 0 <= self.enrich_fraction <= 1:
            problems.append("enrichment fraction must be within 0..1")
        if self.account_headroom < MIN_CONCURRENCY:
            problems.append(f"account headroom must allow at least {MIN_CONCURRENCY} concurrent executions")
        if self.event_kb <= 0 or record_bytes(self.event_kb).value > MAX_PAYLOAD_BYTES:
            problems.append("event size must be > 0 and fit the 6 MB payload")
        if self.max_latency < 0 or self.max_batch_seconds <= 0 or self.safety < 1 or self.deadline_margin < 0:
            problems.append("max latency >= 0, max batch seconds > 0, safety >= 1, deadline margin >= 0")
        if self.lag_retries < 0 or self.transient_retries < 0 or self.crash_retries < 0:
            problems.append("retry counts must not be negative")
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    value: float | int | str
    formula: str  # the arithmetic, with the numbers used


@dataclass(frozen=True, slots=True)
class Spike:
    peak_backlog: float  # events waiting at the worst moment
    drain_seconds: float  # from the end of the spike until the queue is back to empty (inf: never)
    clear_seconds: float  # from the start of the spike (inf: never)


@dataclass(frozen=True, slots=True)
class Plan:
    inputs: PlanInputs
    batch_size: int
    window: int
    max_concurrency: int
    reserved_concurrency: int  # 0: not reserved
    function_timeout: int
    visibility_timeout: int
    max_receive_count: int
    genesys_rate_per_minute: int  # per instance: the fleet's share of the API limit / MaximumConcurrency
    batch_seconds: float
    calls_per_batch: int
    capacity: float  # events/s at full concurrency (and within the API budget)
    api_calls_per_minute: float  # at full concurrency
    spike: Spike
    steps: tuple[Step, ...] = field(default=())
    warnings: tuple[str, ...] = field(default=())

    def parameter_overrides(self) -> dict[str, int]:
        """template.yaml parameters; the template derives VisibilityTimeout from FunctionTimeout + window."""
        return {
            "BatchSize": self.batch_size,
            "MaximumBatchingWindowInSeconds": self.window,
            "MaximumConcurrency": self.max_concurrency,
            "ReservedConcurrency": self.reserved_concurrency,
            "FunctionTimeout": self.function_timeout,
            "MaxReceiveCount": self.max_receive_count,
            "GenesysRatePerMinute": self.genesys_rate_per_minute,
            "GenesysBulkChunk": self.inputs.chunk,
        }

    def to_sam(self) -> str:
        return " ".join(f"{key}={value}" for key, value in self.parameter_overrides().items())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
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
    """Seconds one batch takes: overhead + B x per-event time + API calls x API latency (all in ms)."""
    i, size = inputs, num(batch_size)
    calls = num(calls_per_batch(size, i.enrich_fraction, i.chunk).value)
    return (
        num(i.batch_overhead_ms, "ms") + size * num(i.event_ms, "ms") + calls * num(i.api_latency_ms, "ms")
    ) / 1000.0


def choose_window(max_latency: float) -> Term:
    value = max(w for w in WINDOW_CHOICES if w <= max_latency)
    return Term(value, f"largest of {list(WINDOW_CHOICES)} <= max latency {max_latency:g} s")


def choose_timeout(needed: Term) -> Term:
    value = next((choice for choice in TIMEOUT_CHOICES if choice >= needed.value), TIMEOUT_CHOICES[-1])
    return Term(value, f"smallest of {list(TIMEOUT_CHOICES)} >= {needed.text} = {needed.value:.1f} s")


def spike_profile(
    *, rate: float, peak_rate: float, duration: float, start_capacity: float, ramp: float, capacity: float
) -> Spike:
    """Backlog of a rectangular spike against a capacity that ramps linearly (events/s per s) to a ceiling.

    The net inflow (arrivals - capacity) never increases over time (arrivals drop at the end of the spike,
    capacity only grows), so the queued amount F(t) = integral of the net inflow is concave: the backlog is
    max(0, F) and it is empty again at the first root of F after its maximum."""
    c0 = min(start_capacity, capacity)
    t_ramp = (capacity - c0) / ramp if ramp > 0 else 0.0

    def served(t: float) -> float:
        if t <= t_ramp:
            return c0 * t + ramp * t * t / 2
        return c0 * t_ramp + ramp * t_ramp * t_ramp / 2 + capacity * (t - t_ramp)

    def queued(t: float) -> float:
        arrived = peak_rate * min(t, duration) + rate * max(0.0, t - duration)
        return arrived - served(t)

    # F' = 0 where capacity meets the arrival rate; the breakpoints are the other candidates for the max.
    candidates = [0.0, duration, t_ramp]
    if ramp > 0:
        candidates += [(peak_rate - c0) / ramp, (rate - c0) / ramp]
    t_max = max((t for t in candidates if t >= 0), key=queued)
    peak = queued(t_max)
    if peak <= 1e-9:
        return Spike(0.0, 0.0, 0.0)
    if capacity <= rate:
        return Spike(peak, math.inf, math.inf)
    # Past both breakpoints F is linear with slope rate - capacity; before them, bisect (F is decreasing).
    t_lin = max(duration, t_ramp, t_max)
    if queued(t_lin) > 0:
        t_empty = t_lin + queued(t_lin) / (capacity - rate)
    else:
        lo, hi = t_max, t_lin
        for _ in range(200):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if queued(mid) > 0 else (lo, mid)
        t_empty = hi
    return Spike(peak, max(0.0, t_empty - duration), t_empty)


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
    concurrency: Term
    budget: Term  # API calls/min for the whole fleet: one client-credentials token


def plan(inputs: PlanInputs) -> Plan:
    inputs.validate()
    i, sheet = inputs, _Sheet()
    window = sheet.step("MaximumBatchingWindowInSeconds", choose_window(i.max_latency))
    batch = _batch(i, window, sheet)
    timeout = sheet.step("FunctionTimeout", _function_timeout(i, batch, sheet))
    visibility = sheet.step("VisibilityTimeout", _visibility(timeout, window).noted("derived by template.yaml"))
    fleet = _fleet(i, batch, sheet)
    reserved = int(fleet.concurrency.value) if i.reserve else 0
    why = f"= MaximumConcurrency {reserved} (must be >= it)" if i.reserve else "0: not reserved"
    sheet.note("ReservedConcurrency", reserved, why)
    rate = sheet.step("GenesysRatePerMinute (per instance)", largest(num(1), floor(fleet.budget / fleet.concurrency)))
    receives = sheet.step("MaxReceiveCount", _receives(i))
    capacity, api_per_minute = _capacity(i, batch, fleet, sheet)
    spike = _spike(i, fleet, capacity, sheet)
    result = Plan(
        inputs=i, batch_size=int(batch.size.value), window=int(window.value),
        max_concurrency=int(fleet.concurrency.value), reserved_concurrency=reserved,
        function_timeout=int(timeout.value), visibility_timeout=int(visibility.value),
        max_receive_count=int(receives.value), genesys_rate_per_minute=int(rate.value),
        batch_seconds=batch.seconds.value, calls_per_batch=int(batch.calls.value), capacity=capacity.value,
        api_calls_per_minute=api_per_minute.value, spike=spike, steps=tuple(sheet.steps),
        warnings=tuple(sheet.warnings),
    )  # fmt: skip
    check_limits(result)
    return result


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


def _fleet(i: PlanInputs, batch: _Batch, sheet: _Sheet) -> _Fleet:
    per_instance = sheet.step("events/s per instance", batch.size / batch.seconds, digits=1)
    need = sheet.step("concurrency for the peak", ceil(num(i.safety) * i.peak_rate / per_instance, slack=1e-9))
    budget = num(i.api_limit) * i.api_share
    if batch.calls.value:
        allowed = floor(budget / batch.calls_per_minute, slack=1e-9)
        api_cap = sheet.step("concurrency the API allows", allowed).called("API")
    else:
        api_cap = Term(MAX_CONCURRENCY, "unbounded API")
        sheet.note("concurrency the API allows", "unbounded", "no enrichment: no API calls")
    within = smallest(
        need.called("peak"), api_cap, num(MAX_CONCURRENCY, "AWS max"), num(i.account_headroom, "account headroom")
    )
    concurrency = sheet.step("MaximumConcurrency", largest(num(MIN_CONCURRENCY, "AWS min"), within))
    if batch.calls.value and api_cap.value < MIN_CONCURRENCY:
        sheet.warnings.append(
            f"the API budget ({budget.value:.0f} calls/min) cannot feed even {MIN_CONCURRENCY} concurrent batches; "
            "enrichment will be paced by the rate limiter (fewer events per call: raise --chunk, or use more "
            "client credentials)"
        )
    if need.value > concurrency.value:
        sheet.warnings.append(
            f"the peak needs {need.text} concurrent batches, capped at {concurrency.text}: a backlog will build"
        )
    return _Fleet(per_instance, concurrency, budget)


def _capacity(i: PlanInputs, batch: _Batch, fleet: _Fleet, sheet: _Sheet) -> tuple[Term, Term]:
    """Events/s at full concurrency (within the API budget) and the API calls/min it makes."""
    capacity = fleet.concurrency * fleet.per_instance
    api_per_minute = Term(0.0, "0: no enrichment")
    if batch.calls.value:
        api_bound = fleet.budget / 60.0 / batch.calls * batch.size
        capacity = smallest(capacity.explained("fleet"), api_bound.explained("API-bound"))
        api_per_minute = smallest(fleet.concurrency * batch.calls_per_minute, fleet.budget)
    capacity = sheet.step("capacity (events/s)", capacity, digits=1)
    return capacity, sheet.step("API calls/min at capacity", api_per_minute, digits=1)


def _spike(i: PlanInputs, fleet: _Fleet, capacity: Term, sheet: _Sheet) -> Spike:
    """The event source mapping starts at five concurrent batches (or what the steady rate keeps busy) and adds
    300 per minute up to MaximumConcurrency."""
    busy = largest(num(INITIAL_CONCURRENCY), ceil(num(i.rate) / fleet.per_instance))
    start = smallest(fleet.concurrency, busy) * fleet.per_instance
    ramp = num(SCALE_UP_PER_MINUTE) / 60.0 * fleet.per_instance
    spike = spike_profile(
        rate=i.rate, peak_rate=i.peak_rate, duration=i.duration, start_capacity=start.value, ramp=ramp.value,
        capacity=capacity.value,
    )  # fmt: skip
    sheet.note(
        "spike peak backlog (events)",
        round(spike.peak_backlog),
        f"{i.peak_rate:g}/s for {i.duration:g} s against a capacity that starts at {start.value:.0f}/s "
        f"({start.text}) and grows by {ramp.value:.0f}/s per s ({ramp.text}) up to {capacity.value:.0f}/s",
    )
    if math.isinf(spike.drain_seconds):
        sheet.warnings.append("capacity does not exceed the steady rate: the queue never drains")
    drain = "never" if math.isinf(spike.drain_seconds) else f"{spike.drain_seconds:.0f}"
    sheet.note(
        "drain after the spike (s)",
        drain,
        f"from the end of the spike until the queue is empty: what is queued at {i.duration:g} s, worked off by the "
        f"capacity (up to {capacity.value:.0f}/s) less the steady {i.rate:g}/s",
    )
    return spike


def _receives(i: PlanInputs) -> Term:
    """Receives a record may need. A crash costs one: its message returns after the visibility timeout (>= 6 x the
    function timeout), long after its lease (the invocation's deadline) ended. A key another invocation holds
    costs one: the record waits until that lease ends (the pipeline's in-progress wait is capped at 900 s, longer
    than any FunctionTimeout). docs/operations.md has the worker's version (two per crash: its lease is renewed)."""
    needed = (
        num(1, "delivery") + num(i.lag_retries, "lag retries") + num(i.transient_retries, "transient retries")
        + num(i.crash_retries, "crashes") + num(1, "wait for a held key")
    )  # fmt: skip
    return smallest(largest(needed, num(MIN_RECEIVE_COUNT, "floor")), num(MAX_RECEIVE_COUNT, "SQS max"))


def worker_max_receive_count(lag_retries: int = 2, transient_retries: int = 2, crash_retries: int = 1) -> int:
    """The same rule for `gcevents worker`, whose lease is one visibility timeout renewed with the visibility: a
    crash costs two receives, the crashed delivery and one wait for its last lease to end (a redelivery comes one
    visibility timeout after the last renewal, when that lease is just over, give or take the clock-skew margin)."""
    return max(MIN_RECEIVE_COUNT, 1 + lag_retries + transient_retries + 2 * crash_retries + 1)


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
        value = values[name]
        if not low <= value <= high:
            raise ValueError(f"{name}={value} outside {low}..{high}")
    if p.batch_size > MAX_BATCH_WITHOUT_WINDOW and p.window < 1:
        raise ValueError("BatchSize > 10 needs MaximumBatchingWindowInSeconds >= 1")
    if p.batch_size * record_bytes(p.inputs.event_kb).value > MAX_PAYLOAD_BYTES:
        raise ValueError("a full batch exceeds the 6 MB invoke payload")
    if p.visibility_timeout < VISIBILITY_FACTOR * p.function_timeout + p.window:
        raise ValueError("VisibilityTimeout < 6 x FunctionTimeout + MaximumBatchingWindowInSeconds")
    if p.reserved_concurrency and p.reserved_concurrency < p.max_concurrency:
        raise ValueError("ReservedConcurrency < MaximumConcurrency")
    if p.function_timeout not in TIMEOUT_CHOICES or p.window not in WINDOW_CHOICES:
        raise ValueError("FunctionTimeout / window not among the values template.yaml accepts")


def explain(p: Plan) -> str:
    width = max(len(s.name) for s in p.steps)
    lines = [f"gcevents plan: steady {p.inputs.rate:g}/s, peak {p.inputs.peak_rate:g}/s for {p.inputs.duration:g} s"]
    lines += [f"  {s.name:<{width}}  {s.value!s:>10}   {s.formula}" for s in p.steps]
    lines += [f"  warning: {w}" for w in p.warnings]
    lines.append("")
    lines.append(f"sam deploy --parameter-overrides {p.to_sam()}")
    return "\n".join(lines)
