"""The artifact's static check (when this machine cannot load the target): native files for the target machine
and Python, every required import of the handlers present, a spec's attribute defined. No pip, no network."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gcevents.ops import static_check


def _elf(machine: int) -> bytes:
    return b"\x7fELF\x02\x01\x01" + bytes(11) + machine.to_bytes(2, "little") + bytes(44)


def _write(root: Path, files: dict[str, str | bytes]) -> Path:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def _check(site: Path, *modules: str, machine: str = "aarch64") -> static_check.StaticReport:
    return static_check.check(site, modules, machine=machine, python_version="3.12", provided=("boto3",))


def test_native_files_must_be_for_the_target_machine_and_python(tmp_path: Path) -> None:
    site = _write(
        tmp_path,
        {
            "fast/__init__.py": "from .fast import *\n",
            "fast/fast.cpython-312-aarch64-linux-gnu.so": _elf(183),
            "fast.libs/libz.so.1": _elf(183),
            "other/_x.cpython-312-x86_64-linux-gnu.so": _elf(62),
            "old/_y.cpython-311-aarch64-linux-gnu.so": _elf(183),
            "mac/_z.abi3.so": b"\xcf\xfa\xed\xfe" + bytes(60),
        },
    )
    report = _check(site)
    assert report.native_files == 5
    assert dict(report.failures) == {
        "other/_x.cpython-312-x86_64-linux-gnu.so": "built for x86_64, not aarch64",
        "old/_y.cpython-311-aarch64-linux-gnu.so": "an extension for CPython 3.11, not 3.12",
        "mac/_z.abi3.so": "not a Linux ELF shared object (the target is aarch64 Linux)",
    }
    assert ("fast.libs/libz.so.1", "built for aarch64, not x86_64") in _check(site, machine="x86_64").failures


def test_every_required_import_of_the_handlers_is_in_the_artifact(tmp_path: Path) -> None:
    site = _write(
        tmp_path,
        {
            "fast/__init__.py": "",
            "fast/fast.cpython-312-aarch64-linux-gnu.so": _elf(183),
            "myorg/__init__.py": "from . import handlers\n",
            "myorg/handlers.py": (
                "import json, boto3\nfrom typing import TYPE_CHECKING\nimport fast.fast\nfrom .util import helper\n"
                "if TYPE_CHECKING:\n    import mypy_boto3_sqs\n"
                "try:\n    import ujson\nexcept ImportError:\n    ujson = None\n"
                "def later():\n    import crmclient\n"
                "router = object()\n"
            ),
            "myorg/util.py": "import missing_top\nfrom ..beyond import thing\ndef helper(): pass\n",
            "gcevents/__init__.py": "def lazily():\n    import gcevents.testing\n",  # trusted: not read
        },
    )
    report = _check(site, "gcevents", "myorg", "myorg.handlers:router", "myorg.handlers:missing", "absent")
    assert report.failures == (
        ("myorg", "No module named 'missing_top' in the artifact (imported by myorg.util)"),
        ("myorg", "from ..beyond import: a relative import beyond the top-level package (myorg.util)"),
        ("myorg", "No module named 'crmclient' in the artifact (imported by myorg.handlers)"),
        ("myorg.handlers:missing", "myorg.handlers defines no top-level 'missing'"),
        ("absent", "No module named 'absent' in the artifact"),
    )


def test_a_handler_that_does_not_parse_is_named(tmp_path: Path) -> None:
    site = _write(tmp_path, {"bad.py": "def broken(:\n"})
    ((module, message),) = _check(site, "bad").failures
    assert module == "bad"
    assert message.startswith("SyntaxError: ")


@given(content=st.binary(max_size=64), machine=st.sampled_from(sorted(static_check.ELF_MACHINES)))
def test_any_native_file_is_judged_without_error(
    tmp_path_factory: pytest.TempPathFactory, content: bytes, machine: str
) -> None:
    """Whatever a `.so` holds (truncated, foreign, garbage), the check names it or accepts it: never raises, and
    accepts only a 64-bit little-endian ELF for the target machine."""
    site = _write(tmp_path_factory.mktemp("site"), {"pkg/_x.abi3.so": content})
    failures = list(static_check.native_failures(site, machine, "3.12"))
    wanted = static_check.ELF_MACHINES[machine].to_bytes(2, "little")
    accepted = len(content) >= 20 and content[:6] == b"\x7fELF\x02\x01" and content[18:20] == wanted
    assert (failures == []) == accepted
    assert all(path == "pkg/_x.abi3.so" for path, _ in failures)


@given(depth=st.integers(1, 4), level=st.integers(1, 4), name=st.sampled_from([None, "util", "a.b"]))
def test_relative_imports_resolve_against_the_package(depth: int, level: int, name: str | None) -> None:
    package = ".".join(f"p{i}" for i in range(depth))
    resolved = static_check._absolute(name, level, package)
    if level <= depth:
        assert resolved == ".".join([*[f"p{i}" for i in range(depth - level + 1)], *([name] if name else [])])
    else:  # beyond the top-level package: Python's ImportError, and never found in an artifact
        assert resolved.startswith(".")
