"""The commit-message rule CI applies (.ci/check_commits.py, CONTRIBUTING.md)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / ".ci" / "check_commits.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_commits", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_short_imperative_subject_with_a_body_passes() -> None:
    message = "Refuse a negative idempotency TTL\n\nA negative TTL turned deduplication off silently.\n"
    assert _checker().problems(message, merge=False) == []


@pytest.mark.parametrize(
    ("message", "problem"),
    [
        ("x" * 73 + "\n\nwhy", "subject of 73 characters (at most 72)"),
        ("Fix the thing.\n\nwhy", "subject ends with a period"),
        ("Fix the thing\nwhy at once", "no blank line after the subject"),
        ("Fix the thing\n", "no body saying why"),
    ],
)
def test_each_rule_is_enforced(message: str, problem: str) -> None:
    assert problem in _checker().problems(message, merge=False)


def test_a_merge_commit_needs_no_body() -> None:
    assert _checker().problems("Merge branch 'lake'\n", merge=True) == []
