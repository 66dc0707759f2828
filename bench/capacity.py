"""The bench's AWS: moto's server (`gcevents.testing.moto`, DynamoDB and SQS requests atomic) behind a meter.

Run as `python -m bench.capacity PORT RTT_MS` in its own process. Two things are added in front of moto:

- **Latency.** Every AWS request waits `RTT_MS` (default 5) before moto sees it, in the server's request thread: a
  sleep, so concurrent requests overlap as on a network and no client CPU is burnt.
- **Capacity units.** moto answers `ReturnConsumedCapacity` with fixed numbers (1.0 per put, whatever the size), so
  the meter computes what DynamoDB would charge, per table, with DynamoDB's documented rules (developer guide, "Read
  and write operations" and "Item sizes and formats"): a write costs ceil(KB) of the larger of the item before and
  after it (PutItem, UpdateItem; a failed conditional write costs the same; DeleteItem the deleted item; a missing
  item 1), each BatchWriteItem request is its own write, a transactional write costs 2x, and a read costs ceil(size /
  4 KB), half for an eventually consistent one; reading a missing item costs as much as a small one. A cancelled
  transaction is charged like a committed one (an assumption: the documentation does not say). Sizes come from
  moto's stored items, read inside the DynamoDB lock just before and after each request.

`GET /_bench/meter` answers the totals per table (requests per operation, write units, read units) and the emulator's
own CPU time: moto spends milliseconds of CPU per request, which real DynamoDB does not charge to anyone's wall clock,
and on a 2-core machine it competes with the client under test (docs/benchmarks.md)."""

from __future__ import annotations

import base64
import io
import json
import math
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WsgiApp = Callable[[dict[str, Any], Any], Iterable[bytes]]
ACCOUNT = "123456789012"  # moto's default account
_TARGET = "DynamoDB_20120810."
_WRITE_KB, _READ_KB = 1024, 4096
_SERVER_CPU = "_server_cpu_seconds"  # in the meter's answer: the emulator's own CPU time so far


# --------------------------------------------------------------------------------------------- item sizes
def attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes of one DynamoDB-JSON value, by DynamoDB's rules: strings and binaries their UTF-8/raw length, numbers
    1 byte + 1 per two significant digits, BOOL/NULL 1, lists and maps 3 + 1 per element + the elements."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(str(raw).encode("utf-8"))
    if kind == "N":
        return _number_size(str(raw))
    if kind == "B":
        return len(base64.b64decode(raw)) if isinstance(raw, str) else len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: item}) for item in raw)
    if kind == "L":
        return 3 + sum(1 + attribute_size(item) for item in raw)
    if kind == "M":
        return 3 + sum(1 + len(name.encode("utf-8")) + attribute_size(item) for name, item in raw.items())
    raise ValueError(f"unknown DynamoDB type {kind!r}")


def _number_size(text: str) -> int:
    try:
        digits = Decimal(text).normalize().as_tuple().digits
    except InvalidOperation:
        return len(text)
    significant = len(digits) if any(digits) else 1
    return 1 + math.ceil(significant / 2)


def item_size(item: Mapping[str, Any] | None) -> int:
    """Bytes of an item: attribute names plus values (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def write_units(before: int, after: int) -> int:
    return max(1, math.ceil(max(before, after) / _WRITE_KB))


def read_units(size: int, consistent: bool) -> float:
    units = max(1, math.ceil(size / _READ_KB))
    return units if consistent else units / 2


# ------------------------------------------------------------------------------------------------ the meter
class Meter:
    """Totals per table. Item sizes are remembered from the writes the meter sees (every write goes through it), so a
    request costs the emulator a dictionary look-up, not a read of moto's item; `stored(table, key)` (the item as
    DynamoDB JSON, None if missing) answers what the meter has not seen and what an UpdateItem made."""

    def __init__(self, stored: Callable[[str, Mapping[str, Any]], dict[str, Any] | None]) -> None:
        self.stored = stored
        self.lock = threading.Lock()
        self.requests: defaultdict[str, Counter[str]] = defaultdict(Counter)
        self.wcu: Counter[str] = Counter()
        self.rcu: Counter[str] = Counter()
        self._sizes: dict[tuple[str, tuple[Any, ...]], int] = {}

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {
                table: {"requests": dict(self.requests[table]), "wcu": self.wcu[table], "rcu": self.rcu[table]}
                for table in self.requests
            }

    def around(self, operation: str, body: dict[str, Any], call: Callable[[], tuple[Any, bool]]) -> Any:
        """Run the request (`call`: its answer and whether it succeeded) and charge its units; we are inside moto's
        DynamoDB lock, so sizes before and after are consistent."""
        plan = getattr(self, f"_{operation}", None)
        tables = _tables(body)
        if plan is None:
            result, _ = call()
            charges: list[tuple[str, float, float]] = []
        else:
            result, charges = plan(body, call)
        with self.lock:
            for table in tables or ["-"]:
                self.requests[table][operation] += 1
            for table, wcu, rcu in charges:
                self.wcu[table] += wcu
                self.rcu[table] += rcu
        return result

    def size(self, table: str, key: Mapping[str, Any]) -> int:
        ident = (table, _key_id(key))
        size = self._sizes.get(ident)
        if size is None:
            size = self._sizes[ident] = item_size(self.stored(table, key))
        return size

    def _now(self, table: str, key: Mapping[str, Any], size: int | None = None) -> int:
        """Remember the item's size after a write (None: ask moto, after an UpdateItem)."""
        if size is None:
            size = item_size(self.stored(table, key))
        self._sizes[(table, _key_id(key))] = size
        return size

    # One method per metered operation: (body, call) -> (answer, [(table, wcu, rcu)]).
    def _GetItem(self, body: dict[str, Any], call: Callable[[], tuple[Any, bool]]) -> tuple[Any, list[Any]]:
        table = body["TableName"]
        units = read_units(self.size(table, body["Key"]), bool(body.get("ConsistentRead")))
        return call()[0], [(table, 0, units)]

    def _BatchGetItem(self, body: dict[str, Any], call: Callable[[], tuple[Any, bool]]) -> tuple[Any, list[Any]]:
        charges = []
        for table, request in body.get("RequestItems", {}).items():
            consistent = bool(request.get("ConsistentRead"))
            charges += [(table, 0, read_units(self.size(table, key), consistent)) for key in request.get("Keys", [])]
        return call()[0], charges

    def _PutItem(self, body: dict[str, Any], call: Callable[[], tuple[Any, bool]]) -> tuple[Any, list[Any]]:
        table, item = body["TableName"], body["Item"]
        key, new = _key_of(table, item), item_size(item)
        before = self.size(table, key)
        result, ok = call()
        if ok:
            self._now(table, key, new)
        return result, [(table, write_units(before, new), 0)]

    def _UpdateItem(self, body: dict[str, Any], call: Callable[[], tuple[Any, bool]]) -> tuple[Any, list[Any]]:
        table, key = body["TableName"], body["Key"]
        before = self.size(table, key)
        result, ok = call()
        after = self._now(table, key) if ok else before
        return result, [(table, write_units(before, after), 0)]

    def _DeleteItem(self, body: dict[str, Any], call: Callable[[], tuple[Any, bool]]) -> tuple[Any, list[Any]]:
        table, key = body["TableName"], body["Key"]
        before = self.size(table, key)
        result, ok = call()
        if ok:
            self._now(table, key, 0)
        return result, [(table, write_units(before, 0), 0)]

    def _BatchWriteItem(self, body: dict[str, Any], call: Callable[[], tuple[Any, bool]]) -> tuple[Any, list[Any]]:
        planned = []
        for table, requests in body.get("RequestItems", {}).items():
            for request in requests:
                if "PutRequest" in request:
                    item = request["PutRequest"]["Item"]
                    planned.append((table, _key_of(table, item), item_size(item)))
                else:
                    planned.append((table, request["DeleteRequest"]["Key"], 0))
        charges = [(table, write_units(self.size(table, key), new), 0) for table, key, new in planned]
        result, ok = call()
        if ok:  # moto applies every request of a call (no UnprocessedItems)
            for table, key, new in planned:
                self._now(table, key, new)
        return result, charges

    def _TransactWriteItems(self, body: dict[str, Any], call: Callable[[], tuple[Any, bool]]) -> tuple[Any, list[Any]]:
        planned = []
        for action in body.get("TransactItems", []):
            ((kind, spec),) = action.items()
            table = spec["TableName"]
            key = spec.get("Key") or _key_of(table, spec.get("Item", {}))
            new = item_size(spec["Item"]) if kind == "Put" else 0
            planned.append((kind, table, key, self.size(table, key), new))
        result, ok = call()
        charges = []
        for kind, table, key, before, new in planned:
            after = before
            if ok and kind in ("Put", "Delete"):
                after = self._now(table, key, new)
            elif ok and kind == "Update":
                after = self._now(table, key)
            charges.append((table, 2 * write_units(before, max(new, after)), 0))
        return result, charges


def _key_id(key: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(sorted((name, *value.items()) for name, value in key.items()))


def _tables(body: Mapping[str, Any]) -> list[str]:
    if "TableName" in body:
        return [str(body["TableName"])]
    if "RequestItems" in body:
        return list(body["RequestItems"])
    if "TransactItems" in body:
        names = (next(iter(a.values())).get("TableName") for a in body["TransactItems"])
        return list(dict.fromkeys(n for n in names if n))
    return []


_KEYS: dict[str, list[str]] = {}


def _key_of(table: str, item: Mapping[str, Any]) -> dict[str, Any]:
    names = _KEYS.get(table)
    if names is None:
        names = _KEYS[table] = _key_names(table)
    return {name: item[name] for name in names if name in item}


def _key_names(table: str) -> list[str]:
    from moto.dynamodb.models import dynamodb_backends

    for backend in dynamodb_backends[ACCOUNT].values():
        found = backend.tables.get(table)
        if found is not None:
            return [found.hash_key_attr] + ([found.range_key_attr] if found.range_key_attr else [])
    return []


def moto_item(table: str, key: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stored item in DynamoDB JSON, from moto's backend (any region of the default account)."""
    from moto.dynamodb.models import dynamodb_backends

    for backend in dynamodb_backends[ACCOUNT].values():
        if table not in backend.tables:
            continue
        try:
            item = backend.get_item(table, dict(key))
        except Exception:  # a malformed key: moto answers the request with its own error
            return None
        return dict(item.to_json()["Attributes"]) if item is not None else None
    return None


# --------------------------------------------------------------------------------------------------- WSGI
def metered(app: WsgiApp, meter: Meter) -> WsgiApp:
    """Meters DynamoDB requests (this wrapper must run inside the DynamoDB lock) and answers `/_bench/meter`."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(_TARGET):
            return app(environ, start_response)
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return app(environ, start_response)
        status: list[str] = []

        def capture(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            status.append(line)
            return start_response(line, headers, exc_info)

        def call() -> tuple[list[bytes], bool]:
            chunks = list(app(environ, capture))
            return chunks, bool(status) and status[0].startswith("200")

        return list(meter.around(target[len(_TARGET) :], body, call))

    return wrapped


def front(app: WsgiApp, meter: Meter, rtt_seconds: float) -> WsgiApp:
    """Outside the locks: the meter's report, and the modelled network wait of every AWS request."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/_bench/meter":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps({**meter.snapshot(), _SERVER_CPU: time.process_time()}).encode()]
        if rtt_seconds:
            time.sleep(rtt_seconds)
        return app(environ, start_response)

    return wrapped


class _KeepAliveHandler(BaseHTTPRequestHandler):
    """A minimal HTTP/1.1 WSGI server: connections stay open between requests, as AWS's endpoints keep them.
    (werkzeug's development server, which `moto_server` uses, closes every connection: each client request would
    pay for a new TCP connection, client CPU the benchmark would wrongly charge to the design under test.)"""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # the answer goes out at once, not after the client's delayed ACK
    app: WsgiApp

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.url_scheme": "http",
            "wsgi.version": (1, 0),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = value
        answer: dict[str, Any] = {}

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.update(status=status, headers=headers)
            return lambda data: None

        payload = b"".join(self.app(environ, start_response))
        code, _, reason = answer["status"].partition(" ")
        self.send_response(int(code), reason)
        for name, value in answer["headers"]:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self._headers_buffer.append(b"\r\n" + payload)  # headers and body in one write
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve


def make_server(host: str, port: int, rtt_ms: float) -> ThreadingHTTPServer:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    from gcevents.testing.moto import atomic_services

    meter = Meter(moto_item)
    inner = metered(DomainDispatcherApplication(create_backend_app), meter)
    handler = type(
        "Handler", (_KeepAliveHandler,), {"app": staticmethod(front(atomic_services(inner), meter, rtt_ms / 1000))}
    )
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str]) -> None:
    import logging
    import os

    logging.disable(logging.INFO)
    os.environ.setdefault("MOTO_PORT", argv[0])
    make_server("127.0.0.1", int(argv[0]), float(argv[1]) if len(argv) > 1 else 5.0).serve_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
