"""Commit messages since the recorded base (.ci/commits-base) follow CONTRIBUTING.md: a subject of at most 72
characters, no trailing period, then a blank line and a body saying why (merge commits may omit the body).

    python .ci/check_commits.py [BASE]      exit 0: all follow it; 1: the offending commits, one per line
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MAX_SUBJECT = 72


def problems(message: str, *, merge: bool) -> list[str]:
    lines = message.rstrip("\n").split("\n")
    subject, found = lines[0], []
    if not subject.strip():
        found.append("empty subject")
    if len(subject) > MAX_SUBJECT:
        found.append(f"subject of {len(subject)} characters (at most {MAX_SUBJECT})")
    if subject.rstrip().endswith("."):
        found.append("subject ends with a period")
    if len(lines) > 1 and lines[1].strip():
        found.append("no blank line after the subject")
    if not merge and not any(line.strip() for line in lines[2:]):
        found.append("no body saying why")
    return found


def _git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def main(argv: list[str]) -> int:
    base = argv[1] if len(argv) > 1 else (Path(__file__).parent / "commits-base").read_text().strip()
    try:
        _git("cat-file", "-e", f"{base}^{{commit}}")
        span = f"{base}..HEAD"
    except subprocess.CalledProcessError:  # a shallow clone without the base: check what it has
        print(f"check_commits: base {base[:12]} not in this clone; checking HEAD only", file=sys.stderr)
        span = "-1"
    bad = 0
    for entry in _git("log", "--format=%H%x00%P%x00%B%x1e", span).split("\x1e"):
        if not entry.strip():
            continue
        sha, parents, message = entry.lstrip("\n").split("\x00", 2)
        for problem in problems(message, merge=len(parents.split()) > 1):
            print(f"{sha[:12]} {message.splitlines()[0][:60]!r}: {problem}")
            bad += 1
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
