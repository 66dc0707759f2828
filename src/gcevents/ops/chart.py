"""`gcevents plan --chart FILE.svg|.html`: the spike as a picture, one column per poller mode.

Three panels per column, on the same time axis: the arrival rate against the fleet's capacity as it ramps
(events/s), the backlog (events), and the queue wait of an event arriving at each instant (s; its top is the worst
wait). Columns share their scales, so standard and provisioned compare at a glance. Hand-written SVG: one
self-contained file, no script, no font or stylesheet to fetch, readable offline. Every line carries what it draws
(`data-series`, the panel's geometry and scale), and the series themselves are in the file's `<metadata>` as JSON,
the same numbers `gcevents plan --json` reports under `series`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from gcevents.ops.plan import Plan

PANEL_WIDTH, PANEL_HEIGHT = 420, 150
LEFT, TOP, GAP_X, GAP_Y = 70, 72, 60, 50
# (panel title, unit, [(series, label, colour)])
PANELS = (
    (
        "arrivals and capacity",
        "events/s",
        [("arrival_rate", "arrival rate", "#555555"), ("capacity", "fleet capacity", "#1f77b4")],
    ),
    ("backlog", "events", [("backlog", "queued events", "#ff7f0e")]),
    ("queue wait of an event arriving then", "s", [("wait", "wait", "#d62728")]),
)


def render(plans: Sequence[Plan]) -> str:
    """An SVG document: one column per plan (its poller mode as the heading)."""
    series = [p.series() for p in plans]
    x_max = max(s["t"][-1] for s in series) or 1.0
    width = LEFT + len(plans) * (PANEL_WIDTH + GAP_X)
    height = TOP + len(PANELS) * (PANEL_HEIGHT + GAP_Y)
    i = plans[0].inputs
    title = f"gcevents plan: steady {i.rate:g}/s, spike {i.peak_rate:g}/s for {i.duration:g} s"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<metadata id="gcevents-plan-series">{escape(_metadata(plans, series))}</metadata>',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="14">{escape(title)}</text>',
    ]
    if x_max < i.duration:  # the backlog came and went early in the spike: its flat rest is not drawn
        note = f"shown: the first {x_max:,.0f} s of the spike's {i.duration:g} s; nothing changes after"
        parts.append(f'<text x="{LEFT}" y="32" fill="#555555">{escape(note)}</text>')
    for row, (name, unit, lines) in enumerate(PANELS):
        y_max = max(max(s[key]) for s in series for key, _, _ in lines) or 1.0
        for column, (plan, data) in enumerate(zip(plans, series, strict=True)):
            x0 = LEFT + column * (PANEL_WIDTH + GAP_X)
            y0 = TOP + row * (PANEL_HEIGHT + GAP_Y)
            if row == 0:
                parts.append(f'<text x="{x0}" y="{TOP - 20}" font-size="13">{escape(_heading(plan))}</text>')
            parts += _panel(name, unit, lines, data, (x0, y0), (x_max, y_max), plan.poller_mode)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write(plans: Sequence[Plan], path: Path) -> None:
    """`.svg`: the SVG; `.html`: the same SVG in a minimal page."""
    kind = path.suffix.lower()
    if kind not in (".svg", ".html"):
        raise ValueError(f"--chart: {path.name} must end in .svg or .html")
    svg = render(plans)
    if kind == ".html":
        title = escape(f"gcevents plan: {plans[0].inputs.rate:g}/s, spike {plans[0].inputs.peak_rate:g}/s")
        head = f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>\n'
        svg = f"{head}<body>\n{svg}</body></html>\n"
    path.write_text(svg, encoding="utf-8")


def _heading(plan: Plan) -> str:
    wait = "never served" if plan.spike.worst_wait == float("inf") else f"worst wait {plan.spike.worst_wait:.1f} s"
    return f"{plan.poller_mode}: capacity {plan.capacity:,.0f}/s, peak backlog {plan.spike.peak_backlog:,.0f}, {wait}"


def _panel(
    name: str,
    unit: str,
    lines: Sequence[tuple[str, str, str]],
    data: dict[str, list[float]],
    origin: tuple[float, float],
    scale: tuple[float, float],
    mode: str,
) -> list[str]:
    (x0, y0), (x_max, y_max) = origin, scale
    bottom = y0 + PANEL_HEIGHT
    out = [
        f'<rect x="{x0}" y="{y0}" width="{PANEL_WIDTH}" height="{PANEL_HEIGHT}" fill="none" stroke="#cccccc"/>',
        f'<text x="{x0}" y="{y0 - 6}">{escape(name)} ({escape(unit)})</text>',
        f'<text x="{x0 - 6}" y="{y0 + 4}" text-anchor="end">{_number(y_max)}</text>',
        f'<text x="{x0 - 6}" y="{bottom + 4}" text-anchor="end">0</text>',
        f'<text x="{x0}" y="{bottom + 14}">0 s</text>',
        f'<text x="{x0 + PANEL_WIDTH}" y="{bottom + 14}" text-anchor="end">{_number(x_max)} s</text>',
    ]
    for n, (key, label, colour) in enumerate(lines):
        points = " ".join(
            f"{x0 + t / x_max * PANEL_WIDTH:.2f},{bottom - v / y_max * PANEL_HEIGHT:.2f}"
            for t, v in zip(data["t"], data[key], strict=True)
        )
        out.append(
            f'<polyline data-series="{mode}.{key}" data-x0="{x0}" data-bottom="{bottom}" data-width="{PANEL_WIDTH}" '
            f'data-height="{PANEL_HEIGHT}" data-x-max="{x_max}" data-y-max="{y_max}" fill="none" '
            f'stroke="{colour}" stroke-width="1.5" points="{points}"/>'
        )
        if data["t"][-1] < x_max:  # this plan settled sooner than the one the axis spans: its value holds after
            y = bottom - data[key][-1] / y_max * PANEL_HEIGHT
            out.append(
                f'<line x1="{x0 + data["t"][-1] / x_max * PANEL_WIDTH:.2f}" y1="{y:.2f}" x2="{x0 + PANEL_WIDTH:.2f}" '
                f'y2="{y:.2f}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 3"/>'
            )
        out.append(
            f'<text x="{x0 + PANEL_WIDTH - 4}" y="{y0 + 14 + 13 * n}" text-anchor="end" fill="{colour}">'
            f"{escape(label)}</text>"
        )
    return out


def _metadata(plans: Sequence[Plan], series: Sequence[dict[str, list[float]]]) -> str:
    return json.dumps({p.poller_mode: s for p, s in zip(plans, series, strict=True)}, separators=(",", ":"))


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 else f"{value:.2g}"
