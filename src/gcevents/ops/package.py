"""`gcevents package`: the Lambda artifact (or a Lambda layer) with gcevents, its dependencies and your handlers.

    out/lambda/                  the function's code root (template.yaml's CodeUri)   [--layer: out/layer/python/]
    out/gcevents-lambda.zip      the same, zipped reproducibly                         [--layer: out/gcevents-layer.zip]

- Dependencies come from pip as wheels for the *target* (`--arch` arm64 or x86_64 manylinux, CPython 3.12),
  never the build machine's platform, minus what the Lambda Python runtime ships already (boto3 and its
  dependencies).
- gcevents is copied from the installed package, without what only development needs (`gcevents.testing`, the
  demo and the simulator commands); each `--handlers` path (a package directory or a module file) is copied
  next to it.
- Every `.py` file is byte-compiled by a CPython of the runtime's version (a `.pyc` is specific to one minor
  version: 3.12 ignores a 3.11 `cpython-311.pyc`), as *unchecked-hash* pycs (PEP 552): they are not compared
  with the source's mtime, which the zip's fixed timestamps would make stale, and they keep the zip
  reproducible. Without such an interpreter the artifact ships source only and says so; every cold start then
  compiles what it imports (Lambda's code directory is read-only, so nothing is cached either).
- Every handler is imported with the artifact's own layout before anything is zipped, by that interpreter,
  with only the runtime's boto3 beside it: a handler that does not import is an error naming the module.
  When this machine cannot load the target (another architecture, not Linux, or no CPython of the runtime's
  version), the check is static instead (`gcevents.ops.static_check`), and the command says which one ran.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gcevents.errors import GcEventsError
from gcevents.ops import static_check

# In the Lambda Python runtime already: shipping them again only grows the artifact (and can shadow the
# runtime's patched versions).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
# Import names / top-level files of RUNTIME_PROVIDED, removed if another dependency drags them in anyway.
RUNTIME_PROVIDED_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six.py")
# Lambda's architecture names -> the machine name of wheel platform tags and of `platform.machine()` on Linux.
ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}
DEFAULT_ARCH = "arm64"  # template.yaml's Architecture default
LAMBDA_PYTHON = "3.12"
LAMBDA_ZIP_LIMIT = 50 * 1024 * 1024  # direct upload; S3 upload allows more zipped but not unzipped
LAMBDA_UNZIPPED_LIMIT = 250 * 1024 * 1024  # function code and all its layers together
# Where the Lambda runtime puts the code: tracebacks name these paths.
FUNCTION_ROOT = "/var/task"
LAYER_ROOT = "/opt/python"
# Development-only parts of gcevents, relative to the package: never in an artifact.
DEV_ONLY = ("testing", "entrypoints/demo.py", "entrypoints/cli/demo.py", "entrypoints/cli/simulate.py")
_DIST_INFO_DROP = ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)
_COPY_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".pytest_cache", ".mypy_cache", "*.egg-info")
# pip's messages when the index cannot be reached (tests skip on these instead of failing).
NETWORK_ERRORS = re.compile(
    r"NewConnectionError|Network is unreachable|Temporary failure in name resolution|ProxyError|"
    r"Max retries exceeded|Could not fetch URL|ConnectTimeout|Name or service not known",
)


class PackagingError(GcEventsError):
    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output

    @property
    def network(self) -> bool:
        return bool(NETWORK_ERRORS.search(self.output))


@dataclass(frozen=True, slots=True)
class PackageOptions:
    out: Path = Path("build")
    arch: str = DEFAULT_ARCH  # the function's architecture: arm64 or x86_64
    handlers: tuple[Path, ...] = ()  # package directories or module files, copied to the artifact's root
    specs: tuple[str, ...] = ()  # `pkg.module:attr` (as GCEVENTS_HANDLERS) to check beyond importing `handlers`
    requirements: tuple[str, ...] = ()  # extra pip requirements of the handlers (`-r FILE` works too)
    layer: bool = False  # a Lambda layer (python/ layout) instead of a function's code root
    python_version: str = LAMBDA_PYTHON
    python: str | None = None  # the interpreter that byte-compiles and checks (default: found by version)
    compile: bool = True
    make_zip: bool = True
    code_dir: Path | None = None  # write the code root here instead of out/lambda, unzipped (SAM's ARTIFACTS_DIR)
    source: Path | None = None  # the gcevents package directory (default: the one imported)
    dependencies: tuple[str, ...] | None = None  # default: gcevents' runtime requirements


@dataclass(frozen=True, slots=True)
class Artifact:
    root: Path  # the directory whose content is zipped (out/lambda, or out/layer)
    site: Path  # where the modules are (root, or root/python for a layer)
    zip_path: Path | None
    unzipped_bytes: int
    zipped_bytes: int | None
    files: int
    pyc_files: int
    python: str | None  # the CPython of the target version that compiled and checked (None: not found)
    modules_checked: tuple[str, ...] = ()
    check: str = ""  # which check ran on `modules_checked`: "import check" or "static check"
    check_detail: str = ""  # by which Python, or why static and what it found
    native_files: int = 0  # native (.so) files in the artifact
    warnings: tuple[str, ...] = field(default=())


# ------------------------------------------------------------------------------------------------ inputs
def runtime_requirements() -> list[str]:
    """gcevents' own runtime requirements (from its installed metadata) minus what Lambda provides."""
    try:
        requirements = importlib.metadata.requires("gcevents") or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise PackagingError("gcevents is not installed as a distribution (pip install gcevents)") from exc
    provided = {_normalise(n) for n in RUNTIME_PROVIDED}
    keep = []
    for requirement in requirements:
        if "extra ==" in requirement.replace('extra=="', 'extra == "'):
            continue  # an optional extra (dev, fuzz): not a runtime dependency
        name = re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0]
        if _normalise(name) not in provided:
            keep.append(requirement)
    return keep


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def find_python(version: str = LAMBDA_PYTHON, explicit: str | None = None) -> str | None:
    """A CPython `version` interpreter: `explicit`, this one, `pythonX.Y` on PATH, the usual install places,
    pyenv's versions, or uv's managed Pythons. Each candidate is run once to confirm its version (a pyenv shim
    on PATH may exist without that version being active)."""
    candidates: list[str] = []
    if explicit:
        candidates.append(explicit)
    else:
        candidates.append(sys.executable)
        name = f"python{version}"
        on_path = shutil.which(name)
        if on_path:
            candidates.append(on_path)
        candidates += [f"/usr/bin/{name}", f"/usr/local/bin/{name}", f"/opt/homebrew/bin/{name}"]
        candidates += sorted(glob.glob(f"{_pyenv_root()}/versions/{version}.*/bin/{name}"), reverse=True)
        uv = shutil.which("uv")
        if uv:
            found = subprocess.run(
                [uv, "python", "find", "--no-python-downloads", version], capture_output=True, text=True, check=False
            )
            if found.returncode == 0 and found.stdout.strip():
                candidates.append(found.stdout.strip().splitlines()[-1])
    for candidate in dict.fromkeys(candidates):
        if _python_version(candidate) == version:
            return candidate
    if explicit:
        raise PackagingError(f"--python {explicit}: not a CPython {version} interpreter")
    return None


def _pyenv_root() -> str:
    pyenv = shutil.which("pyenv")
    if pyenv:
        found = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30, check=False)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    return os.path.expanduser("~/.pyenv")


def _python_version(executable: str) -> str | None:
    if not (os.path.isfile(executable) and os.access(executable, os.X_OK)):
        return None
    probe = "import sys; print(sys.implementation.name, '%d.%d' % sys.version_info[:2])"
    try:
        result = subprocess.run(
            [executable, "-I", "-c", probe], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    implementation, _, found = result.stdout.strip().partition(" ")
    return found if result.returncode == 0 and implementation == "cpython" else None


# ------------------------------------------------------------------------------------------------ steps
def platforms(arch: str) -> tuple[str, ...]:
    """pip's platform tags for a Lambda architecture: manylinux2014 (glibc 2.17) and 2_28 wheels both run on
    Amazon Linux 2023 (glibc 2.34), the 3.12 runtime."""
    if arch not in ARCHITECTURES:
        raise PackagingError(f"--arch {arch}: Lambda runs arm64 or x86_64")
    machine = ARCHITECTURES[arch]
    return (f"manylinux2014_{machine}", f"manylinux_2_28_{machine}")


def install_dependencies(requirements: Sequence[str], target: Path, python_version: str, arch: str) -> None:
    if not requirements:
        return
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--target",
        str(target),
        "--implementation",
        "cp",
        "--python-version",
        python_version,
        "--only-binary=:all:",
        "--upgrade",
        *(arg for platform in platforms(arch) for arg in ("--platform", platform)),
        *_requirement_args(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = result.stdout + result.stderr
        raise PackagingError(f"pip install failed ({result.returncode}):\n{output[-4000:]}", output)


def _requirement_args(requirements: Sequence[str]) -> list[str]:
    args: list[str] = []
    for requirement in requirements:
        if requirement.startswith("-r"):
            args += ["-r", requirement[2:].strip()]
        elif requirement.endswith(".txt") and Path(requirement).is_file():
            args += ["-r", requirement]
        else:
            args.append(requirement)
    return args


def copy_package(source: Path, target: Path) -> None:
    """gcevents without its development-only modules."""
    destination = target / source.name
    shutil.copytree(source, destination, ignore=_COPY_IGNORE)
    for relative in DEV_ONLY:
        path = destination / relative
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)


def copy_handlers(paths: Sequence[Path], target: Path) -> list[str]:
    """Copy each package directory or module file to the artifact's root; returns the module names."""
    names: list[str] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            name = path.resolve().name
        elif path.is_file() and path.suffix == ".py":
            name = path.stem
        else:
            raise PackagingError(f"--handlers {path}: not a package directory or a .py module file")
        if not name.isidentifier():
            raise PackagingError(f"--handlers {path}: {name!r} is not an importable module name")
        destination = target / (name if path.is_dir() else path.name)
        if destination.exists() or (target / name).exists() or (target / f"{name}.py").exists():
            raise PackagingError(f"--handlers {path}: {name!r} clashes with a module already in the artifact")
        if path.is_dir():
            shutil.copytree(path, destination, ignore=_COPY_IGNORE)
        else:
            shutil.copy2(path, destination)
        names.append(name)
    return names


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


_COMPILE = r"""
import importlib.util, json, pathlib, py_compile, sys
root, prefix = pathlib.Path(sys.argv[1]), sys.argv[2]
compiled, failed = 0, []
for source in sorted(root.rglob("*.py")):
    relative = source.relative_to(root).as_posix()
    try:
        py_compile.compile(str(source), cfile=importlib.util.cache_from_source(str(source)),
                           dfile=prefix + "/" + relative, doraise=True,
                           invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
        compiled += 1
    except py_compile.PyCompileError as exc:
        failed.append([relative, str(exc.msg).strip()[-300:]])
print(json.dumps({"compiled": compiled, "failed": failed}))
"""


def byte_compile(python: str, site: Path, prefix: str) -> tuple[int, list[tuple[str, str]]]:
    """Compile every .py under `site` with `python` into unchecked-hash pycs; tracebacks name `prefix`/...."""
    result = subprocess.run([python, "-I", "-c", _COMPILE, str(site), prefix], capture_output=True, text=True)
    if result.returncode != 0:
        raise PackagingError(f"byte-compiling with {python} failed:\n{result.stderr[-2000:]}", result.stderr)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return int(report["compiled"]), [(str(a), str(b)) for a, b in report["failed"]]


_CHECK = r"""
import importlib, json, sys
sys.path[:0] = sys.argv[1:3]
failures = []
try:
    import gcevents.entrypoints.lambda_handler
    from gcevents.core.router import Router
    from gcevents.entrypoints.runtime import load_handlers
except BaseException as exc:
    failures.append(["gcevents.entrypoints.lambda_handler", f"{type(exc).__name__}: {exc}"])
else:
    for spec in sys.argv[3:]:
        try:
            if ":" in spec:
                load_handlers(Router(), (spec,))
            else:
                importlib.import_module(spec)
        except BaseException as exc:
            failures.append([spec, f"{type(exc).__name__}: {exc}"])
print(json.dumps(failures))
"""


@contextlib.contextmanager
def runtime_provided_path() -> Iterator[Path]:
    """A directory holding only what the Lambda runtime provides (boto3 and its dependencies), as links to this
    interpreter's copies: the import check sees neither this venv's other packages nor its .pth files."""
    with tempfile.TemporaryDirectory(prefix="gcevents-runtime-") as directory:
        for name in RUNTIME_PROVIDED_MODULES:
            spec = importlib.util.find_spec(name.removesuffix(".py"))
            if spec is None or spec.origin is None:
                continue
            origin = Path(spec.origin)
            source = origin.parent if origin.name == "__init__.py" else origin
            (Path(directory) / source.name).symlink_to(source, target_is_directory=source.is_dir())
        yield Path(directory)


def check_imports(python: str, site: Path, modules: Sequence[str]) -> list[tuple[str, str]]:
    """Import gcevents' Lambda entry point and every handler module/spec in a fresh `python -I -S -B` with
    `site` and the runtime's boto3 only. Returns (module or spec, error) for each failure."""
    site = site.absolute()  # it goes on sys.path of a process whose cwd is `site`: relative, it would not resolve
    with runtime_provided_path() as provided:  # -I: no PYTHONPATH or user site of this machine
        result = subprocess.run(
            [python, "-I", "-S", "-B", "-c", _CHECK, str(site), str(provided), *modules],
            capture_output=True,
            text=True,
            cwd=site,
            timeout=300,
            check=False,
        )
    if result.returncode != 0:
        return [("python", result.stderr.strip()[-2000:])]
    return [(str(a), str(b)) for a, b in json.loads(result.stdout.strip().splitlines()[-1])]


def write_zip(directory: Path, zip_path: Path) -> None:
    """Sorted entries, fixed timestamps and modes: the same input gives the same bytes."""
    zip_path.unlink(missing_ok=True)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in sorted(p for p in directory.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(directory).as_posix(), date_time=_FIXED_TIME)
            info.external_attr = (0o755 if os.access(path, os.X_OK) else 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=9)


# ------------------------------------------------------------------------------------------------ build
def build(options: PackageOptions) -> Artifact:
    """Install, copy, prune, byte-compile, import-check, then zip: nothing is zipped unless every handler imports."""
    warnings: list[str] = []
    out = Path(options.out)
    root = Path(options.code_dir) if options.code_dir else out / ("layer" if options.layer else "lambda")
    site = root / "python" if options.layer else root
    _empty(root, site, given=options.code_dir is not None)
    site.mkdir(parents=True, exist_ok=True)
    python = find_python(options.python_version, options.python)
    if python is None:
        warnings.append(
            f"no CPython {options.python_version} found (checked python{options.python_version} on PATH, "
            f"/usr/bin, /usr/local/bin, pyenv and uv; --python PATH names one): the artifact ships source only, "
            f"and every cold start compiles what it imports"
        )
    dependencies = list(runtime_requirements() if options.dependencies is None else options.dependencies)
    install_dependencies([*dependencies, *options.requirements], site, options.python_version, options.arch)
    copy_package(options.source or Path(__file__).resolve().parents[1], site)
    handler_modules = copy_handlers(options.handlers, site)
    prune(site)
    pyc_files = _compile(options, python, site, handler_modules, warnings)
    modules = (*handler_modules, *options.specs)
    check, check_detail = _check(options, python, site.absolute(), modules)
    files = [p for p in root.rglob("*") if p.is_file()]
    unzipped = sum(p.stat().st_size for p in files)
    if unzipped > LAMBDA_UNZIPPED_LIMIT:
        raise PackagingError(f"{unzipped} bytes unzipped exceeds Lambda's 250 MB limit")
    zip_path = None
    zipped = None
    if options.make_zip and options.code_dir is None:
        zip_path = out / ("gcevents-layer.zip" if options.layer else "gcevents-lambda.zip")
        write_zip(root, zip_path)
        zipped = zip_path.stat().st_size
        if zipped > LAMBDA_ZIP_LIMIT:
            warnings.append(f"{zipped} bytes zipped exceeds the 50 MB direct upload: deploy it through S3")
    return Artifact(
        root,
        site,
        zip_path,
        unzipped,
        zipped,
        len(files),
        pyc_files,
        python,
        modules,
        check,
        check_detail,
        sum(1 for _ in static_check.native_files(site)),
        tuple(warnings),
    )


def _empty(root: Path, site: Path, *, given: bool) -> None:
    """Clear the previous artifact. A directory the user named (--code-dir) is only cleared when it is empty or
    holds a previous artifact: never a project folder given by mistake."""
    if not root.exists():
        return
    if given and any(root.iterdir()) and not (site / "gcevents" / "__init__.py").is_file():
        raise PackagingError(f"--code-dir {root}: not empty and not a gcevents artifact; refusing to clear it")
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


def _compile(
    options: PackageOptions, python: str | None, site: Path, handler_modules: Sequence[str], warnings: list[str]
) -> int:
    """Byte-compile with the target Python; our code and the handlers must compile, third-party leftovers may not."""
    if not options.compile:
        warnings.append("--no-compile: the artifact ships source only")
        return 0
    if python is None:
        return 0
    pyc_files, failed = byte_compile(python, site, LAYER_ROOT if options.layer else FUNCTION_ROOT)
    ours = tuple(f"{name}/" for name in ("gcevents", *handler_modules)) + tuple(f"{n}.py" for n in handler_modules)
    broken = [f"{path}: {message}" for path, message in failed if path.startswith(ours)]
    if broken:
        listing = "\n  ".join(broken)
        raise PackagingError(f"does not compile for Python {options.python_version}:\n  {listing}")
    warnings += [f"left as source (does not compile for {options.python_version}): {path}" for path, _ in failed]
    return pyc_files


def host_loads(arch: str, python: str | None) -> bool:
    """Whether this machine can import the target's code: Linux on the same architecture, with a CPython of the
    runtime's version (an extension module is built for one minor version)."""
    return python is not None and sys.platform == "linux" and _machine() == ARCHITECTURES[arch]


def _machine() -> str:
    machine = platform.machine().lower()
    return {"arm64": "aarch64", "amd64": "x86_64"}.get(machine, machine)


def _check(options: PackageOptions, python: str | None, site: Path, modules: Sequence[str]) -> tuple[str, str]:
    """Every handler imports from the artifact, or the build fails naming it. Imported when this machine can
    load the target; read otherwise (static_check). Returns which check ran, and how."""
    entry = "gcevents.entrypoints.lambda_handler"
    if python is not None and host_loads(options.arch, python):
        kind, failures = "import check", check_imports(python, site, modules)
        ran = f"imported by {python} on this {_machine()} Linux machine"
    else:
        provided = (*RUNTIME_PROVIDED_MODULES, *RUNTIME_PROVIDED)
        machine = ARCHITECTURES[options.arch]
        report = static_check.check(
            site, (entry, *modules), machine=machine, python_version=options.python_version, provided=provided
        )
        kind, failures = "static check", list(report.failures)
        why = (
            f"no CPython {options.python_version} on this machine to import with"
            if python is None
            else f"this {sys.platform} {_machine()} machine cannot load {options.arch} Linux code"
        )
        natives = (
            f"{report.native_files} native file{'s' * (report.native_files != 1)}, each for {machine}"
            if report.native_files
            else "no native files"
        )
        ran = f"{why}: every import resolved in the artifact; {natives}"
    if failures:
        listing = "\n  ".join(f"{module}: {message}" for module, message in failures)
        raise PackagingError(f"handler does not import in the artifact ({kind}):\n  {listing}")
    return kind, ran


# ------------------------------------------------------------------------------------------ cold import
_TIME_IMPORT = r"""
import sys, time
sys.path[:0] = sys.argv[1:3]
import boto3, botocore.session  # the runtime's own, imported before the handler in Lambda too
started = time.process_time()  # CPU time: what the import costs, not what other processes on the machine cost
import gcevents.entrypoints.lambda_handler, gcevents.entrypoints.runtime
import gcevents.adapters.dynamodb, gcevents.adapters.sqs, gcevents.adapters.genesys
for name in sys.argv[3:]:
    __import__(name)
print(time.process_time() - started)
"""


def measure_cold_import(
    python: str, site: Path, modules: Sequence[str] = (), *, runs: int = 9, with_pyc: bool = True
) -> float:
    """Median CPU seconds to import the handler's cold-start modules in a fresh `python -I -S -B`, with the
    artifact's pycs or without them (a copy without `__pycache__`; -B keeps Python from writing any, as Lambda's
    read-only code directory does). boto3 is imported before the clock starts: the runtime provides it."""
    with contextlib.ExitStack() as stack:
        provided = stack.enter_context(runtime_provided_path())
        runtime_copy = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gcevents-runtime-copy-")))
        # boto3 and botocore compiled for `python` once (the Lambda runtime ships them compiled), so their
        # compilation is not counted in either measurement.
        for link in provided.iterdir():
            target = runtime_copy / link.name
            if link.resolve().is_dir():
                shutil.copytree(link.resolve(), target, ignore=_COPY_IGNORE)
            else:
                shutil.copy2(link.resolve(), target)
        byte_compile(python, runtime_copy, "/var/runtime")
        if not with_pyc:
            bare = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="gcevents-nopyc-")))
            shutil.copytree(site, bare / "site", ignore=_COPY_IGNORE)
            site = bare / "site"
        samples = []
        for _ in range(runs):
            result = subprocess.run(
                [python, "-I", "-S", "-B", "-c", _TIME_IMPORT, str(site), str(runtime_copy), *modules],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            if result.returncode != 0:
                raise PackagingError(f"cold import failed:\n{result.stderr[-2000:]}", result.stderr)
            samples.append(float(result.stdout.strip().splitlines()[-1]))
        samples.sort()
        return samples[len(samples) // 2]


def size_text(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MB ({n} bytes)"
