"""Build the Lambda artifact: build/lambda/ (template.yaml's CodeUri) and build/gcevents-lambda.zip.

    python scripts/package.py [--out build] [--python-version 3.12] [--no-zip]

The gcevents package is copied from src/; its runtime dependencies come from pip as wheels for the target
(arm64 / CPython 3.12, never the build machine's platform), minus what the Lambda Python runtime already
ships (boto3 and its dependencies). Bytecode caches, RECORD files and console scripts are dropped; licenses
and METADATA stay (importlib.metadata needs the latter). The zip is reproducible: sorted entries, fixed
timestamps."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# In the Lambda Python runtime already: shipping them again only grows the artifact (and can shadow the
# runtime's patched versions).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
# Import names / top-level files of RUNTIME_PROVIDED, removed if another dependency drags them in anyway.
RUNTIME_PROVIDED_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six.py")
# manylinux2014 (glibc 2.17) and 2_28 wheels both run on Amazon Linux 2023 (glibc 2.34), the 3.12 runtime.
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024  # direct upload; S3 upload allows more zipped but not unzipped
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024
_DIST_INFO_DROP = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# pip's messages when the index cannot be reached (tests skip on these instead of failing).
NETWORK_ERRORS = re.compile(
    r"NewConnectionError|Network is unreachable|Temporary failure in name resolution|ProxyError|"
    r"Max retries exceeded|Could not fetch URL|ConnectTimeout|Name or service not known",
)


class PackagingError(RuntimeError):
    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output

    @property
    def network(self) -> bool:
        return bool(NETWORK_ERRORS.search(self.output))


@dataclass(frozen=True)
class Artifact:
    directory: Path
    zip_path: Path | None
    unzipped_bytes: int
    zipped_bytes: int | None
    files: int


def runtime_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """[project].dependencies minus what Lambda provides."""
    dependencies: list[str] = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    keep = []
    for requirement in dependencies:
        name = re.split(r"[\s<>=!~;\[]", requirement, maxsplit=1)[0]
        if _normalise(name) not in {_normalise(n) for n in RUNTIME_PROVIDED}:
            keep.append(requirement)
    return keep


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def install_dependencies(requirements: list[str], target: Path, python_version: str) -> None:
    if not requirements:
        return
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--implementation", "cp", "--python-version", python_version,
        "--only-binary=:all:", "--upgrade",
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        *requirements,
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise PackagingError(f"pip install failed ({result.returncode}):\n{output[-4000:]}", output)


def copy_package(source: Path, target: Path) -> None:
    shutil.copytree(source, target / source.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def prune(directory: Path) -> None:
    """Drop what the runtime does not need. Conservative: code, METADATA and licenses stay."""
    for name in RUNTIME_PROVIDED_MODULES:
        path = directory / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
    provided = {_normalise(n) for n in RUNTIME_PROVIDED}
    for info in directory.glob("*.dist-info"):
        if _normalise(info.name.split("-", 1)[0]) in provided:
            shutil.rmtree(info)
            continue
        for name in _DIST_INFO_DROP:
            (info / name).unlink(missing_ok=True)
    shutil.rmtree(directory / "bin", ignore_errors=True)  # console scripts, useless in Lambda
    for cache in sorted(directory.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache, ignore_errors=True)
    for compiled in directory.rglob("*.py[co]"):
        compiled.unlink()
    # Test suites inside third-party packages (never imported at runtime); ours are not in src/ at all.
    for tests in sorted(directory.glob("*/tests"), reverse=True):
        if tests.is_dir() and tests.parent.name != "gcevents":
            shutil.rmtree(tests)


def write_zip(directory: Path, zip_path: Path) -> None:
    zip_path.unlink(missing_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=_FIXED_TIME)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


def build(
    out: Path = ROOT / "build",
    *,
    python_version: str = "3.12",
    make_zip: bool = True,
    source: Path = ROOT / "src" / "gcevents",
    requirements: list[str] | None = None,
) -> Artifact:
    directory = out / "lambda"
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    install_dependencies(runtime_requirements() if requirements is None else requirements, directory, python_version)
    copy_package(source, directory)
    prune(directory)
    files = [p for p in directory.rglob("*") if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    if unzipped > LAMBDA_UNZIPPED_LIMIT:
        raise PackagingError(f"{unzipped} bytes unzipped exceeds Lambda's 250 MB limit")
    zip_path = None
    zipped = None
    if make_zip:
        zip_path = out / "gcevents-lambda.zip"
        write_zip(directory, zip_path)
        zipped = zip_path.stat().st_size
        if zipped > LAMBDA_ZIP_LIMIT:
            raise PackagingError(f"{zipped} bytes zipped exceeds Lambda's 50 MB direct-upload limit")
    return Artifact(directory, zip_path, unzipped, zipped, len(files))


def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MB ({n} bytes)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output directory (default build/)")
    parser.add_argument("--python-version", default="3.12", help="the Lambda runtime's Python (default 3.12)")
    parser.add_argument("--no-zip", action="store_true", help="only build the directory")
    args = parser.parse_args(argv)
    try:
        artifact = build(args.out, python_version=args.python_version, make_zip=not args.no_zip)
    except PackagingError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    print(f"{artifact.directory}: {artifact.files} files, {_size(artifact.unzipped_bytes)} unzipped")
    if artifact.zip_path is not None and artifact.zipped_bytes is not None:
        print(f"{artifact.zip_path}: {_size(artifact.zipped_bytes)} zipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
