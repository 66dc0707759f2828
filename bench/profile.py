"""`python -m bench.profile SAMPLES.txt [CPU_MS_PER_EVENT]`: where gcevents' client CPU goes, from py-spy's raw
folded stacks (`python -m bench.run --variants c --batch-sizes 100 --profile PREFIX` writes PREFIX.c100.txt).

py-spy samples only the thread holding the GIL (`--gil`), so the share of samples is the share of Python CPU time
(C code that releases the GIL, such as socket I/O, is not seen). Two views:
- **by step**: the innermost gcevents frame of each sample (what gcevents was doing: a claim, a state write, parsing);
- **by library**: the innermost frame's package (where the CPU actually burnt: botocore, json, hashlib, ...).
With the run's CPU ms per event, shares become ms per event."""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

_FRAME = re.compile(r"^(?P<func>.+) \((?P<file>[^():]+)(?::\d+)?\)$")
_LIBRARIES = (
    ("botocore/parsers", "botocore: parse response"),
    ("botocore/serialize", "botocore: serialise request"),
    ("botocore/validate", "botocore: validate parameters"),
    ("botocore/auth", "botocore: sign (SigV4)"),
    ("botocore/hooks", "botocore: event hooks"),
    ("botocore/endpoint_provider", "botocore: endpoint rules"),
    ("botocore/", "botocore: other"),
    ("urllib3/", "urllib3 + http.client + socket"),
    ("http/client", "urllib3 + http.client + socket"),
    ("socket", "urllib3 + http.client + socket"),
    ("ssl", "urllib3 + http.client + socket"),
    ("httpx/", "httpx + httpcore (Genesys)"),
    ("httpcore/", "httpx + httpcore (Genesys)"),
    ("json/", "json"),
    ("hashlib", "hashlib"),
    ("uuid", "uuid"),
    ("logging/", "logging"),
    ("concurrent/futures", "thread pools"),
    ("threading", "thread pools"),
    ("queue.py", "thread pools"),
    ("gcevents/testing", "bench: simulated queue"),
    ("bench/", "bench: harness"),
    ("gcevents/", "gcevents itself"),
)


def frames(stack: str) -> list[tuple[str, str]]:
    out = []
    for part in stack.split(";")[1:]:  # the first part names the thread
        match = _FRAME.match(part.strip())
        if match:
            out.append((match["func"], match["file"]))
    return out


def library(stack: list[tuple[str, str]]) -> str:
    if not stack:
        return "other"
    file = stack[-1][1]
    for fragment, name in _LIBRARIES:
        if fragment in file:
            return name
    return "other (stdlib, C)"


def step(stack: list[tuple[str, str]]) -> str:
    for func, file in reversed(stack):
        if file.startswith("gcevents/") and not file.startswith("gcevents/testing"):
            return f"{file.removeprefix('gcevents/')}: {func}"
    return "no gcevents frame (thread-pool hand-offs, the harness)"


def report(path: Path, cpu_ms_per_event: float | None, top: int = 25) -> str:
    by_step: Counter[str] = Counter()
    by_library: Counter[str] = Counter()
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        parsed = frames(stack)
        by_step[step(parsed)] += int(count)
        by_library[library(parsed)] += int(count)
    total = sum(by_step.values()) or 1
    lines = [f"{total} samples" + (f", {cpu_ms_per_event} CPU ms per event" if cpu_ms_per_event else "")]
    for title, counter in (("by step (innermost gcevents frame)", by_step), ("by library (leaf frame)", by_library)):
        lines.append(f"\n{title}:")
        for name, count in counter.most_common(top):
            share = count / total
            ms = f"{share * cpu_ms_per_event:6.3f} ms" if cpu_ms_per_event else ""
            lines.append(f"  {share:6.1%} {ms}  {name}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else None))
