"""The spike model of `gcevents plan`: a rectangular spike against a capacity that ramps linearly to a ceiling.

Pure arithmetic, no AWS: the planner feeds it the start capacity, the ramp and the ceiling of the chosen poller
mode and reads back the backlog peak, the drain time and the worst queue wait."""

from __future__ import annotations

import math
from dataclasses import dataclass

_LATENCY_SAMPLES = 100  # arrival times examined for the worst wait (plus the end of the spike)
_BISECTIONS = 50


@dataclass(frozen=True, slots=True)
class SpikeProfile:
    """How a spike goes for the queue: what `spike_profile` computes (the workload's spike is another thing)."""

    peak_backlog: float  # events waiting at the worst moment
    drain_seconds: float  # from the end of the spike until the queue is back to empty (inf: never)
    clear_seconds: float  # from the start of the spike (inf: never)
    worst_wait: float = 0.0  # the longest an event waits in the queue, s (inf: never served)
    end_backlog: float = 0.0  # events still queued when the spike ends


Spike = SpikeProfile  # deprecated: the old name, which the test kit's workload `Spike` shares


@dataclass(frozen=True, slots=True)
class _Curves:
    rate: float
    peak_rate: float
    duration: float
    start: float  # capacity at t = 0, events/s
    ramp: float  # events/s added per s
    capacity: float  # ceiling, events/s

    @property
    def t_ramp(self) -> float:
        return (self.capacity - self.start) / self.ramp if self.ramp > 0 else 0.0

    def served(self, t: float) -> float:
        """Events the fleet can take by time t (it works at capacity while there is a backlog)."""
        t_ramp = self.t_ramp
        if t <= t_ramp:
            return self.start * t + self.ramp * t * t / 2
        return self.start * t_ramp + self.ramp * t_ramp * t_ramp / 2 + self.capacity * (t - t_ramp)

    def arrived(self, t: float) -> float:
        return self.peak_rate * min(t, self.duration) + self.rate * max(0.0, t - self.duration)

    def queued(self, t: float) -> float:
        return self.arrived(t) - self.served(t)


def spike_profile(
    *, rate: float, peak_rate: float, duration: float, start_capacity: float, ramp: float, capacity: float
) -> SpikeProfile:
    """Backlog of a rectangular spike against a capacity that ramps linearly (events/s per s) to a ceiling.

    The net inflow (arrivals - capacity) never increases over time (arrivals drop at the end of the spike,
    capacity only grows), so the queued amount F(t) = integral of the net inflow is concave: the backlog is
    max(0, F) and it is empty again at the first root of F after its maximum."""
    p = _Curves(rate, peak_rate, duration, min(start_capacity, capacity), ramp, capacity)
    # F' = 0 where capacity meets the arrival rate; the breakpoints are the other candidates for the max.
    candidates = [0.0, duration, p.t_ramp]
    if ramp > 0:
        candidates += [(peak_rate - p.start) / ramp, (rate - p.start) / ramp]
    t_max = max((t for t in candidates if t >= 0), key=p.queued)
    peak = p.queued(t_max)
    if peak <= 1e-9:
        return SpikeProfile(0.0, 0.0, 0.0, 0.0)
    at_end = max(0.0, p.queued(duration))
    if capacity <= rate:
        return SpikeProfile(peak, math.inf, math.inf, math.inf, at_end)
    t_empty = _first_empty(p, t_max)
    return SpikeProfile(peak, max(0.0, t_empty - duration), t_empty, _worst_wait(p, t_empty), at_end)


def _first_empty(p: _Curves, t_max: float) -> float:
    """Past both breakpoints F is linear with slope rate - capacity; before them, bisect (F is decreasing)."""
    t_lin = max(p.duration, p.t_ramp, t_max)
    if p.queued(t_lin) > 0:
        return t_lin + p.queued(t_lin) / (p.capacity - p.rate)
    lo, hi = t_max, t_lin
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if p.queued(mid) > 0 else (lo, mid)
    return hi


def _worst_wait(p: _Curves, t_empty: float) -> float:
    """First in, first out (close enough for a standard queue): the event that arrives at t leaves when the fleet
    has served everything that arrived before it, at the s with served(s) = arrived(t). The worst wait is the
    largest s - t over arrival times up to the moment the queue is empty again (sampled, then bisected)."""
    arrivals = {t_empty * n / _LATENCY_SAMPLES for n in range(_LATENCY_SAMPLES + 1)}
    arrivals.add(min(p.duration, t_empty))
    worst = 0.0
    for t in arrivals:
        target = p.arrived(t)
        lo, hi = t, t_empty
        if p.served(lo) >= target:
            continue
        for _ in range(_BISECTIONS):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if p.served(mid) < target else (lo, mid)
        worst = max(worst, hi - t)
    return worst


def spike_series(
    *,
    rate: float,
    peak_rate: float,
    duration: float,
    start_capacity: float,
    ramp: float,
    capacity: float,
    points: int = 61,
) -> dict[str, list[float]]:
    """The spike over time, for a chart: at `points` evenly spaced instants from its start (`horizon` says until
    when), the arrival rate, the fleet's capacity (events/s, as it ramps), the backlog (events) and the queue wait of
    an event arriving then (s; the worst wait is the largest). Values are rounded to 3 decimals: what the chart draws
    and `gcevents plan --json` reports."""
    p = _Curves(rate, peak_rate, duration, min(start_capacity, capacity), ramp, capacity)
    spike = spike_profile(
        rate=rate, peak_rate=peak_rate, duration=duration, start_capacity=start_capacity, ramp=ramp, capacity=capacity
    )
    end = horizon(spike, duration, p.t_ramp)
    times = [end * n / (points - 1) for n in range(points)]
    series: dict[str, list[float]] = {"t": [], "arrival_rate": [], "capacity": [], "backlog": [], "wait": []}
    for t in times:
        series["t"].append(round(t, 3))
        series["arrival_rate"].append(round(peak_rate if t < duration else rate, 3))
        series["capacity"].append(round(min(capacity, p.start + ramp * t), 3))
        series["backlog"].append(round(max(0.0, p.queued(t)), 3))
        series["wait"].append(round(_wait(p, t, end), 3))
    return series


def horizon(spike: SpikeProfile, duration: float, t_ramp: float) -> float:
    """Until when a chart shows the spike: while something changes. A queue that never drains: two spike lengths.
    A backlog left when the spike ends: until it is drained, and a fifth more. A backlog gone during the spike
    (the usual case): the ramp and the backlog's rise and fall, half as long again, and the spike's flat rest is
    not drawn (at most the whole spike and a fifth)."""
    if math.isinf(spike.clear_seconds):
        return 2 * duration
    if spike.clear_seconds >= duration:
        return spike.clear_seconds * 1.2
    return min(duration * 1.2, max(spike.clear_seconds, t_ramp, 1.0) * 1.5)


def _wait(p: _Curves, t: float, end: float) -> float:
    """How long an event arriving at t waits (first in, first out): until the fleet has served everything before it."""
    target = p.arrived(t)
    if p.served(t) >= target:
        return 0.0
    lo, hi = t, max(end, t) * 4 + 1
    if p.served(hi) < target:
        return hi - t  # not served within the horizon (capacity below the rate): the chart shows its edge
    for _ in range(_BISECTIONS):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if p.served(mid) < target else (lo, mid)
    return hi - t
