"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF) metrics, without a framework.

Log lines have the shape of Lambda's own JSON log format and of Powertools Logger (`timestamp` in ISO-8601 with
milliseconds, `level`, `message`, `service`, `location`, `cold_start`, `function_request_id`, `xray_trace_id`, ...),
so a function whose handlers use Powertools Logger writes one shape into its log group (docs/operations.md#logs).
The invocation's fields are bound once per invocation (`invocation_context`) and a conversation's fields for the
time its handlers run (`log_context`): every line in between carries them without being passed them.

EMF is a JSON document on stdout that CloudWatch turns into metrics: no API calls, no extra latency."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import IO, Any

from gcevents.core.pipeline import BatchReport, Outcome
from gcevents.logcontext import bound_fields, invocation_context, log_context

__all__ = ["JsonFormatter", "MetricsEmitter", "configure_logging", "invocation_context", "log_context"]

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line in Lambda's and Powertools' shape; `extra={...}` fields become top-level keys."""

    def __init__(self, service: str = "gcevents") -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": iso_timestamp(record.created),
            "level": record.levelname,
            "message": record.getMessage(),
            "service": self.service,
            "location": f"{record.funcName}:{record.lineno}",
            "logger": record.name,
            **bound_fields(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def iso_timestamp(epoch: float) -> str:
    """`2026-12-07T15:55:00.123Z`, the timestamp of Lambda's JSON log format."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def lambda_fields(context: Any, trace_header: str | None, *, cold_start: bool) -> dict[str, Any]:
    """Powertools Logger's names for the Lambda context; `xray_trace_id` is the `Root` of `_X_AMZN_TRACE_ID`."""
    root = next((p[5:] for p in (trace_header or "").split(";") if p.startswith("Root=")), None)
    return {
        "cold_start": cold_start,
        "function_name": getattr(context, "function_name", None),
        "function_memory_size": getattr(context, "memory_limit_in_mb", None),
        "function_arn": getattr(context, "invoked_function_arn", None),
        "function_request_id": getattr(context, "aws_request_id", None),
        "xray_trace_id": root,
    }


def configure_logging(
    level: str = "INFO", stream: IO[str] | None = None, *, replace_handlers: bool = False, service: str = "gcevents"
) -> None:
    """JSON lines on stderr. `replace_handlers` is for Lambda, whose runtime installs a handler of its own (plain
    text, or its JSON with `LogFormat: JSON`); elsewhere existing handlers (a test runner's capture, an app's own)
    are left alone."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return  # warm Lambda container: configured already
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    if replace_handlers:
        for existing in list(root.handlers):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs every request URL at INFO; bulk URLs carry up to 100 conversation ids per line.
    for noisy in ("httpx", "httpcore", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def emf_document(
    namespace: str,
    metrics: Mapping[str, tuple[float, str]],
    dimensions: Mapping[str, str],
    properties: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """metrics: name -> (value, unit). Dimensions are kept low-cardinality on purpose (cost)."""
    document: dict[str, Any] = {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()],
                }
            ],
        },
        **dimensions,
        **{name: value for name, (value, _) in metrics.items()},
    }
    if properties:
        document.update({k: v for k, v in properties.items() if k not in document})
    return document


def batch_metrics(report: BatchReport, extra: Mapping[str, float] | None = None) -> dict[str, tuple[float, str]]:
    counts = report.counts()
    metrics: dict[str, tuple[float, str]] = {
        "EventsIn": (len(report.results), "Count"),
        "EventsProcessed": (counts.get(Outcome.PROCESSED.value, 0), "Count"),
        "DuplicatesSkipped": (counts.get(Outcome.DUPLICATE.value, 0), "Count"),
        "DeadLettered": (counts.get(Outcome.DEAD_LETTERED.value, 0), "Count"),
        "Retried": (counts.get(Outcome.RETRY.value, 0), "Count"),
        "BatchDuration": (round((report.finished - report.started) * 1000, 3), "Milliseconds"),
    }
    lags = [
        report.finished - r.event.event_time.timestamp()
        for r in report.results
        if r.event is not None and r.outcome is Outcome.PROCESSED
    ]
    if lags:
        metrics["EndToEndLagMax"] = (round(max(lags) * 1000, 1), "Milliseconds")
    for reason, count in report.dead_letter_reasons().items():
        metrics[f"DeadLettered.{reason}"] = (count, "Count")
    for name, value in (extra or {}).items():
        metrics[name] = (value, unit_of(name))
    return metrics


def unit_of(counter: str) -> str:
    """The CloudWatch unit of a runtime counter, from its name's suffix (`Api.rate_limit_wait_seconds`)."""
    if counter.endswith(("_seconds", "Seconds")):
        return "Seconds"
    if counter.endswith(("_ms", "Milliseconds")):
        return "Milliseconds"
    if counter.endswith(("_bytes", "Bytes")):
        return "Bytes"
    return "Count"


class MetricsEmitter:
    """One per container. Its first batch also carries `ColdStart` = 1 (Count): the container was new."""

    def __init__(self, namespace: str = "gcevents", service: str = "gcevents", stream: IO[str] | None = None) -> None:
        self.namespace = namespace
        self.service = service
        self.stream = stream
        self._cold = True

    def emit_batch(self, report: BatchReport, extra: Mapping[str, float] | None = None) -> dict[str, Any]:
        metrics = batch_metrics(report, extra)
        if self._cold:
            metrics["ColdStart"] = (1, "Count")
            self._cold = False
        document = emf_document(
            self.namespace,
            metrics,
            {"service": self.service},
            {"summary": report.summary()},
        )
        stream = self.stream or sys.stdout
        stream.write(json.dumps(document, default=str) + "\n")
        stream.flush()
        return document

    def emit_metrics(
        self, metrics: Mapping[str, tuple[float, str]], properties: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Any other set of metrics (name -> (value, unit)), e.g. a scheduled reconcile run's."""
        document = emf_document(self.namespace, metrics, {"service": self.service}, properties)
        stream = self.stream or sys.stdout
        stream.write(json.dumps(document, default=str) + "\n")
        stream.flush()
        return document
