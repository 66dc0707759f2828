"""scripts/package.py: the Lambda artifact has our code and arm64 wheels, and nothing the runtime ships."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.slow  # subprocesses, servers and whole workloads

ROOT = Path(__file__).resolve().parents[1]


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gcevents_package_script", ROOT / "scripts" / "package.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is created
    spec.loader.exec_module(module)
    return module


package = _load_script()


def test_runtime_requirements_leave_out_what_lambda_provides() -> None:
    requirements = package.runtime_requirements()
    names = {r.split(">")[0].split("=")[0].split("<")[0].strip().lower() for r in requirements}
    assert "httpx" in names
    assert not names & {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six"}


def test_prune_and_zip_without_network(tmp_path: Path) -> None:
    """The pruning and the zip on a fake install: fast, and no registry needed."""
    root = tmp_path / "lambda"
    for path in ("boto3/__init__.py", "botocore/data/x.json", "six.py", "dateutil/__init__.py",
                 "urllib3-2.0.dist-info/METADATA", "httpx/__init__.py", "httpx/__pycache__/a.cpython-312.pyc",
                 "httpx-0.28.dist-info/RECORD", "httpx-0.28.dist-info/METADATA",
                 "httpx-0.28.dist-info/licenses/LICENSE.md", "bin/httpx", "anyio/tests/test_x.py"):  # fmt: skip
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text("x")
    package.copy_package(ROOT / "src" / "gcevents", root)
    package.prune(root)
    left = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert "httpx/__init__.py" in left
    assert "httpx-0.28.dist-info/METADATA" in left
    assert "httpx-0.28.dist-info/licenses/LICENSE.md" in left
    assert "gcevents/__init__.py" in left
    assert not {p for p in left if p.split("/")[0] in {"boto3", "botocore", "six.py", "dateutil", "bin"}}
    assert not {p for p in left if "urllib3" in p or "__pycache__" in p or p.endswith(("RECORD", ".pyc"))}
    assert not {p for p in left if p.startswith("anyio/tests")}
    first, second = tmp_path / "a.zip", tmp_path / "b.zip"
    package.write_zip(root, first)
    package.write_zip(root, second)
    assert first.read_bytes() == second.read_bytes()  # reproducible
    with zipfile.ZipFile(first) as archive:
        assert set(archive.namelist()) == left


@pytest.mark.slow
def test_build_with_arm64_wheels(tmp_path: Path) -> None:
    try:
        artifact = package.build(tmp_path)
    except package.PackagingError as exc:
        if exc.network:
            pytest.skip(f"package index unreachable: {str(exc).splitlines()[0]}")
        raise
    root = artifact.directory
    assert (root / "gcevents" / "__init__.py").is_file()
    assert (root / "httpx" / "__init__.py").is_file()
    tops = {p.name for p in root.iterdir()}
    assert not tops & {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six.py", "bin"}
    assert not list(root.rglob("__pycache__"))
    for extension in root.rglob("*.so"):  # compiled wheels must be for the arm64 runtime
        assert "aarch64" in extension.name or "abi3" in extension.name, extension.name
    assert artifact.zip_path is not None
    assert artifact.zipped_bytes is not None
    assert artifact.zipped_bytes < package.LAMBDA_ZIP_LIMIT
    assert artifact.unzipped_bytes < package.LAMBDA_UNZIPPED_LIMIT
    with zipfile.ZipFile(artifact.zip_path) as archive:
        assert "gcevents/__init__.py" in archive.namelist()
    if list(root.rglob("*.so")):
        return  # arm64 extensions cannot be imported on this machine: the import probe below would lie
    # The artifact imports on its own (no site-packages), as the Lambda runtime would load it.
    probe = (
        "import sys; sys.path.insert(0, sys.argv[1]); "
        "import gcevents, gcevents.entrypoints.lambda_handler, httpx; print(gcevents.__version__)"
    )
    result = subprocess.run([sys.executable, "-S", "-c", probe, str(root)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
