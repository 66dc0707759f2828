"""The example project and the docs agree: the code docs/handlers.md shows is the example's code, and the commands
its README gives parse (gcevents' own parser, the template's parameters). Its tests run in the same pytest run
(`testpaths`)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from gcevents.entrypoints.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "crm-wrapup"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*/README.md"))]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.DOTALL | re.MULTILINE)


def test_code_the_docs_show_from_an_example_is_the_examples_code() -> None:
    """A block whose first line is `# examples/<path>` shows that file, or a contiguous part of it, verbatim."""
    shown: dict[str, int] = {}
    for doc in DOCS:
        for block in _blocks(doc.read_text(), "python"):
            first, _, code = block.partition("\n")
            if first.startswith("# examples/"):
                path = first.removeprefix("# ")
                assert code in (ROOT / path).read_text(), f"{doc.name} shows {path} as it no longer is"
                shown[path] = shown.get(path, 0) + 1
    assert shown.keys() >= {
        "examples/crm-wrapup/crm_wrapup/handlers.py",
        "examples/crm-wrapup/tests/test_crm_wrapup.py",
    }
    handler = (EXAMPLE / "crm_wrapup" / "handlers.py").read_text()
    assert f"# examples/crm-wrapup/crm_wrapup/handlers.py\n{handler}```" in (ROOT / "docs" / "handlers.md").read_text()


def _commands(text: str) -> list[str]:
    """Shell commands of the sh blocks, continuation lines joined."""
    commands: list[str] = []
    for block in _blocks(text, "sh"):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands += [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]
    return commands


def test_the_example_readme_commands_parse() -> None:
    commands = _commands((EXAMPLE / "README.md").read_text())
    gcevents = [shlex.split(c)[1:] for c in commands if c.startswith("gcevents ")]
    assert {argv[0] for argv in gcevents} >= {"connect", "package"}
    parser = build_parser()
    for argv in gcevents:
        try:
            parser.parse_args(argv)
        except SystemExit:
            pytest.fail(f"gcevents {shlex.join(argv)} does not parse")
    (deploy,) = [c for c in commands if c.startswith("sam deploy")]
    given = set(re.findall(r"(?:^| )([A-Z][A-Za-z]+)=", deploy))
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=_Loader)
    assert given >= {"Handlers", "HandlerSecretArn", "OrgId"}
    assert given <= set(template["Parameters"])
    handlers_pattern = re.compile(template["Parameters"]["Handlers"]["AllowedPattern"])
    assert handlers_pattern.fullmatch("crm_wrapup.handlers:router")
    assert "--handlers ./crm_wrapup --spec crm_wrapup.handlers:router" in " ".join(commands)


class _Loader(yaml.SafeLoader):
    """CloudFormation's short tags (!Ref, !Sub, ...) read as plain values: only the parameter names matter here."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
