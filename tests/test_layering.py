"""The layering docs/architecture.md promises, as a test over every import in src/ (module level, under
`TYPE_CHECKING` and inside functions alike): each layer imports only itself and the layers below it, the core
imports nothing outside the standard library, production code imports nothing from the test kit but the commands
that run the simulators, and no group of modules imports itself round."""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src" / "gcevents"

# Lowest first. A module belongs to the first layer one of whose prefixes it starts with.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "base",
        (
            "gcevents._version",
            "gcevents.errors",
            "gcevents.text",
            "gcevents.retry",
            "gcevents.fanout",
            "gcevents.progress",
            "gcevents.addresses",
            "gcevents.logcontext",
            "gcevents.secret",
            "gcevents.schemas",
            "gcevents.variables",
            "gcevents._variables",  # the deprecated alias of gcevents.variables
        ),
    ),
    ("core", ("gcevents.core", "gcevents.ports")),
    ("adapters", ("gcevents.adapters",)),
    ("wiring", ("gcevents.config", "gcevents.observability")),
    ("ops", ("gcevents.ops",)),
    ("entrypoints", ("gcevents.entrypoints",)),
    ("facade", ("gcevents",)),  # the package itself: lazy re-exports of the public API
    ("testing", ("gcevents.testing",)),
)
# Production modules that may import the test kit: the commands that run the simulators, and their sample data.
KIT_USERS = {
    "gcevents.entrypoints.demo",
    "gcevents.entrypoints.cli.simulate",
    "gcevents.entrypoints.cli.sinks",  # `sinks test`: a sample conversation from the workload
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py")}


def _imported(module: str, path: Path) -> Iterator[str]:
    """Every name an import statement of the module reaches: gcevents modules, and other top-level packages."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            for alias in node.names:  # `from gcevents import variables` imports that module, not the facade
                yield f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules() else base


@cache
def graph() -> dict[str, frozenset[str]]:
    edges: dict[str, frozenset[str]] = {}
    for module, path in modules().items():
        edges[module] = frozenset(_owner(name) for name in _imported(module, path) if _owner(name) not in ("", module))
    return edges


def _owner(name: str) -> str:
    """The gcevents module a dotted import name lands in ('' for anything else)."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name if name.startswith("gcevents") else ""


def layer(module: str) -> int:
    for rank, (_name, prefixes) in sorted(enumerate(LAYERS), key=lambda r: -max(len(p) for p in r[1][1])):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def test_every_module_is_in_a_layer() -> None:
    for module in modules():
        layer(module)


def test_no_layer_imports_a_layer_above_it() -> None:
    upward = [
        f"{a} ({LAYERS[layer(a)][0]}) -> {b} ({LAYERS[layer(b)][0]})"
        for a, targets in sorted(graph().items())
        for b in sorted(targets)
        if layer(b) > layer(a) and not (a in KIT_USERS and b.startswith("gcevents.testing"))
    ]
    assert upward == []


def test_production_code_imports_the_test_kit_only_to_run_the_simulators() -> None:
    users = {
        a
        for a, targets in graph().items()
        if not a.startswith("gcevents.testing") and any(b.startswith("gcevents.testing") for b in targets)
    }
    assert users <= KIT_USERS


def test_the_core_imports_only_the_standard_library_and_the_base() -> None:
    foreign = []
    for module, path in modules().items():
        if LAYERS[layer(module)][0] != "core":
            continue
        for name in _imported(module, path):
            top = name.partition(".")[0]
            if top and top != "gcevents" and top not in sys.stdlib_module_names and top != "__future__":
                foreign.append(f"{module} -> {name}")
    assert foreign == []


def cycles(edges: dict[str, frozenset[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_a_cycle_through_three_modules() -> None:
    edges = {"a": frozenset({"b"}), "b": frozenset({"c"}), "c": frozenset({"a"}), "d": frozenset({"a"})}
    assert cycles(edges) == [["a", "b", "c"]]


@pytest.mark.parametrize(
    ("importer", "imported"),
    [("gcevents.core.pipeline", "gcevents.adapters.sqlite"), ("gcevents.adapters.aws", "gcevents.entrypoints.worker")],
)
def test_an_upward_import_is_ranked_upward(importer: str, imported: str) -> None:
    assert layer(imported) > layer(importer)
