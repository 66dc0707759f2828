"""Shared fixtures: a real moto HTTP server on 127.0.0.1 (boto3 talks to it over HTTP, as it would to AWS)."""

from __future__ import annotations

import importlib
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

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


def _atomic_dynamodb(app: Any) -> Any:
    """moto's server is threaded but its DynamoDB backend takes no locks, so two concurrent conditional
    writes to one item can both succeed. Real DynamoDB applies each conditional write atomically; serialising
    DynamoDB requests restores that, so concurrency tests check our algorithm and not the emulator's races.
    Other services are left concurrent (SQS long polls must not block everyone else)."""
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    class AtomicMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            app = _atomic_dynamodb(DomainDispatcherApplication(create_backend_app))
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    server = AtomicMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
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
