"""House rules that code review alone lets slip: short functions, and a Lambda path free of the test kit."""

from __future__ import annotations

import ast
import subprocess
import sys
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
