"""What a release needs: one version, a license file that matches the declared license, `--version`."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest

import gcevents
from gcevents.entrypoints import cli

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_in_one_place(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"gcevents {gcevents.__version__}"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project
    assert project["dynamic"] == ["version"]  # hatch reads src/gcevents/__init__.py
    assert importlib.metadata.version("gcevents") == gcevents.__version__


def test_license_file_is_the_declared_apache_license() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text
    assert "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert any(c.startswith("Programming Language :: Python :: 3.12") for c in project["classifiers"])


def test_make_targets_the_docs_name_exist() -> None:
    import re

    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][A-Za-z-]*):", makefile, flags=re.MULTILINE))
    named = set()
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted(ROOT.glob("examples/*/README.md"))]:
        named |= set(re.findall(r"`make ([A-Za-z][A-Za-z-]*)", doc.read_text()))
        named |= set(re.findall(r"^\s*make ([A-Za-z][A-Za-z-]*)", doc.read_text(), flags=re.MULTILINE))
    assert named, "the docs name no make target?"
    assert named <= targets, named - targets
