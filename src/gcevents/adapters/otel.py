"""Spans through the OpenTelemetry API (`opentelemetry-api`, a runtime dependency; no SDK).

Without an SDK the API is a no-op: spans cost a few attribute lookups. With one configured in the process (the
ADOT Lambda layer's `AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument`, or an application's own `TracerProvider`) the
spans go wherever it exports: X-Ray through the ADOT collector, or any OTLP backend. The tracer is a proxy until a
provider is set, so an SDK configured after gcevents was built still receives them.

A step that raises ends its span with status ERROR and the exception recorded (OpenTelemetry's default)."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from opentelemetry import trace

from gcevents._version import __version__
from gcevents.ports import AttributeValue, Span

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer as OtelApiTracer

SCOPE = "gcevents"  # the instrumentation scope: filter on it in a backend


class OtelTracer:
    def __init__(self, tracer: OtelApiTracer | None = None) -> None:
        self._tracer = tracer or trace.get_tracer(SCOPE, __version__)

    def span(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> AbstractContextManager[Span]:
        return self._tracer.start_as_current_span(name, attributes=attributes)
