"""Shared fixtures: a real moto HTTP server on 127.0.0.1 (boto3 talks to it over HTTP, as it would to AWS)."""

from __future__ import annotations

import importlib
import logging
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from gcevents.testing.moto import ServerThread

# Timing is not behaviour: on a busy 2-core CI machine (or the first run of a fresh venv, which compiles
# every module it imports) a draw can take a second, and hypothesis would fail the test for it.
settings.register_profile("gcevents", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("gcevents")

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `bench` (used by its smoke test) is a top-level package next to `src`
    sys.path.insert(0, str(ROOT))

# Never let a test reach real AWS or pick up a developer's credentials.
os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_REGION": "us-east-1",
    }
)
os.environ.pop("AWS_PROFILE", None)


# Tests that need a server (moto over HTTP, the Genesys simulator) form the slow tier; `pytest -m "not slow"`
# is the fast unit tier. `make test` runs both.
# The Genesys `simulator` / `make_simulator` fixtures (tests/genesys) serve in-process on a fake clock; the tests
# that ask them for real HTTP are marked slow there (genesys_kit.BOTH_TRANSPORTS / REAL_HTTP).
SERVER_FIXTURES = frozenset({"moto_endpoint", "aws", "boto_client"})
SERVER_PARAMS = frozenset({"dynamodb", "sqs"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        uses_server = SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses_server or any(isinstance(v, str) and v in SERVER_PARAMS for v in params.values()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _restore_root_logging() -> Iterator[None]:
    """Entry points run in-process (`cli.main`) add a JSON handler on the sys.stderr of that moment, which is a
    test's capture stream; once that stream closes, every later log record would print a 'Logging error'."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ServerThread()  # DynamoDB and SQS requests serialised (moto takes no locks); SQS long polls outside
    try:
        yield server.endpoint
    finally:
        server.stop()


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point every boto3 client created in the test at the moto server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def boto_client(aws: str) -> Any:
    import boto3

    def make(service: str) -> Any:
        return boto3.client(service, endpoint_url=aws, region_name="us-east-1")

    return make


@pytest.fixture
def unique_name() -> str:
    return "t" + uuid.uuid4().hex[:12]


@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """tests/fixtures/lambda_app.py, the handler module loaded via GCEVENTS_HANDLERS, reset around each test."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent))
    module = importlib.import_module("tests.fixtures.lambda_app")
    module.reset()
    yield module
    module.reset()
