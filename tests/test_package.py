"""`gcevents package`: the Lambda artifact has our code, arm64 wheels and the user's handlers, byte-compiled for the
runtime's Python, and nothing the runtime ships or only development needs. The done-when test runs a handler
package that lives outside src/ from the unzipped artifact in a clean venv holding only boto3, against moto."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from factories import ALLOWED_PREFIX, BASE_MS, make_event, resend, sqs_batch
from gcevents.adapters.dynamodb import create_idempotency_table
from gcevents.adapters.sqs import create_queues
from gcevents.entrypoints import cli
from gcevents.ops import package
from gcevents.ops.package import PackageOptions, PackagingError

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ROOT / "tests" / "fixtures" / "outside_project"  # a team's repository, not under src/
# The Lambda runtime's CPython when this machine has one; the test still runs (source only) on 3.11 otherwise.
TARGET_PYTHON = package.find_python("3.12")


def test_runtime_requirements_leave_out_what_lambda_provides() -> None:
    requirements = package.runtime_requirements()
    names = {r.split(">")[0].split("=")[0].split("<")[0].split(";")[0].strip().lower() for r in requirements}
    assert "httpx" in names
    assert not names & {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}
    assert not names & {"pytest", "moto", "atheris"}  # extras are not runtime dependencies


def test_prune_and_zip_without_network(tmp_path: Path) -> None:
    """The pruning, the dev-only exclusions and the zip on a fake install: fast, and no registry needed."""
    root = tmp_path / "lambda"
    for path in (
        "boto3/__init__.py",
        "botocore/data/x.json",
        "six.py",
        "dateutil/__init__.py",
        "urllib3-2.0.dist-info/METADATA",
        "httpx/__init__.py",
        "httpx/__pycache__/a.cpython-312.pyc",
        "httpx-0.28.dist-info/RECORD",
        "httpx-0.28.dist-info/METADATA",
        "httpx-0.28.dist-info/licenses/LICENSE.md",
        "bin/httpx",
        "anyio/tests/test_x.py",
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    package.copy_package(ROOT / "src" / "gcevents", root)
    package.prune(root)
    left = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert "httpx/__init__.py" in left
    assert "httpx-0.28.dist-info/METADATA" in left
    assert "httpx-0.28.dist-info/licenses/LICENSE.md" in left
    assert "gcevents/__init__.py" in left
    assert "gcevents/entrypoints/cli/dlq.py" in left
    assert not {p for p in left if p.split("/")[0] in {"boto3", "botocore", "six.py", "dateutil", "bin"}}
    assert not {p for p in left if "urllib3" in p or "__pycache__" in p or p.endswith(("RECORD", ".pyc"))}
    assert not {p for p in left if p.startswith("anyio/tests")}
    dev_only = (
        "gcevents/testing/",
        "gcevents/entrypoints/demo.py",
        "gcevents/entrypoints/cli/demo.py",
        "gcevents/entrypoints/cli/simulate.py",
    )
    assert not {p for p in left if p.startswith(dev_only)}
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    package.write_zip(root, first)
    package.write_zip(root, second)
    assert first.read_bytes() == second.read_bytes()  # reproducible
    with zipfile.ZipFile(first) as archive:
        assert set(archive.namelist()) == left


def test_copy_handlers_takes_packages_and_modules(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    names = package.copy_handlers([PROJECT / "acme_wrapups", PROJECT / "broken_handlers.py"], site)
    assert names == ["acme_wrapups", "broken_handlers"]
    assert (site / "acme_wrapups" / "handlers.py").is_file()
    assert (site / "broken_handlers.py").is_file()
    with pytest.raises(PackagingError, match="clashes"):
        package.copy_handlers([PROJECT / "acme_wrapups"], site)
    with pytest.raises(PackagingError, match="not a package directory"):
        package.copy_handlers([tmp_path / "missing"], site)


@pytest.mark.slow
@pytest.mark.skipif(TARGET_PYTHON is None, reason="no CPython 3.12 on this machine")
def test_pyc_are_for_the_target_python_and_hash_based(tmp_path: Path) -> None:
    """Compiled by 3.12 (its magic number), unchecked-hash (valid whatever the unzipped mtimes), and loaded."""
    assert TARGET_PYTHON is not None
    site = tmp_path / "site"
    site.mkdir()
    package.copy_handlers([PROJECT / "acme_wrapups"], site)
    compiled, failed = package.byte_compile(TARGET_PYTHON, site, "/var/task")
    assert (compiled, failed) == (2, [])
    pyc = site / "acme_wrapups" / "__pycache__" / "handlers.cpython-312.pyc"
    header = pyc.read_bytes()[:16]
    magic = subprocess.run(
        [TARGET_PYTHON, "-c", "import importlib.util,sys; sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER)"],
        capture_output=True,
        check=True,
    ).stdout
    assert header[:4] == magic
    assert int.from_bytes(header[4:8], "little") == 0b01  # hash-based, check_source off (PEP 552)


def test_no_target_python_means_source_only_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package, "find_python", lambda version, explicit=None: None)
    monkeypatch.setattr(package, "install_dependencies", lambda requirements, target, version, arch: None)
    monkeypatch.setattr(package, "check_imports", lambda python, site, modules: [])
    artifact = package.build(PackageOptions(out=tmp_path, make_zip=False))
    assert artifact.pyc_files == 0
    assert not list(artifact.site.rglob("*.pyc"))
    assert any("ships source only" in w for w in artifact.warnings)


# --------------------------------------------------------------------------------------- real builds (pip)
def _build(options: PackageOptions) -> package.Artifact:
    try:
        return package.build(options)
    except PackagingError as exc:
        if exc.network:
            pytest.skip(f"package index unreachable: {str(exc).splitlines()[0]}")
        raise


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> package.Artifact:
    out = tmp_path_factory.mktemp("build")
    return _build(
        PackageOptions(out=out, handlers=(PROJECT / "acme_wrapups",), specs=("acme_wrapups.handlers:router",))
    )


@pytest.mark.slow
def test_build_with_arm64_wheels_and_handlers(artifact: package.Artifact) -> None:
    root = artifact.root
    assert (root / "gcevents" / "__init__.py").is_file()
    assert (root / "httpx" / "__init__.py").is_file()
    assert (root / "acme_wrapups" / "handlers.py").is_file()
    tops = {p.name for p in root.iterdir()}
    assert not tops & {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six.py", "bin"}
    assert not (root / "gcevents" / "testing").exists()
    for extension in root.rglob("*.so"):  # compiled wheels must be for the arm64 runtime
        assert "aarch64" in extension.name or "abi3" in extension.name, extension.name
    assert artifact.zip_path is not None
    assert artifact.zip_path.name == "gcevents-lambda.zip"
    assert artifact.zipped_bytes is not None
    assert artifact.zipped_bytes < package.LAMBDA_ZIP_LIMIT
    assert artifact.unzipped_bytes < package.LAMBDA_UNZIPPED_LIMIT
    assert artifact.modules_checked == ("acme_wrapups", "acme_wrapups.handlers:router")
    with zipfile.ZipFile(artifact.zip_path) as archive:
        names = set(archive.namelist())
    assert {"gcevents/__init__.py", "acme_wrapups/handlers.py"} <= names
    # The artifact's CLI works without the dev-only command modules: it simply does not offer them.
    probe = "import sys; sys.path[:0] = [sys.argv[1]]; from gcevents.entrypoints.cli import main; main(['--help'])"
    python = TARGET_PYTHON or sys.executable
    shown = subprocess.run([python, "-I", "-S", "-B", "-c", probe, str(root)], capture_output=True, text=True)
    assert "dlq" in shown.stdout
    assert "connect" in shown.stdout
    assert "demo" not in shown.stdout
    assert "simulate-genesys" not in shown.stdout
    if TARGET_PYTHON is not None:
        assert artifact.pyc_files > 100
        assert "gcevents/entrypoints/__pycache__/lambda_handler.cpython-312.pyc" in names
        assert "acme_wrapups/__pycache__/handlers.cpython-312.pyc" in names
        assert not {n for n in names if n.endswith(".pyc") and ".cpython-312." not in n}


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["arm64", "x86_64"])
def test_a_handler_that_does_not_import_is_an_error_naming_it(tmp_path: Path, arch: str) -> None:
    """Imported where this machine loads the target, read where it cannot: the same module named either way."""
    with pytest.raises(PackagingError) as raised:
        _build(PackageOptions(out=tmp_path, arch=arch, handlers=(PROJECT / "broken_handlers.py",)))
    if package.host_loads(arch, TARGET_PYTHON):
        assert "(import check)" in str(raised.value)
        assert "broken_handlers: ModuleNotFoundError: No module named 'acme_crm_client'" in str(raised.value)
    else:
        assert "(static check)" in str(raised.value)
        assert "broken_handlers: No module named 'acme_crm_client' in the artifact" in str(raised.value)
    assert not (tmp_path / "gcevents-lambda.zip").exists()


@pytest.mark.slow
def test_layer_has_the_python_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = cli.main(["package", "--layer", "--out", str(tmp_path)])
    except PackagingError as exc:
        if exc.network:
            pytest.skip("package index unreachable")
        raise
    output = capsys.readouterr()
    if code != 0 and package.NETWORK_ERRORS.search(output.err):
        pytest.skip("package index unreachable")
    assert code == 0, output.err
    assert (tmp_path / "layer" / "python" / "gcevents" / "__init__.py").is_file()
    assert (tmp_path / "layer" / "python" / "httpx").is_dir()
    with zipfile.ZipFile(tmp_path / "gcevents-layer.zip") as archive:
        assert "python/gcevents/__init__.py" in archive.namelist()
    assert "gcevents-layer.zip" in output.out
    assert "MB" in output.out  # sizes printed


# ------------------------------------------------------------------------------------ the done-when test
@pytest.fixture(scope="module")
def clean_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv of the Lambda's Python (3.11 when no 3.12 exists here) holding only boto3 and its dependencies,
    copied from this environment (all pure Python), as the Lambda runtime provides them."""
    python = TARGET_PYTHON or sys.executable
    venv = tmp_path_factory.mktemp("clean") / "venv"
    subprocess.run([python, "-m", "venv", "--without-pip", str(venv)], check=True)
    interpreter = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_path('purelib'))"
    found = subprocess.run([str(interpreter), "-c", purelib], capture_output=True, text=True, check=True)
    site_packages = Path(found.stdout.strip())
    with package.runtime_provided_path() as provided:
        for link in provided.iterdir():
            source = link.resolve()
            target = site_packages / link.name
            if source.is_dir():
                shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, target)
    return interpreter


RUNNER = """
import json, sys, types
sys.path.insert(0, sys.argv[1])  # /var/task comes first in Lambda
import gcevents
context = types.SimpleNamespace(get_remaining_time_in_millis=lambda: 60_000, aws_request_id="req")
with open(sys.argv[2]) as batch:
    result = gcevents.handler(json.load(batch), context)
testing_loaded = sorted(m for m in sys.modules if m.startswith("gcevents.testing"))
print(json.dumps({"result": result, "testing_loaded": testing_loaded, "gcevents": gcevents.__file__}))
"""


@pytest.mark.slow
def test_packaged_handler_runs_once_per_unique_event_in_a_clean_venv(
    artifact: package.Artifact, clean_venv: Path, aws: str, boto_client: Any, unique_name: str, tmp_path: Path
) -> None:
    assert artifact.zip_path is not None
    _runs_once_per_unique_event(artifact.zip_path, clean_venv, aws, boto_client, unique_name, tmp_path)


def _runs_once_per_unique_event(
    zip_path: Path, clean_venv: Path, aws: str, boto_client: Any, unique_name: str, tmp_path: Path
) -> None:
    """The zipped acme_wrapups artifact, unzipped read-only, runs a batch twice in new processes of `clean_venv`:
    one effect per unique event."""
    task = tmp_path / "task"
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    for path in task.rglob("*"):  # Lambda's code directory is read-only
        path.chmod(0o555 if path.is_dir() else 0o444)
    create_idempotency_table(boto_client("dynamodb"), unique_name)
    queues = create_queues(boto_client("sqs"), unique_name, visibility_timeout=30)

    first = make_event("customer.start", "c-1", event_time=BASE_MS)
    second = make_event("customer.end", "c-1", event_time=BASE_MS + 1000, disconnectType="client")
    third = make_event("acw", "c-2", event_time=BASE_MS + 2000, wrapupCode="sale")
    # An in-batch duplicate and a re-send under a new envelope id: one effect each, not two.
    batch = sqs_batch([first, second, third, dict(first), resend(third)])
    batch_file = tmp_path / "batch.json"
    batch_file.write_text(json.dumps(batch))
    effects = tmp_path / "effects.jsonl"
    env = {
        "PATH": os.environ["PATH"],
        "AWS_ENDPOINT_URL": aws,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": "gcevents-packaged",
        "GCEVENTS_IDEMPOTENCY_STORE": f"dynamodb:{unique_name}",
        "GCEVENTS_STATE_STORE": "off",
        "GCEVENTS_DLQ": f"sqs:{queues['dlq_url']}",
        "GCEVENTS_ALLOWED_SOURCES": ALLOWED_PREFIX,
        "GCEVENTS_HANDLERS": "acme_wrapups.handlers:router",
        "ACME_EFFECTS_FILE": str(effects),
    }

    def deliver() -> dict[str, Any]:  # each delivery in a new process: a new Lambda container
        done = subprocess.run(
            [str(clean_venv), "-I", "-B", "-c", RUNNER, str(task), str(batch_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        output: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
        return output

    delivered = deliver()
    assert delivered["result"] == {"batchItemFailures": []}
    assert delivered["testing_loaded"] == []
    assert delivered["gcevents"].startswith(str(task))  # the artifact's gcevents, not this checkout's
    lines = [json.loads(line) for line in effects.read_text().splitlines()]
    assert Counter(line["kind"] for line in lines) == Counter(
        {"conversation.customer.start": 1, "conversation.customer.end": 1, "conversation.acw": 1}
    )
    assert len({line["key"] for line in lines}) == 3

    again = deliver()  # SQS delivers the same batch again
    assert again["result"] == {"batchItemFailures": []}
    assert len(effects.read_text().splitlines()) == 3


@pytest.fixture(autouse=True)
def _writable_tmp(tmp_path: Path) -> Iterator[None]:
    """pytest removes old tmp dirs; the read-only copy of the artifact must stay removable."""
    yield
    for path in tmp_path.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)


# ---------------------------------------------------------------------------------- as a user types it
GCEVENTS = Path(sys.executable).with_name("gcevents")  # the console script of this environment
EXAMPLE = ROOT / "examples" / "crm-wrapup"


def _typed(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`gcevents ...` as a user types it: a subprocess from `cwd`, every path relative to it."""
    done = subprocess.run([str(GCEVENTS), *command], cwd=cwd, capture_output=True, text=True, timeout=600)
    if done.returncode != 0 and package.NETWORK_ERRORS.search(done.stderr):
        pytest.skip("package index unreachable")
    return done


@pytest.mark.slow
def test_the_examples_package_command_as_typed_from_its_folder(tmp_path: Path) -> None:
    """examples/crm-wrapup/README.md's step 3, from a copy of the example, with the default relative --out."""
    project = tmp_path / "crm-wrapup"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    done = _typed(["package", "--handlers", "./crm_wrapup", "--spec", "crm_wrapup.handlers:router"], project)
    assert done.returncode == 0, done.stderr
    assert (project / "build" / "lambda" / "crm_wrapup" / "handlers.py").is_file()
    assert (project / "build" / "gcevents-lambda.zip").is_file()
    check = "import check" if package.host_loads("arm64", TARGET_PYTHON) else "static check"
    assert f"{check} (gcevents, crm_wrapup, crm_wrapup.handlers:router): " in done.stdout
    assert "build/lambda/: " in done.stdout  # the path as the user gave it


# This machine's own architecture: the import check runs (not the static one), with the paths as typed.
HOST_ARCH = "arm64" if package._machine() == "aarch64" else "x86_64"


@pytest.mark.slow
@pytest.mark.parametrize("arch", sorted({"arm64", HOST_ARCH}))
@pytest.mark.parametrize("absolute", [False, True], ids=["relative", "absolute"])
def test_out_and_handlers_relative_or_absolute_from_another_folder(tmp_path: Path, absolute: bool, arch: str) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    shutil.copytree(ROOT / "tests" / "fixtures" / "outside_project", project)
    elsewhere.mkdir()
    handlers = project / "acme_wrapups" if absolute else Path("../project/acme_wrapups")
    out = tmp_path / "out" if absolute else Path("../out")
    command = ["package", "--handlers", str(handlers), "--out", str(out), "--spec", "acme_wrapups.handlers:router"]
    done = _typed([*command, "--no-zip", "--arch", arch], elsewhere)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out" / "lambda" / "acme_wrapups" / "handlers.py").is_file()


# ------------------------------------------------------------------- native dependencies, either architecture
def _orjson_project(tmp_path: Path) -> Path:
    """acme_wrapups, its effects written with orjson (a native extension): the handler needs `-r orjson`."""
    project = tmp_path / "project"
    shutil.copytree(PROJECT / "acme_wrapups", project / "acme_wrapups")
    handlers = project / "acme_wrapups" / "handlers.py"
    source = handlers.read_text().replace("import json\n", "import orjson\n")
    handlers.write_text(
        source.replace("line = json.dumps(", "line = orjson.dumps(").replace(
            "effects.write(line + ", "effects.write(line.decode() + "
        )
    )
    assert "orjson.dumps(" in handlers.read_text()
    return project


ORJSON_PACKAGE = ["package", "--handlers", "./acme_wrapups", "--spec", "acme_wrapups.handlers:router", "-r", "orjson"]


@pytest.mark.slow
def test_a_handler_needing_orjson_packages_for_arm64_on_any_machine(tmp_path: Path) -> None:
    project = _orjson_project(tmp_path)
    done = _typed([*ORJSON_PACKAGE, "--arch", "arm64"], project)
    assert done.returncode == 0, done.stderr
    extensions = list((project / "build" / "lambda" / "orjson").glob("*.so"))
    assert [e.name for e in extensions] == ["orjson.cpython-312-aarch64-linux-gnu.so"]
    assert extensions[0].read_bytes()[18:20] == (183).to_bytes(2, "little")  # ELF e_machine: AArch64
    checked = "(gcevents, acme_wrapups, acme_wrapups.handlers:router): "
    if package.host_loads("arm64", TARGET_PYTHON):
        assert f"import check {checked}imported by " in done.stdout
    else:  # this machine cannot load it: read, not imported, and the output says so
        assert f"static check {checked}" in done.stdout
        assert (
            "cannot load arm64 Linux code: every import resolved in the artifact; 1 native file, each for aarch64"
            in done.stdout
        )


@pytest.mark.slow
def test_a_handler_needing_orjson_packaged_for_x86_64_runs_in_a_clean_venv(
    clean_venv: Path, aws: str, boto_client: Any, unique_name: str, tmp_path: Path
) -> None:
    project = _orjson_project(tmp_path)
    done = _typed([*ORJSON_PACKAGE, "--arch", "x86_64"], project)
    assert done.returncode == 0, done.stderr
    extensions = [e.name for e in (project / "build" / "lambda" / "orjson").glob("*.so")]
    assert extensions == ["orjson.cpython-312-x86_64-linux-gnu.so"]
    if not package.host_loads("x86_64", TARGET_PYTHON):
        pytest.skip("this machine cannot run x86_64 Linux code with CPython 3.12")
    assert "import check (gcevents, acme_wrapups, acme_wrapups.handlers:router): imported by " in done.stdout
    _runs_once_per_unique_event(
        project / "build" / "gcevents-lambda.zip", clean_venv, aws, boto_client, unique_name, tmp_path
    )


# ------------------------------------------------------------------------------------ sam build's Makefile
@pytest.mark.slow
def test_sam_build_runs_the_examples_makefile_into_artifacts_dir(tmp_path: Path) -> None:
    """What `sam build` does with `BuildMethod: makefile`: copy the CodeUri folder, then run `make build-Function`
    there with ARTIFACTS_DIR set (aws-lambda-builders' custom_make workflow). ARTIFACTS_DIR becomes the code root."""
    scratch, artifacts = tmp_path / "scratch", tmp_path / ".aws-sam" / "build" / "Function"
    shutil.copytree(EXAMPLE, scratch, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    artifacts.mkdir(parents=True)
    env = {**os.environ, "ARTIFACTS_DIR": str(artifacts), "PATH": f"{GCEVENTS.parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["make", "build-Function"], cwd=scratch, env=env, capture_output=True, text=True)
    if done.returncode != 0 and package.NETWORK_ERRORS.search(done.stderr):
        pytest.skip("package index unreachable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert (artifacts / "gcevents" / "entrypoints" / "lambda_handler.py").is_file()
    assert (artifacts / "crm_wrapup" / "handlers.py").is_file()
    assert (artifacts / "httpx" / "__init__.py").is_file()
    assert not list(tmp_path.rglob("*.zip"))  # SAM zips the folder itself
    # Built again (sam build on an existing .aws-sam): the previous artifact is replaced.
    again = subprocess.run(["make", "build-Function"], cwd=scratch, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr


def test_code_dir_refuses_a_folder_that_is_not_an_artifact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    (project / "myorg").mkdir(parents=True)
    (project / "notes.txt").write_text("mine")
    monkeypatch.setattr(package, "install_dependencies", lambda requirements, target, version, arch: None)
    with pytest.raises(PackagingError, match="not empty and not a gcevents artifact"):
        package.build(PackageOptions(code_dir=project))
    assert (project / "notes.txt").read_text() == "mine"


@pytest.mark.parametrize(("machine", "natives", "measured"), [("x86_64", 0, True), ("x86_64", 1, False)])
def test_measure_only_what_this_machine_can_load(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    machine: str,
    natives: int,
    measured: bool,
) -> None:
    """An arm64 artifact of pure Python imports on x86_64 too; one with an aarch64 .so cannot be timed here."""
    fake = package.Artifact(tmp_path, tmp_path, None, 1, None, 1, 0, "/usr/bin/python3.12", native_files=natives)
    monkeypatch.setattr(package, "build", lambda options: fake)
    monkeypatch.setattr(package, "_machine", lambda: machine)
    monkeypatch.setattr(package, "measure_cold_import", lambda python, site, modules, with_pyc: 0.05)
    assert cli.main(["package", "--arch", "arm64", "--measure"]) == 0
    output = capsys.readouterr().out
    assert ("cold import (median of 9, CPU time): 50 ms with .pyc" in output) == measured
    assert ("cold import not measured: this machine cannot load arm64 Linux code" in output) == (not measured)


@pytest.mark.slow
def test_make_package_in_a_fresh_clone(tmp_path: Path) -> None:
    """`make package` as typed in a clone (this environment's venv standing in for `make setup`'s)."""
    clone = tmp_path / "gcevents"
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in listed.splitlines():
        if (ROOT / name).is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, clone / name)
    venv = Path(sys.executable).parent.parent
    (venv / "bin" / "gcevents").touch()  # newer than pyproject.toml: `make setup` has nothing to do
    make = ["make", "package", f"VENV={venv}", f"ARCH={HOST_ARCH}"]  # the import check, as the bug needed
    done = subprocess.run(make, cwd=clone, capture_output=True, text=True)
    if done.returncode != 0 and package.NETWORK_ERRORS.search(done.stderr):
        pytest.skip("package index unreachable")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "build/lambda/: " in done.stdout
    if package.host_loads(HOST_ARCH, TARGET_PYTHON):
        assert "import check (gcevents): imported by " in done.stdout
    assert (clone / "build" / "gcevents-lambda.zip").is_file()
