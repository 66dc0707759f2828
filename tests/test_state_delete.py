"""`gcevents state delete ID`: one conversation's state erased, as typed, on the configured store."""

from __future__ import annotations

from pathlib import Path

import pytest

from factories import make_event, sqs_batch
from gcevents.config import Config
from gcevents.entrypoints import cli
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime


def test_state_delete_erases_the_item_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GCEVENTS_DB", str(tmp_path / "g.db"))
    runtime = build_runtime(Config.from_env())
    process_invocation(
        runtime, sqs_batch([make_event("customer.start", "c-1"), make_event("customer.start", "c-2")]), None
    )
    capsys.readouterr()
    assert cli.main(["state", "delete", "c-1"]) == 0
    assert capsys.readouterr().out == "deleted the state of conversation c-1\n"
    assert cli.main(["state", "get", "c-1"]) == 1
    assert cli.main(["state", "get", "c-2"]) == 0
    capsys.readouterr()
    assert cli.main(["state", "delete", "c-1"]) == 0
    assert "nothing to delete" in capsys.readouterr().out
