"""Structured JSON logs and CloudWatch Embedded Metric Format (EMF) metrics, without a framework.

EMF is a JSON document on stdout that CloudWatch turns into metrics: no API calls, no extra latency."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

from gcevents.core.pipeline import BatchReport, Outcome

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; `extra={...}` fields become top-level keys (e.g. conversationId)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "INFO", stream: IO[str] | None = None, *, replace_handlers: bool = False) -> None:
    """JSON lines on stderr. `replace_handlers` is for Lambda, whose runtime installs a plain-text handler
    of its own; elsewhere existing handlers (a test runner's capture, an app's own) are left alone."""
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return  # warm Lambda container: configured already
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
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
