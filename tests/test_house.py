"""House rules that code review alone lets slip: short functions, and a Lambda path free of the test kit."""

from __future__ import annotations

import ast
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "gcevents"
MAX_FUNCTION_LINES = 60
# Data tables may be long: a function that mostly builds one literal reads best in one piece.
DATA_TABLES = {"testing/genesys/data.py::analytics_conversation"}


def test_no_function_in_src_is_longer_than_sixty_lines() -> None:
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                name = f"{path.relative_to(SRC).as_posix()}::{node.name}"
                if lines > MAX_FUNCTION_LINES and name not in DATA_TABLES:
                    long.append(f"{name} ({lines} lines)")
    assert long == []


def test_the_lambda_path_imports_neither_the_test_kit_nor_boto3() -> None:
    code = (
        "import sys, gcevents.entrypoints.lambda_handler;"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(('gcevents.testing', 'boto3', 'moto')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""


def _comments(path: Path) -> Iterator[tuple[int, str]]:
    with path.open("rb") as source:
        for token in tokenize.tokenize(source.readline):
            if token.type == tokenize.COMMENT:
                yield token.start[0], token.string


def test_the_formatter_decides_the_layout() -> None:
    """No line opts out of `ruff format`; a data table it would make unreadable may keep one `# fmt: off` block."""
    root = SRC.parent.parent
    skipped, blocks = [], []
    for path in sorted([*SRC.rglob("*.py"), *(root / "tests").rglob("*.py"), *(root / "bench").rglob("*.py")]):
        name = path.relative_to(root).as_posix()
        comments = list(_comments(path))
        skipped += [f"{name}:{line}" for line, text in comments if text == "# fmt: skip"]
        if sum(text == "# fmt: off" for _, text in comments) > 1:
            blocks.append(name)
    assert (skipped, blocks) == ([], [])
