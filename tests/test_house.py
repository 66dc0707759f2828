"""House rules that code review alone lets slip."""

from __future__ import annotations

import subprocess
import sys


def test_the_lambda_path_imports_neither_the_test_kit_nor_boto3() -> None:
    code = (
        "import sys, gcevents.entrypoints.lambda_handler;"
        "print(','.join(sorted(m for m in sys.modules if m.startswith(('gcevents.testing', 'boto3', 'moto')))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == ""
