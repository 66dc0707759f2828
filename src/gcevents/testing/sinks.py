"""Test kit for outputs: a real webhook receiver on 127.0.0.1 that verifies signatures and counts keys (with
faults on demand), and an in-memory recording sink for unit tests.

    with WebhookReceiver("s3cret") as receiver:
        receiver.fail_next(3, status=503)           # then 200 again
        receiver.fail_next(1, status=429, retry_after=7)
        receiver.fail_next(1, delay=2.0)            # answers 500 after 2 s (a client timeout)
        receiver.down = True                        # every request 503 until set back
        ... GCEVENTS_SINKS=f"webhook:{receiver.url}" ...
        receiver.completed_per_conversation()        # Counter: conversationId -> `completed` accepted

Used by the tests, `gcevents demo` (the derived events it shows) and `gcevents sinks test`."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gcevents.adapters.sinks.signing import HEADER, verify, verify_standard
from gcevents.ports import OutboundRecord


@dataclass(frozen=True, slots=True)
class Received:
    key: str
    type: str
    document: Mapping[str, Any]
    status: int  # what the receiver answered


@dataclass(slots=True)
class _Fault:
    status: int = 500
    retry_after: float | None = None
    delay: float = 0.0
    body: str = '{"error":"injected"}'


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client closing a keep-alive connection is not an error worth a traceback."""
        import sys

        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


@dataclass
class WebhookReceiver:
    """A signed-webhook receiver on 127.0.0.1 (an ephemeral port). Thread-safe counters."""

    secret: str
    host: str = "127.0.0.1"
    port: int = 0
    down: bool = False  # answer every request 503 (an endpoint that is down for a while)
    accepted: list[Received] = field(default_factory=list)  # 2xx with a valid signature: delivered
    requests: int = 0
    bad_signatures: int = 0
    # Deliveries whose X-Gcevents-Signature verified but whose Standard Webhooks signature did not (accepted).
    bad_standard_signatures: int = 0
    _faults: list[_Fault] = field(default_factory=list, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver would

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, headers, text = receiver._answer(body, self.headers.get(HEADER), self.headers)
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(text)))
                    self.end_headers()
                    self.wfile.write(text.encode())
                except OSError:  # the client gave up (timeout fault)
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests and the demo print their own reports."""

        self._server = _QuietServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_port
        self._thread = threading.Thread(target=self._server.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/gcevents"

    def __enter__(self) -> WebhookReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------------------------------- faults
    def fail_next(
        self, count: int = 1, *, status: int = 500, retry_after: float | None = None, delay: float = 0.0, body: str = ""
    ) -> None:
        with self._lock:
            fault = _Fault(status, retry_after, delay, body or '{"error":"injected"}')
            self._faults.extend([fault] * count)

    def _answer(self, body: bytes, signature: str | None, headers: Any) -> tuple[int, dict[str, str], str]:
        with self._lock:
            self.requests += 1
            fault = self._faults.pop(0) if self._faults else None
            if fault is None and self.down:
                fault = _Fault(503)
            if fault is None and not verify(self.secret, body, signature):
                self.bad_signatures += 1
                return 401, {}, '{"error":"bad signature"}'
            if fault is None and not verify_standard(self.secret, body, dict(headers.items())):
                self.bad_standard_signatures += 1
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            extra = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
            return fault.status, extra, fault.body
        document = json.loads(body)
        received = Received(headers.get("Idempotency-Key", ""), headers.get("X-Gcevents-Event-Type", ""), document, 200)
        with self._lock:
            self.accepted.append(received)
        return 200, {}, '{"ok":true}'

    # ------------------------------------------------------------------------------------------- counts
    def snapshot(self) -> list[Received]:
        with self._lock:
            return list(self.accepted)

    def keys(self) -> Counter[str]:
        return Counter(r.key for r in self.snapshot())

    def of_type(self, kind: str) -> list[Received]:
        return [r for r in self.snapshot() if r.type == kind]

    def completed_per_conversation(self) -> Counter[str]:
        return Counter(str(r.document.get("conversationId")) for r in self.of_type("conversation.completed"))


@dataclass
class RecordingSink:
    """An in-memory `Sink`: keeps what it was given; `fail` (record -> error or None) injects failures."""

    sink_name: str = "memory:recording"
    fail: Callable[[OutboundRecord], Exception | None] | None = None
    delivered: list[OutboundRecord] = field(default_factory=list)
    calls: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.sink_name

    def deliver(self, records: Sequence[OutboundRecord], deadline: float) -> Mapping[str, Exception]:
        failures: dict[str, Exception] = {}
        with self._lock:
            self.calls += 1
            for record in records:
                error = self.fail(record) if self.fail is not None else None
                if error is None:
                    self.delivered.append(record)
                else:
                    failures[record.key] = error
        return failures

    def documents(self, kind: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            records = list(self.delivered)
        return [json.loads(r.body) for r in records if kind is None or r.type == kind]
