"""Log lines in Lambda's and Powertools' JSON shape: every line of an invocation carries its request id, a handler's
lines their conversation, and the level follows Lambda's `AWS_LAMBDA_LOG_LEVEL` first."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

from factories import ALLOWED_PREFIX, make_event, sqs_batch
from gcevents.config import Config
from gcevents.core.events import GenesysEvent
from gcevents.core.router import HandlerContext, Router
from gcevents.entrypoints import lambda_handler
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.errors import ConfigError
from gcevents.observability import JsonFormatter

TRACE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def lambda_context(request_id: str) -> Any:
    return SimpleNamespace(
        get_remaining_time_in_millis=lambda: 60_000,
        aws_request_id=request_id,
        function_name="gcevents-fn",
        memory_limit_in_mb=512,
        invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:gcevents-fn",
    )


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """The root logger's JSON lines, at DEBUG, as Lambda's log group would get them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("orders"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def parsed(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def chatty_router() -> Router:
    """A user's handler that logs and fails for one conversation: lines from the handler threads and the pipeline."""
    router = Router()
    user_log = logging.getLogger("crm")

    @router.on("v2.detail.events.conversation.{id}.*")
    def handle(event: GenesysEvent, context: HandlerContext) -> None:
        user_log.info("pushing to the CRM")
        if event.conversation_id == "c-bad":
            raise RuntimeError("CRM said no")

    return router


def test_every_line_of_an_invocation_carries_its_request_id(
    lines: io.StringIO, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    lambda_handler.reset_runtime()  # a new container: its first invocation is the cold one
    config = Config.from_env({"GCEVENTS_DB": str(tmp_path / "g.db"), "GCEVENTS_ALLOWED_SOURCES": ALLOWED_PREFIX})
    runtime = build_runtime(config, router=chatty_router())
    events = [make_event("customer.end", f"c-{i}") for i in range(4)] + [make_event("customer.end", "c-bad")]
    process_invocation(runtime, sqs_batch([*events, "{bad json"]), lambda_context("req-1"))
    process_invocation(runtime, sqs_batch([make_event("customer.end", "c-9")]), lambda_context("req-2"))
    logging.getLogger("gcevents").info("between invocations")

    entries = parsed(lines)
    first = [e for e in entries if e.get("function_request_id") == "req-1"]
    second = [e for e in entries if e.get("function_request_id") == "req-2"]
    assert len(first) + len(second) == len(entries) - 1  # all but the line logged outside an invocation
    assert {e["message"] for e in first} >= {"pushing to the CRM", "handler failed", "batch done", "retry"}
    assert {e["cold_start"] for e in first} == {True}
    assert {e["cold_start"] for e in second} == {False}
    assert {e["xray_trace_id"] for e in first} == {"1-5759e988-bd862e3fe1be46a994272793"}
    crm = [e for e in first if e["message"] == "pushing to the CRM"]
    assert sorted(e["conversation_id"] for e in crm) == ["c-0", "c-1", "c-2", "c-3", "c-bad"]
    assert all(e["content_key"] for e in crm)
    for entry in entries:
        assert ISO_MS.match(entry["timestamp"]), entry["timestamp"]
        assert entry["service"] == "orders"
        assert re.match(r"^\w+:\d+$", entry["location"])
    assert "function_request_id" not in entries[-1]


@pytest.mark.parametrize(
    ("env", "level"),
    [
        ({"AWS_LAMBDA_LOG_LEVEL": "DEBUG", "POWERTOOLS_LOG_LEVEL": "ERROR", "GCEVENTS_LOG_LEVEL": "ERROR"}, "DEBUG"),
        ({"AWS_LAMBDA_LOG_LEVEL": "TRACE"}, "DEBUG"),
        ({"AWS_LAMBDA_LOG_LEVEL": "WARN"}, "WARNING"),
        ({"POWERTOOLS_LOG_LEVEL": "debug", "GCEVENTS_LOG_LEVEL": "ERROR", "LOG_LEVEL": "ERROR"}, "DEBUG"),
        ({"GCEVENTS_LOG_LEVEL": "ERROR", "LOG_LEVEL": "DEBUG"}, "ERROR"),
        ({"LOG_LEVEL": "DEBUG"}, "DEBUG"),
        ({}, "INFO"),
    ],
)
def test_the_level_comes_from_lambda_then_powertools_then_ours(env: dict[str, str], level: str) -> None:
    assert Config.from_env(env).log_level == level


def test_a_level_nobody_knows_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match="AWS_LAMBDA_LOG_LEVEL"):
        Config.from_env({"AWS_LAMBDA_LOG_LEVEL": "LOUD"})


def test_aws_lambda_log_level_debug_turns_debug_on_in_the_handler(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("GCEVENTS_IDEMPOTENCY_STORE", "GCEVENTS_DLQ", "GCEVENTS_STATE_STORE", "GCEVENTS_HANDLERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GCEVENTS_DB", str(tmp_path / "g.db"))
    monkeypatch.setenv("AWS_LAMBDA_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("GCEVENTS_LOG_LEVEL", "WARNING")
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    lambda_handler.reset_runtime()
    try:
        lambda_handler.get_runtime()
        assert root.level == logging.DEBUG
        assert any(isinstance(h.formatter, JsonFormatter) for h in root.handlers)
    finally:
        lambda_handler.reset_runtime()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_a_powertools_logger_in_the_same_function_writes_the_same_shape(
    lines: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/operations.md#logs: `Logger(service=..., use_rfc3339=True)` beside gcevents gives one shape."""
    from aws_lambda_powertools import Logger

    monkeypatch.setenv("_X_AMZN_TRACE_ID", TRACE)
    powertools_stream = io.StringIO()
    logger = Logger(service="orders", use_rfc3339=True, logger_handler=logging.StreamHandler(powertools_stream))

    @logger.inject_lambda_context
    def user_handler(event: Any, context: Any) -> None:
        logger.info("from powertools")

    user_handler({}, lambda_context("req-7"))
    config = Config.from_env({"GCEVENTS_DB": ":memory:", "GCEVENTS_IDEMPOTENCY_STORE": "memory"})
    process_invocation(build_runtime(config, router=chatty_router()), sqs_batch([]), lambda_context("req-7"))

    theirs = json.loads(powertools_stream.getvalue().splitlines()[0])
    ours = parsed(lines)[0]
    missing = set(theirs) - set(ours) - {"sampling_rate"}
    assert not missing, f"Powertools keys gcevents lines lack: {missing}"
    for key in ("service", "function_request_id", "xray_trace_id", "function_name", "function_arn"):
        assert ours[key] == theirs[key], key
