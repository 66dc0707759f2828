"""moto's HTTP server with DynamoDB and SQS requests applied one at a time, for the tests and the benchmark.

moto's server is threaded but its DynamoDB backend takes no locks: two concurrent conditional writes to one
item can both succeed, and a TransactWriteItems (which moto runs by deep-copying the table and swapping the
copy back on cancellation) can drop a concurrent write or fail with HTTP 500. Real DynamoDB applies each
request atomically; serialising DynamoDB requests restores that, so what we measure and test is our
algorithm, not the emulator's races.

moto's SQS backend takes no locks either: several pollers receiving, deleting and changing visibility at once can
hand one message to two of them in the same instant, lose a delete or crash a request. SQS requests are
serialised too (their own lock, so SQS and DynamoDB still overlap), and a long poll is emulated outside the lock:
moto is asked with WaitTimeSeconds=0, and asked again every POLL_INTERVAL until a message arrives or the caller's
wait is over, so a waiting poller never blocks the others. (JSON protocol only, which every current SDK speaks.)

moto also backs up a whole table for a TransactWriteItems by deep-copying it, once per item of the transaction:
its CPU per transactional claim grows with the table (a soak of a few thousand keys spent most of its time there).
`cheap_transaction_backups` backs up only the items the transaction names, which is all a cancelled transaction
can have changed; with requests serialised nothing else changes them meanwhile. Same answers, linear cost.

Run as `python -m gcevents.testing.moto PORT` (the benchmark's out-of-process emulator)."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
POLL_INTERVAL = 0.05  # seconds between two looks of an emulated long poll


def atomic_services(app: WsgiApp) -> WsgiApp:
    """DynamoDB and SQS requests one at a time (one lock per service); SQS long polls waited for outside the lock."""
    dynamodb, sqs = threading.Lock(), threading.Lock()

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith("DynamoDB_"):
            with dynamodb:
                return list(app(environ, start_response))
        if target == "AmazonSQS.ReceiveMessage":
            return _long_poll(app, sqs, environ, start_response)
        if target.startswith("AmazonSQS."):
            with sqs:
                return list(app(environ, start_response))
        return app(environ, start_response)

    return wrapped


def _long_poll(app: WsgiApp, lock: threading.Lock, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    try:
        request = json.loads(body or b"{}")
        wait = float(request.get("WaitTimeSeconds") or 0)
        request["WaitTimeSeconds"] = 0
        body = json.dumps(request).encode()
    except (ValueError, TypeError, AttributeError):
        wait = 0.0  # not ours to judge: moto answers it
    give_up = time.monotonic() + max(0.0, min(wait, 20.0))
    answer: dict[str, Any] = {}

    def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        answer.update(status=status, headers=headers)
        return lambda data: None

    while True:
        attempt = dict(environ, **{"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
        with lock:
            chunks = list(app(attempt, capture))
        if time.monotonic() >= give_up or not answer["status"].startswith("200") or _has_messages(chunks):
            start_response(answer["status"], answer["headers"])
            return chunks
        time.sleep(POLL_INTERVAL)


def _has_messages(chunks: list[bytes]) -> bool:
    try:
        return bool(json.loads(b"".join(chunks) or b"{}").get("Messages"))
    except (ValueError, AttributeError):
        return True  # an answer we do not understand is passed on as it is


def cheap_transaction_backups() -> None:
    """Patch moto's DynamoDB backend (idempotent): a TransactWriteItems backs up the items it names, not the tables."""
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    if getattr(models.DynamoDBBackend.transact_write_items, "gcevents_patched", False):
        return
    moto_transact = models.DynamoDBBackend.transact_write_items

    class TablesNotCopied:
        """`copy` as moto's backend module sees it: deep copies of anything but a whole table."""

        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(value: Any, memo: Any = None) -> Any:
            return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
        saved = [_item_backup(backend, op) for item in transact_items for op in item.values() if isinstance(op, dict)]
        try:
            moto_transact(backend, transact_items)
        except Exception:
            for table_name, key, before in reversed([s for s in saved if s is not None]):
                if before is None:
                    if backend.get_item(table_name, key) is not None:
                        backend.delete_item(table_name, key)
                else:
                    backend.put_item(table_name, before)
            raise

    transact_write_items.gcevents_patched = True  # type: ignore[attr-defined]
    setattr(models, "copy", TablesNotCopied())  # noqa: B010 (moto's module global, not an exported name)
    setattr(models.DynamoDBBackend, "transact_write_items", transact_write_items)  # noqa: B010


def _item_backup(backend: Any, op: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any] | None] | None:
    """(table, key, the item's attributes or None when absent) for one operation of a transaction."""
    try:
        table = backend.get_table(op["TableName"])
        attrs = op["Key"] if "Key" in op else op["Item"]
        names = [n for n in (table.hash_key_attr, table.range_key_attr) if n is not None]
        key = {name: attrs[name] for name in names}
        current = backend.get_item(op["TableName"], key)
    except Exception:
        return None  # moto will refuse the operation itself
    return op["TableName"], key, copy.deepcopy(current.to_json()["Attributes"]) if current is not None else None


def make_server(host: str, port: int) -> Any:
    """A threaded werkzeug server around moto's dispatcher (what `moto_server` runs), DynamoDB and SQS atomic."""
    cheap_transaction_backups()
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server as werkzeug_server

    app = atomic_services(DomainDispatcherApplication(create_backend_app))
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
