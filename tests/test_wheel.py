"""`python -m build` gives a wheel that works without the repository: installed into a clean venv, `gcevents
--version`, `gcevents demo` and the output schemas work from an empty folder. Needs the package index (the build
backend and the dependencies), so slow; skipped when it is unreachable."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import gcevents
from gcevents.entrypoints import demo
from gcevents.ops import package

ROOT = Path(__file__).resolve().parents[1]


def _run(
    command: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0 and package.NETWORK_ERRORS.search(done.stdout + done.stderr):
        pytest.skip("package index unreachable")
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """As the docs say: `python -m build` (an sdist, then the wheel built from it), here into a temporary dist/."""
    dist = tmp_path_factory.mktemp("dist")
    built = _run([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)])
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (found,) = dist.glob("gcevents-*.whl")
    return found


@pytest.mark.slow
def test_the_wheel_carries_the_schemas_and_the_typing_marker(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert {"gcevents/schemas/conversation.completed.v1.json", "gcevents/schemas/genesys.event.v1.json"} <= names
    assert "gcevents/py.typed" in names
    assert "gcevents/testing/genesys/__init__.py" in names  # the demo's simulator: the wheel is the whole package
    assert not {n for n in names if n.startswith(("tests/", "docs/", "schemas/")) or "__pycache__" in n}


@pytest.mark.slow
def test_the_wheel_installed_in_a_clean_venv_runs_without_the_repository(wheel: Path, tmp_path: Path) -> None:
    venv, here = tmp_path / "venv", tmp_path / "empty"
    here.mkdir()
    python = package.find_python("3.12") or sys.executable
    assert _run([python, "-m", "venv", str(venv)]).returncode == 0
    installed = _run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(wheel)])
    assert installed.returncode == 0, installed.stderr[-3000:]
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}  # an activated venv
    env.pop("PYTHONPATH", None)

    version = _run(["gcevents", "--version"], cwd=here, env=env)
    assert version.stdout.strip() == f"gcevents {gcevents.__version__}"
    probe = (
        "import gcevents, json; from gcevents import schemas; "
        "print(json.dumps([gcevents.__file__, [schemas.load(n)['$id'] for n in schemas.NAMES]]))"
    )
    where = _run(["python", "-c", probe], cwd=here, env=env)
    assert where.returncode == 0, where.stderr
    assert str(venv) in where.stdout  # the wheel's gcevents, not this checkout's
    assert "conversation.completed.v1.json" in where.stdout

    ran = _run(["gcevents", "demo"], cwd=here, env=env)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "loss check             PASS" in ran.stdout
    assert "GCEVENTS_DB=.gcevents/demo/gcevents.db gcevents dlq inspect" in ran.stdout


def test_the_demo_names_the_command_as_the_user_types_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    script = tmp_path / ".venv" / "bin" / "gcevents"
    script.parent.mkdir(parents=True)
    script.write_text("")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert demo.invoked_as(str(script)) == ".venv/bin/gcevents"  # a checkout's venv, not activated
    monkeypatch.setenv("PATH", str(script.parent))
    assert demo.invoked_as(str(script)) == "gcevents"  # on PATH: an installed wheel, an activated venv
    assert demo.invoked_as("/usr/lib/python3/runpy.py") == "gcevents"  # python -m ...
