"""X-Ray subsegments for the pipeline's steps, sent to the Lambda X-Ray daemon without the X-Ray SDK.

Why not the SDK: `import aws_xray_sdk.core` took 360-690 ms here (it patches libraries and pulls in wrapt),
more than our whole cold import, and it is not in the Lambda runtime, so every artifact would carry it. What
gcevents needs is four subsegments per batch, and the daemon's protocol for that is documented and small: one
UDP datagram per (sub)segment, `{"format": "json", "version": 1}` + newline + the segment document, sent to
`AWS_XRAY_DAEMON_ADDRESS`. With `Tracing: Active`, Lambda creates the function's segment itself and passes its
trace id and segment id in `_X_AMZN_TRACE_ID` (`Root=...;Parent=...;Sampled=1`) for each invocation; the
subsegments below name that segment as their parent. Sending is fire-and-forget: a lost datagram loses a span,
never an event, and a send error is swallowed.

Stdlib only, imported by the runtime only when GCEVENTS_TRACING=xray. Kept until the X-Ray SDKs' and daemon's end
of support (2027-02-25; in maintenance since 2026-02-25): OpenTelemetry (`adapters/otel.py`, the default) is the
way on, and this module goes with that date. A span's attributes become X-Ray annotations."""

from __future__ import annotations

import json
import logging
import re
import secrets
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager

from gcevents.ports import AttributeValue, Span

log = logging.getLogger(__name__)

_HEADER = b'{"format": "json", "version": 1}\n'
DEFAULT_DAEMON = "127.0.0.1:2000"


def parse_trace_header(header: str | None) -> dict[str, str]:
    """`Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1` -> its fields."""
    fields: dict[str, str] = {}
    for part in (header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key:
            fields[key] = value
    return fields


def _address(text: str) -> tuple[str, int]:
    """`AWS_XRAY_DAEMON_ADDRESS` is `host:port`, or `tcp:host:port udp:host:port` (we want the UDP one)."""
    for part in text.split():
        if part.startswith("udp:"):
            text = part[4:]
            break
    host, _, port = text.rpartition(":")
    return host or "127.0.0.1", int(port or 2000)


class _Subsegment:
    """Annotations (X-Ray's indexed key-values: letters, digits and underscores only) of one subsegment."""

    def __init__(self, attributes: Mapping[str, AttributeValue] | None) -> None:
        self.annotations: dict[str, AttributeValue] = {}
        for key, value in (attributes or {}).items():
            self.set_attribute(key, value)

    def set_attribute(self, key: str, value: AttributeValue) -> None:
        self.annotations[re.sub(r"\W", "_", key)] = value


class XRayTracer:
    """`span(name)` sends a subsegment of the invocation's segment when the invocation is sampled."""

    def __init__(
        self,
        daemon_address: str = DEFAULT_DAEMON,
        *,
        trace_header: Callable[[], str | None],
        send: Callable[[bytes], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`trace_header` returns the current invocation's `_X_AMZN_TRACE_ID` (`gcevents.config` reads it)."""
        self._target = _address(daemon_address or DEFAULT_DAEMON)
        self._trace_header = trace_header
        self._clock = clock
        self._socket: socket.socket | None = None
        self._send = send or self._send_udp

    def span(self, name: str, attributes: Mapping[str, AttributeValue] | None = None) -> AbstractContextManager[Span]:
        return self._span(name, _Subsegment(attributes))

    @contextmanager
    def _span(self, name: str, subsegment: _Subsegment) -> Iterator[Span]:
        fields = parse_trace_header(self._trace_header())
        if fields.get("Sampled") != "1" or not fields.get("Root") or not fields.get("Parent"):
            yield subsegment  # not sampled (or not in a traced invocation): nothing to send
            return
        started = self._clock()
        error: BaseException | None = None
        try:
            yield subsegment
        except BaseException as exc:
            error = exc
            raise
        finally:
            document: dict[str, object] = {
                "name": name,
                "id": secrets.token_hex(8),
                "trace_id": fields["Root"],
                "parent_id": fields["Parent"],
                "type": "subsegment",
                "start_time": started,
                "end_time": self._clock(),
                "namespace": "local",
            }
            if subsegment.annotations:
                document["annotations"] = subsegment.annotations
            if error is not None:
                document["fault"] = True
                document["cause"] = {"exceptions": [{"type": type(error).__name__, "message": str(error)[:200]}]}
            self._emit(document)

    def _emit(self, document: dict[str, object]) -> None:
        try:
            self._send(_HEADER + json.dumps(document, separators=(",", ":")).encode())
        except OSError as exc:  # tracing must never fail a batch
            log.debug("x-ray subsegment not sent", extra={"error": repr(exc)})

    def _send_udp(self, datagram: bytes) -> None:
        if self._socket is None:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.sendto(datagram, self._target)
