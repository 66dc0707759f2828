"""The boto3 client types (boto3-stubs, a dev dependency) are for mypy only: nothing imports them at run time,
so the Lambda artifact, which does not ship them, imports the same way."""

from __future__ import annotations

import subprocess
import sys

MODULES = [
    "gcevents.adapters.aws",
    "gcevents.adapters.dynamodb",
    "gcevents.adapters.dynamodb.batch",
    "gcevents.adapters.sqs.common",
    "gcevents.adapters.sqs.dead_letters",
    "gcevents.adapters.sqs.requeuer",
    "gcevents.adapters.sqs.source",
    "gcevents.adapters.genesys.auth",
    "gcevents.entrypoints.lambda_handler",
]


def test_no_stub_package_is_imported_at_run_time() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {MODULES!r}: importlib.import_module(name)\n"
        "from gcevents.adapters.aws import make_client\n"
        "make_client('dynamodb', region_name='us-east-1')\n"
        "print(sorted(m for m in sys.modules if m.startswith(('mypy_boto3', 'botocore_stubs', 'boto3_stubs'))))\n"
    )
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.strip() == "[]"
