"""The artifact's check when this machine cannot load what it holds (another architecture, not Linux, or no
CPython of the runtime's version): nothing is imported, the files are read.

- Every native file (`.so`) is an ELF shared object for the target machine, and an extension module tagged
  for a CPython version (`.cpython-312-...`) is tagged for the runtime's.
- Every module a handler imports, at module level or inside a function, is in the artifact, in the standard
  library, or provided by the Lambda runtime (boto3 and its dependencies); the handler's own modules are
  followed to what they import in turn. An import guarded by `try: ... except ImportError` or
  `if TYPE_CHECKING:` is optional and not required.
- A `module:attr` spec names something the module defines at its top level.

Weaker than importing (module-level code does not run), so the command says which check ran.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# ELF e_machine values (the System V ABI supplements): what each Lambda architecture loads.
ELF_MACHINES = {"aarch64": 183, "x86_64": 62}
_ELF_MACHINE_NAMES = {number: name for name, number in ELF_MACHINES.items()}
_VERSION_TAG = re.compile(r"\.cpython-(\d)(\d+)[-.]")
_NATIVE_SUFFIXES = (".so", ".pyd", ".dylib")
_OPTIONAL_IMPORT_ERRORS = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True, slots=True)
class StaticReport:
    failures: tuple[tuple[str, str], ...]  # (module, spec or native file; what is wrong)
    native_files: int  # native files checked for the target machine


def check(
    site: Path,
    modules: Sequence[str],
    *,
    machine: str,
    python_version: str,
    provided: Iterable[str],
    trusted: Iterable[str] = ("gcevents",),
) -> StaticReport:
    """`modules`: module names or `module:attr` specs. `machine`: aarch64 or x86_64. `provided`: top-level
    module names the runtime provides. `trusted`: top-level packages that must be there but are not read
    (gcevents: copied by `gcevents package` itself, with lazy imports of what only development uses)."""
    failures = list(native_failures(site, machine, python_version))
    native = sum(1 for _ in native_files(site))
    known = frozenset(sys.stdlib_module_names) | {name.removesuffix(".py") for name in provided}
    checker = _ImportChecker(site, known, frozenset(trusted))
    for entry in modules:
        module, _, attr = entry.partition(":")
        failures += [(entry, message) for message in checker.check(module)]
        if attr and checker.resolve(module) is not None and not _defines(checker.resolve(module), attr):
            failures.append((entry, f"{module} defines no top-level {attr!r}"))
    return StaticReport(tuple(failures), native)


# ------------------------------------------------------------------------------------------- native files
def native_files(site: Path) -> Iterable[Path]:
    for path in sorted(site.rglob("*")):
        if path.is_file() and (path.suffix in _NATIVE_SUFFIXES or ".so." in path.name):
            yield path


def native_failures(site: Path, machine: str, python_version: str) -> Iterable[tuple[str, str]]:
    wanted = ELF_MACHINES[machine]
    major, minor = python_version.split(".")
    for path in native_files(site):
        relative = path.relative_to(site).as_posix()
        found = _elf_machine(path)
        if found is None:
            yield relative, f"not a Linux ELF shared object (the target is {machine} Linux)"
        elif found != wanted:
            yield relative, f"built for {_ELF_MACHINE_NAMES.get(found, f'ELF machine {found}')}, not {machine}"
        tag = _VERSION_TAG.search(path.name)
        if tag and (tag.group(1), tag.group(2)) != (major, minor):
            yield relative, f"an extension for CPython {tag.group(1)}.{tag.group(2)}, not {python_version}"


def _elf_machine(path: Path) -> int | None:
    """e_machine of a 64-bit little-endian ELF file (both Lambda architectures), None for anything else."""
    with path.open("rb") as file:
        header = file.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
        return None
    return int.from_bytes(header[18:20], "little")


# ------------------------------------------------------------------------------------------------ imports
class _ImportChecker:
    def __init__(self, site: Path, known: frozenset[str], trusted: frozenset[str]) -> None:
        self.site = site
        self.trusted = trusted
        self.known = known  # top-level names present without the artifact: stdlib, the runtime's boto3
        self.seen: set[str] = set()

    def resolve(self, module: str) -> Path | None:
        """The file (or namespace directory) `module` is imported from in the artifact."""
        if module.startswith("."):
            return None  # a relative import beyond the top-level package
        base = self.site.joinpath(*module.split("."))
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
        extensions = [*base.parent.glob(f"{base.name}.*.so"), base.parent / f"{base.name}.so"]
        native = next((path for path in extensions if path.is_file()), None)
        return native or (base if base.is_dir() else None)

    def available(self, module: str) -> bool:
        return module.split(".")[0] in self.known or self.resolve(module) is not None

    def check(self, module: str) -> list[str]:
        """What `module` (one of the handlers') imports that the artifact lacks; its own package followed."""
        if module in self.seen:
            return []
        self.seen.add(module)
        path = self.resolve(module)
        if path is None:
            return [f"No module named {module!r} in the artifact"]
        if path.suffix != ".py" or module.split(".")[0] in self.trusted:
            return []
        own = module.split(".")[0]
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except SyntaxError as exc:
            return [f"SyntaxError: {exc.msg} ({path.name}, line {exc.lineno})"]
        problems: list[str] = []
        for imported, required in _imports(tree, package):
            if imported.startswith("."):
                if required:
                    problems.append(
                        f"from {imported} import: a relative import beyond the top-level package ({module})"
                    )
            elif not self.available(imported):
                if required:
                    problems.append(f"No module named {imported!r} in the artifact (imported by {module})")
            elif imported.split(".")[0] == own:
                problems += self.check(imported)
        return problems


def _imports(tree: ast.Module, package: str) -> list[tuple[str, bool]]:
    """(absolute module name, required) for what `tree` imports outside `try/except ImportError` and
    `if TYPE_CHECKING`. `from a import b` gives `a` (required) and `a.b` (not: b may be a name defined in a)."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            for child in (*node.handlers, *node.orelse, *node.finalbody):
                visit(child)
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.extend((alias.name, True) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node.module, node.level, package)
            found.append((base, True))
            found.extend((f"{base}.{alias.name}", False) for alias in node.names if alias.name != "*")
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return [(name, required) for name, required in dict.fromkeys(found) if name]


def _absolute(module: str | None, level: int, package: str) -> str:
    """The absolute name of `from <level dots><module> import ...` in `package`; beyond the top-level package
    (an ImportError in Python) it stays relative, which never resolves."""
    if not level:
        return module or ""
    parts = package.split(".") if package else []
    if level > len(parts):
        return "." * level + (module or "")
    return ".".join([*parts[: len(parts) - level + 1], *([module] if module else [])])


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in _OPTIONAL_IMPORT_ERRORS for n in names)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _defines(path: Path | None, name: str) -> bool:
    """Whether the module binds `name` at its top level (or may: a star import, a module `__getattr__`)."""
    if path is None or path.suffix != ".py":
        return True  # a native module or a namespace package: not readable here
    tree = ast.parse(path.read_bytes())
    for node in tree.body:
        bound: list[str] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound = [node.name]
        elif isinstance(node, ast.Assign):
            bound = [n.id for target in node.targets for n in ast.walk(target) if isinstance(n, ast.Name)]
        elif isinstance(node, ast.AnnAssign | ast.AugAssign) and isinstance(node.target, ast.Name):
            bound = [node.target.id]
        elif isinstance(node, ast.Import | ast.ImportFrom):
            if any(alias.name == "*" for alias in node.names):
                return True
            bound = [(alias.asname or alias.name).split(".")[0] for alias in node.names]
        if name in bound or "__getattr__" in bound:
            return True
    return False
