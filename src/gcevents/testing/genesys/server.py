"""The simulated API on a real socket: a threaded stdlib HTTP server on 127.0.0.1, keep-alive as the real API."""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gcevents.testing.genesys.api import SimulatedApi, encode


class SimulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 50 threads connecting at once must not see refused connections

    def __init__(self, address: tuple[str, int], api: SimulatedApi) -> None:
        self.api = api
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return  # a client closed a keep-alive connection: normal, not worth a traceback
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API
    # Headers and body leave in one write, without Nagle: otherwise every keep-alive answer waits ~40 ms for
    # a delayed ACK and latency measurements would be about the simulator, not the client.
    disable_nagle_algorithm = True
    wbufsize = 64 * 1024
    server: SimulatorServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the stats endpoint says what happened

    def do_GET(self) -> None:
        self._answer("GET", b"")

    def do_POST(self) -> None:
        self._answer("POST", self._body())

    def do_PUT(self) -> None:
        self._answer("PUT", self._body())

    def do_PATCH(self) -> None:
        self._answer("PATCH", self._body())

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _answer(self, method: str, body: bytes) -> None:
        headers = {name.lower(): value for name, value in self.headers.items()}
        answer = self.server.api.handle(method, self.path, headers, body)
        payload, response_headers = encode(answer)
        self.send_response(answer.status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
