"""The CLI's help names documents by title ("the Deploy guide"), never by a repository path: an installed wheel
has no docs/ folder, and the titles match the documents' headings wherever they are read."""

from __future__ import annotations

import argparse
import re

from gcevents.entrypoints import cli


def _help_texts(parser: argparse.ArgumentParser) -> list[str]:
    texts = [parser.format_help()]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                texts += _help_texts(sub)
    return texts


def test_no_help_text_names_a_repository_path() -> None:
    texts = _help_texts(cli.build_parser())
    assert len(texts) > 20  # every command and subcommand
    offending = [m.group(0) for text in texts for m in re.finditer(r"\S*(docs/|README\.md|\.md\b)\S*", text)]
    assert offending == []
    assert "the Deploy guide" in texts[0]
