"""`gcevents plan`: size the SQS -> Lambda event source mapping for a load, and say why.

Pure functions over a `PlanInputs`; the CLI only parses arguments and prints. Every value the planner emits
respects the AWS limits it is checked against (see `LIMITS` below and tests/test_plan.py), and the values map
one to one onto the parameters of template.yaml, so `--format sam` feeds `sam deploy --parameter-overrides`.

Model (deliberately simple, and printed with the numbers used):
- a batch of B events takes  overhead + B x per-event time + API calls x API latency;
- one instance working a backlog processes B / batch-time events/s;
- Genesys enrichment costs ceil(ceil(B x fraction) / chunk) bulk calls per batch, and every instance shares
  one client-credentials budget, so  concurrency x batches/min x calls/batch <= API limit x share;
- the event source mapping ramps from 5 concurrent batches by +300 per minute up to MaximumConcurrency."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

# AWS limits (Lambda SQS event source mapping, Lambda, SQS). Checked by `check_limits`.
MAX_BATCH_SIZE = 10_000  # standard queue
MAX_BATCH_WITHOUT_WINDOW = 10  # a larger BatchSize needs MaximumBatchingWindowInSeconds >= 1
MAX_WINDOW_SECONDS = 300
MIN_CONCURRENCY, MAX_CONCURRENCY = 2, 1000  # ScalingConfig.MaximumConcurrency
MAX_PAYLOAD_BYTES = 6 * 1024 * 1024  # synchronous invoke payload
MAX_FUNCTION_TIMEOUT = 900
MAX_VISIBILITY_TIMEOUT = 12 * 3600
MAX_RECEIVE_COUNT = 1000
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
    "MaxReceiveCount": (1, MAX_RECEIVE_COUNT),
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
        if self.event_kb <= 0 or self.event_kb * 1024 + RECORD_OVERHEAD_BYTES > MAX_PAYLOAD_BYTES:
            problems.append("event size must be > 0 and fit the 6 MB payload")
        if self.max_latency < 0 or self.max_batch_seconds <= 0 or self.safety < 1 or self.deadline_margin < 0:
            problems.append("max latency >= 0, max batch seconds > 0, safety >= 1, deadline margin >= 0")
        if self.lag_retries < 0 or self.transient_retries < 0:
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


# ------------------------------------------------------------------------------------------------ pieces
def visibility_timeout(function_timeout: int, window: int) -> int:
    """Queue visibility: 6 x function timeout (room for Lambda's own retries of a throttled batch) + window."""
    return VISIBILITY_FACTOR * function_timeout + window


def record_bytes(event_kb: float) -> float:
    return event_kb * 1024 + RECORD_OVERHEAD_BYTES


def payload_cap(event_kb: float) -> int:
    return max(1, int(MAX_PAYLOAD_BYTES // record_bytes(event_kb)))


def calls_per_batch(batch_size: int, enrich_fraction: float, chunk: int) -> int:
    """Bulk calls per batch, assuming every event that needs enrichment is a different conversation."""
    needing = math.ceil(batch_size * enrich_fraction - 1e-9)
    return math.ceil(needing / chunk) if needing > 0 else 0


def batch_seconds(inputs: PlanInputs, batch_size: int) -> float:
    calls = calls_per_batch(batch_size, inputs.enrich_fraction, inputs.chunk)
    return (inputs.batch_overhead_ms + batch_size * inputs.event_ms + calls * inputs.api_latency_ms) / 1000.0


def choose_window(max_latency: float) -> int:
    return max(w for w in WINDOW_CHOICES if w <= max_latency)


def choose_timeout(needed: float) -> int:
    for choice in TIMEOUT_CHOICES:
        if choice >= needed:
            return choice
    return TIMEOUT_CHOICES[-1]


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
def plan(inputs: PlanInputs) -> Plan:
    inputs.validate()
    i = inputs
    steps: list[Step] = []
    warnings: list[str] = []

    def note(name: str, value: float | int | str, formula: str) -> None:
        steps.append(Step(name, value, formula))

    window = choose_window(i.max_latency)
    note(
        "MaximumBatchingWindowInSeconds",
        window,
        f"largest of {list(WINDOW_CHOICES)} <= max latency {i.max_latency:g} s",
    )

    cap_payload = payload_cap(i.event_kb)
    cap_window = MAX_BATCH_SIZE if window >= 1 else MAX_BATCH_WITHOUT_WINDOW
    cap_time = _largest_batch_within(i, i.max_batch_seconds)
    if cap_time < 1:
        cap_time = 1
        warnings.append(f"even a single event exceeds max batch seconds {i.max_batch_seconds:g}")
    batch = min(MAX_BATCH_SIZE, cap_payload, cap_window, cap_time)
    formula = (
        f"min({MAX_BATCH_SIZE} SQS max, {cap_payload} payload cap = floor({MAX_PAYLOAD_BYTES} B / "
        f"({i.event_kb:g} KB + {RECORD_OVERHEAD_BYTES} B record overhead)), {cap_window} window cap"
        f"{'' if window else ' (no window: <= 10)'}, {cap_time} time cap = largest B with "
        f"batch time <= {i.max_batch_seconds:g} s)"
    )
    aligned = _align_to_chunks(batch, i.enrich_fraction, i.chunk)
    if aligned != batch:
        lookups = math.ceil(aligned * i.enrich_fraction - 1e-9)
        formula += f", then {aligned} so its ~{lookups} enrichment lookups fill whole chunks of {i.chunk}"
        batch = aligned
    note("BatchSize", batch, formula)

    calls = calls_per_batch(batch, i.enrich_fraction, i.chunk)
    note("API calls per batch", calls, f"ceil(ceil({batch} x {i.enrich_fraction:g}) / {i.chunk})")
    bt = batch_seconds(i, batch)
    parts = f"{i.batch_overhead_ms:g} + {batch} x {i.event_ms:g} + {calls} x {i.api_latency_ms:g}"
    note("batch time (s)", round(bt, 3), f"({parts}) ms / 1000")

    # Three batch times of room (a slow store, a cold start), or one batch plus the longest wait for API
    # budget the Genesys client allows itself, plus the margin the handler keeps before its deadline.
    wait = i.api_max_wait if calls else 0.0
    needed = max(3 * bt, bt + wait) + i.deadline_margin
    timeout = choose_timeout(needed)
    if needed > MAX_FUNCTION_TIMEOUT:
        warnings.append(f"a batch needs {needed:.0f} s but Lambda stops at {MAX_FUNCTION_TIMEOUT} s")
    note(
        "FunctionTimeout",
        timeout,
        f"smallest of {list(TIMEOUT_CHOICES)} >= max(3 x {bt:.2f}, {bt:.2f} + {wait:g} API wait) "
        f"+ {i.deadline_margin:g} margin = {needed:.1f} s",
    )
    visibility = visibility_timeout(timeout, window)
    note("VisibilityTimeout", visibility, f"{VISIBILITY_FACTOR} x {timeout} + {window} (derived by template.yaml)")

    per_instance = batch / bt
    note("events/s per instance", round(per_instance, 1), f"{batch} / {bt:.3f}")
    need = math.ceil(i.safety * i.peak_rate / per_instance - 1e-9)
    note("concurrency for the peak", need, f"ceil({i.safety:g} x {i.peak_rate:g} / {per_instance:.1f})")
    budget = i.api_limit * i.api_share  # calls/min for the whole fleet: one client-credentials token
    if calls:
        calls_per_min_instance = 60.0 / bt * calls
        api_cap = math.floor(budget / calls_per_min_instance + 1e-9)
        per_min = f"60 / {bt:.3f} batches/min x {calls} calls"
        note("concurrency the API allows", api_cap, f"floor({i.api_limit} x {i.api_share:g} / ({per_min}))")
    else:
        calls_per_min_instance = 0.0
        api_cap = MAX_CONCURRENCY
        note("concurrency the API allows", "unbounded", "no enrichment: no API calls")
    concurrency = max(MIN_CONCURRENCY, min(need, api_cap, MAX_CONCURRENCY, i.account_headroom))
    note(
        "MaximumConcurrency",
        concurrency,
        f"clamp(min({need} peak, {api_cap if calls else '-'} API, {MAX_CONCURRENCY} AWS max, "
        f"{i.account_headroom} account headroom), {MIN_CONCURRENCY}..{MAX_CONCURRENCY})",
    )
    if calls and api_cap < MIN_CONCURRENCY:
        warnings.append(
            f"the API budget ({budget:.0f} calls/min) cannot feed even {MIN_CONCURRENCY} concurrent batches; "
            "enrichment will be paced by the rate limiter (fewer events per call: raise --chunk, or use more "
            "client credentials)"
        )
    if need > concurrency:
        warnings.append(f"the peak needs {need} concurrent batches, capped at {concurrency}: a backlog will build")

    reserved = concurrency if i.reserve else 0
    why = f"= MaximumConcurrency {concurrency} (must be >= it)" if i.reserve else "0: not reserved"
    note("ReservedConcurrency", reserved, why)
    rate_per_instance = max(1, math.floor(budget / concurrency))
    note(
        "GenesysRatePerMinute (per instance)",
        rate_per_instance,
        f"floor({i.api_limit} x {i.api_share:g} / {concurrency})",
    )

    receives = min(max(1 + i.lag_retries + i.transient_retries, 1), MAX_RECEIVE_COUNT)
    note(
        "MaxReceiveCount",
        receives,
        f"1 delivery + {i.lag_retries} lag retries + {i.transient_retries} transient retries",
    )

    capacity = concurrency * per_instance
    capacity_text = f"{concurrency} x {per_instance:.1f}"
    if calls:
        api_capacity = budget / 60.0 / calls * batch
        if api_capacity < capacity:
            capacity, capacity_text = api_capacity, f"API-bound: {budget:g}/60 / {calls} x {batch}"
    note("capacity (events/s)", round(capacity, 1), capacity_text)
    api_per_min = min(concurrency * calls_per_min_instance, budget) if calls else 0.0
    api_text = f"min({concurrency} x 60 / {bt:.3f} x {calls}, {budget:g})" if calls else "0"
    note("API calls/min at capacity", round(api_per_min, 1), api_text)

    start = min(concurrency, max(INITIAL_CONCURRENCY, math.ceil(i.rate / per_instance))) * per_instance
    ramp = SCALE_UP_PER_MINUTE / 60.0 * per_instance
    spike = spike_profile(
        rate=i.rate, peak_rate=i.peak_rate, duration=i.duration, start_capacity=start, ramp=ramp, capacity=capacity
    )
    note(
        "spike peak backlog (events)",
        round(spike.peak_backlog),
        f"{i.peak_rate:g}/s for {i.duration:g} s against a capacity ramping from {start:.0f}/s "
        f"by {ramp:.0f}/s per s to {capacity:.0f}/s",
    )
    if math.isinf(spike.drain_seconds):
        warnings.append("capacity does not exceed the steady rate: the queue never drains")
        drain = "never"
    else:
        drain = f"{spike.drain_seconds:.0f}"
    note("drain after the spike (s)", drain, f"backlog / ({capacity:.0f} capacity - {i.rate:g} steady) after the ramp")

    result = Plan(
        inputs=i, batch_size=batch, window=window, max_concurrency=concurrency, reserved_concurrency=reserved,
        function_timeout=timeout, visibility_timeout=visibility, max_receive_count=receives,
        genesys_rate_per_minute=rate_per_instance, batch_seconds=bt, calls_per_batch=calls, capacity=capacity,
        api_calls_per_minute=api_per_min, spike=spike, steps=tuple(steps), warnings=tuple(warnings),
    )  # fmt: skip
    check_limits(result)
    return result


def _largest_batch_within(inputs: PlanInputs, seconds: float) -> int:
    """batch_seconds is non-decreasing in the batch size: binary search for the largest that fits."""
    lo, hi = 0, MAX_BATCH_SIZE
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if batch_seconds(inputs, mid) <= seconds:
            lo = mid
        else:
            hi = mid - 1
    return lo


def _align_to_chunks(batch: int, fraction: float, chunk: int) -> int:
    """Shrink the batch so its enrichment lookups fill whole bulk calls (a call for 3 ids costs as much as one
    for 100). Only when at least one full chunk fits, and never by more than one chunk's worth."""
    if fraction <= 0 or batch * fraction < chunk:
        return batch
    full = math.floor(batch * fraction / chunk + 1e-9)
    aligned = math.floor(full * chunk / fraction + 1e-9)
    return max(1, min(batch, aligned))


def check_limits(p: Plan) -> None:
    """Raise ValueError naming the first AWS rule the plan breaks: the planner checks its own output."""
    values = {
        "BatchSize": p.batch_size,
        "MaximumBatchingWindowInSeconds": p.window,
        "MaximumConcurrency": p.max_concurrency,
        "FunctionTimeout": p.function_timeout,
        "VisibilityTimeout": p.visibility_timeout,
        "MaxReceiveCount": p.max_receive_count,
    }
    for name, value in values.items():
        low, high = LIMITS[name]
        if not low <= value <= high:
            raise ValueError(f"{name}={value} outside {low}..{high}")
    if p.batch_size > MAX_BATCH_WITHOUT_WINDOW and p.window < 1:
        raise ValueError("BatchSize > 10 needs MaximumBatchingWindowInSeconds >= 1")
    if p.batch_size * record_bytes(p.inputs.event_kb) > MAX_PAYLOAD_BYTES:
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
