"""Help written for users: every command has a one-line summary and a description, every option a help string;
the top-level help says what the tool is for, not how the code is laid out."""

from __future__ import annotations

import argparse

import pytest

from gcevents.entrypoints import cli


def _gaps(parser: argparse.ArgumentParser, path: str) -> list[str]:
    gaps: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            summaries = {choice.dest: choice.help for choice in action._choices_actions}
            for name, command in action.choices.items():
                if not summaries.get(name):
                    gaps.append(f"{path} {name}: no summary in {path} --help")
                if not command.description:
                    gaps.append(f"{path} {name}: no description in its --help")
                gaps += _gaps(command, f"{path} {name}")
        elif not action.help or action.help == argparse.SUPPRESS:
            gaps.append(f"{path} {'/'.join(action.option_strings) or action.metavar or action.dest}: no help")
    return gaps


def test_every_command_and_option_has_help() -> None:
    parser = cli.build_parser()
    assert _gaps(parser, "gcevents") == []
    assert len(parser._subparsers._group_actions[0].choices) >= 12  # type: ignore[union-attr]  # the walk walked


def test_the_top_level_help_is_for_users(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["--help"])
    text = capsys.readouterr().out
    assert "Genesys Cloud" in text
    for internal in ("register(", "subparsers", "module", "entrypoints"):
        assert internal not in text


def test_dlq_help_lists_its_actions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["dlq", "--help"])
    text = capsys.readouterr().out
    assert "inspect" in text
    assert "redrive" in text


def test_the_walk_finds_what_is_missing() -> None:
    parser = argparse.ArgumentParser(prog="x")
    sub = parser.add_subparsers()
    command = sub.add_parser("run", help="run it")
    command.add_argument("--fast", action="store_true")
    command.add_argument("path")
    assert _gaps(parser, "x") == ["x run: no description in its --help", "x run --fast: no help", "x run path: no help"]


def test_the_readme_commands_table_names_every_command() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme[readme.index("## Commands") : readme.index("## Configuration")]
    commands = cli.build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert [name for name in commands if f"`gcevents {name}" not in table] == []
