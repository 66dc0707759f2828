"""moto's HTTP server with DynamoDB requests applied one at a time, for the tests and the benchmark.

moto's server is threaded but its DynamoDB backend takes no locks: two concurrent conditional writes to one
item can both succeed, and a TransactWriteItems (which moto runs by deep-copying the table and swapping the
copy back on cancellation) can drop a concurrent write or fail with HTTP 500. Real DynamoDB applies each
request atomically; serialising DynamoDB requests restores that, so what we measure and test is our
algorithm, not the emulator's races. Other services stay concurrent (SQS long polls must not block others).

Run as `python -m gcevents.testing.moto PORT` (the benchmark's out-of-process emulator)."""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]


def atomic_dynamodb(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            with lock:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def make_server(host: str, port: int) -> Any:
    """A threaded werkzeug server around moto's dispatcher (what `moto_server` runs), DynamoDB made atomic."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server as werkzeug_server

    app = atomic_dynamodb(DomainDispatcherApplication(create_backend_app))
    return werkzeug_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


class ServerThread:
    """The server on a daemon thread of this process; `port=0` picks a free port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = make_server(host, port)
        self.endpoint = f"http://{host}:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def main(argv: list[str]) -> None:
    logging.disable(logging.INFO)  # one line per request otherwise
    os.environ.setdefault("MOTO_PORT", argv[0])  # as `moto_server` does: moto builds some URLs from it
    make_server("127.0.0.1", int(argv[0])).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
