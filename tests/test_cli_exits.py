"""One exit-code table (docs/cli.md), honoured by every command; one line on stderr for what a user got wrong;
`--json` on every command; progress on a terminal only (issue 20, item 5)."""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest

from factories import make_event
from gcevents.entrypoints import cli, lambda_handler
from gcevents.entrypoints.cli.exits import Exit, markdown_table
from gcevents.errors import ConfigError
from gcevents.progress import terminal_progress

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    for name in list(os.environ):
        if name.startswith(("GCEVENTS_", "GENESYS_")) or name in ("AWS_LAMBDA_FUNCTION_NAME", "LOG_LEVEL"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    lambda_handler.reset_runtime()


def _events(path: Path, *lines: str) -> str:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


# ------------------------------------------------------------------------------------------------- the table
def test_docs_cli_md_shows_the_table_of_the_code() -> None:
    assert markdown_table() in (ROOT / "docs" / "cli.md").read_text()
    assert [int(code) for code in Exit] == [0, 1, 2, 3, 4, 78, 130]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or path == ("config",):  # `config` runs on its own too (the table), and has `config check`
        yield path
    for sub in subs:
        for name, child in sub.choices.items():
            yield from _commands(child, (*path, name))


def test_every_command_has_json() -> None:
    commands = list(_commands(cli.build_parser()))
    assert len(commands) >= 19
    for command in commands:
        assert "--json" in _options(cli.build_parser(), command), f"gcevents {' '.join(command)} has no --json"


def _options(parser: argparse.ArgumentParser, command: tuple[str, ...]) -> set[str]:
    for name in command:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return {option for action in parser._actions for option in action.option_strings}


# ------------------------------------------------------------------------------------------------- process
def test_process_exits_0_when_every_record_is_processed_or_a_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    event = json.dumps(make_event("customer.start", "c-1"))
    assert cli.main(["process", _events(tmp_path / "in.jsonl", event, event), "--json"]) == Exit.OK
    summary = json.loads(capsys.readouterr().out)
    assert (summary["processed"], summary["duplicate"], summary["dead_lettered"]) == (1, 1, 0)


def test_process_exits_3_when_some_records_were_dead_lettered(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (json.dumps(make_event("customer.start", "c-1")), '{"detail": ')
    assert cli.main(["process", _events(tmp_path / "in.jsonl", *lines)]) == Exit.INCOMPLETE
    assert "dead-lettered 1" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["missing.jsonl", "."])
def test_an_input_that_cannot_be_read_is_one_line_and_exit_1(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["process", name]) == Exit.FAILED
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.splitlines()) == 1
    assert re.fullmatch(rf"gcevents: {re.escape(name)}: (No such file or directory|Is a directory)\n", err)
    assert not (tmp_path / ".gcevents").exists()  # read before anything is created


# ------------------------------------------------------------------------------------------------- configuration
CONFIG_COMMANDS = [
    "process",
    "worker",
    "dlq inspect",
    "dlq redrive",
    "state list",
    "reconcile",
    "setup",
    "sinks list",
    "sinks test",
    "config check",
    "connect",
]


def _config_commands(tmp_path: Path) -> dict[str, list[str]]:
    inputs = _events(tmp_path / "in.jsonl", json.dumps(make_event("customer.start")))
    return {
        "process": ["process", inputs],
        "worker": ["worker", "--sqlite-queue", str(tmp_path / "q.db"), "--exit-when-idle"],
        "dlq inspect": ["dlq", "inspect"],
        "dlq redrive": ["dlq", "redrive"],
        "state list": ["state", "list"],
        "reconcile": ["reconcile", "--since", "1h"],
        "setup": ["setup"],
        "sinks list": ["sinks", "list"],
        "sinks test": ["sinks", "test"],
        "config check": ["config", "check"],
        "connect": ["connect", "--aws-account-id", "123456789012", "--aws-region", "eu-west-1", "--suffix", "x"],
    }


@pytest.mark.parametrize(
    ("name", "value"), [("GCEVENTS_IDEMPOTENCY_TTL_DAYS", "-1"), ("GCEVENTS_LOG_LEVEL", "LOUD")], ids=["ttl", "level"]
)
@pytest.mark.parametrize("command", CONFIG_COMMANDS)
def test_a_bad_variable_stops_every_command_at_start_with_78_naming_it(
    command: str,
    name: str,
    value: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(_config_commands(tmp_path)[command]) == Exit.CONFIG
    err = capsys.readouterr().err
    assert err.startswith(f"gcevents: {name}='{value}': ")
    assert "Traceback" not in err
    assert not (tmp_path / ".gcevents").exists()  # nothing was created


@pytest.mark.parametrize(
    ("name", "value"), [("GCEVENTS_IDEMPOTENCY_TTL_DAYS", "-1"), ("GCEVENTS_LOG_LEVEL", "LOUD")], ids=["ttl", "level"]
)
def test_the_lambda_handler_refuses_a_bad_variable_on_its_cold_start(
    name: str, value: str, monkeypatch: pytest.MonkeyPatch, app: ModuleType
) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("GCEVENTS_HANDLERS", "tests.fixtures.lambda_app:router")
    lambda_handler.reset_runtime()
    context = SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000, aws_request_id="req-1")
    with pytest.raises(ConfigError, match=re.escape(f"{name}='{value}'")):
        lambda_handler.handler({"Records": []}, context)
    assert app.EFFECTS == []


# ------------------------------------------------------------------------------------------------- other codes
def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == Exit.USAGE
    assert cli.main(["reconcile", "--from", "2026-01-01T00:00Z"]) == Exit.USAGE
    assert capsys.readouterr().err == "gcevents: reconcile: --from needs --until\n"
    with pytest.raises(SystemExit) as exited:
        cli.main(["process", "x.jsonl", "--no-such-option"])
    assert exited.value.code == Exit.USAGE
    args = ["connect", "--aws-account-id", "12345", "--aws-region", "eu-west-1", "--suffix", "x"]
    assert cli.main(args) == Exit.USAGE  # our own option's value, checked before any credentials


def test_a_check_that_does_not_pass_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["state", "get", "no-such-conversation"]) == Exit.FAILED
    assert cli.main(["sinks", "test", "--json"]) == Exit.FAILED
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "no state for conversation no-such-conversation",
        "gcevents: no webhook sink configured (GCEVENTS_SINKS or --sink webhook:URL)",
    ]


def test_commands_without_records_exit_0_and_print_json(capsys: pytest.CaptureFixture[str]) -> None:
    for command in (
        ["config", "--json"],
        ["sinks", "list", "--json"],
        ["topics", "--json"],
        ["state", "list", "--json"],
    ):
        assert cli.main(command) == Exit.OK
        json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------------------------------------- progress
class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_on_a_terminal_only_and_never_with_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert terminal_progress(10, "records") is None  # a pipe or a log: nothing
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert terminal_progress(10, "records", quiet=True) is None  # --json
    progress = terminal_progress(None, "letters sent")
    assert progress is not None
    progress.advance(3)
    assert "3 letters sent" in sys.stderr.getvalue()


def test_process_draws_progress_on_a_terminal_but_not_in_its_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = _events(tmp_path / "in.jsonl", *(json.dumps(make_event("customer.start", f"c-{n}")) for n in range(5)))
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["process", inputs]) == Exit.OK
    assert "5/5 records" in terminal.getvalue()
    terminal.seek(0)
    terminal.truncate()
    assert cli.main(["process", inputs, "--json"]) == Exit.OK
    assert "records" not in terminal.getvalue()
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["duplicate"] == 5


def test_phases_draw_one_line_each_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    from gcevents.progress import Phases

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    phases = Phases(quiet=False)
    reading, applying = phases.counter("conversations read"), phases.counter("facts applied")
    reading(100)
    reading(40)
    applying(7)
    phases.close()
    lines = [line.split("\r")[-1] for line in terminal.getvalue().split("\n")]  # what a terminal shows
    assert lines[0].startswith("140 conversations read")  # the final count, though draws are throttled
    assert lines[1].startswith("7 facts applied")
    assert lines[2] == ""
    monkeypatch.setattr(sys, "stderr", Terminal())
    quiet = Phases(quiet=True)
    quiet.counter("x")(5)
    assert sys.stderr.getvalue() == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["replay"], "gcevents: replay: --from, --to, --archive and --rule are required (or --status NAME)\n"),
        (
            ["replay", "--from", "2026-03-01T09:00Z", "--to", "2026-03-01T08:00Z", "--archive", "a", "--rule", "r"],
            "gcevents: replay: --to must be after --from\n",
        ),
        (
            ["plan", "--rate", "-5", "--peak-rate", "10", "--duration", "60"],
            "gcevents plan: rate >= 0, peak rate > 0 and duration >= 0 are required\n",
        ),
    ],
)
def test_arguments_that_do_not_fit_are_usage_errors_before_any_call(
    argv: list[str], message: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)  # nothing may need AWS to say so
    monkeypatch.delenv("AWS_REGION", raising=False)
    assert cli.main(argv) == Exit.USAGE
    assert capsys.readouterr().err == message


def test_setup_and_topics_exit_0_with_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["setup", "--json"]) == Exit.OK
    assert json.loads(capsys.readouterr().out) == dict.fromkeys(
        ("idempotency_db", "state_db", "dead_letters_db"), ".gcevents/gcevents.db"
    )
    assert cli.main(["topics", "--json"]) == Exit.OK
    assert json.loads(capsys.readouterr().out)


def test_package_of_a_path_that_is_not_there_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["package", "--handlers", "./nope", "--json"]) == Exit.FAILED
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "gcevents: --handlers nope: not a package directory or a .py module file\n"
