"""Webhook sink: a signed HTTPS POST of each record (httpx).

2xx is success. 429, 5xx, timeouts and connection errors are retried here while the wait is short and the
deadline allows, honouring Retry-After; a longer wait hands the record back (TransientError with `retry_after`,
so the runner delays redelivery instead of sleeping in Lambda). Any other status is permanent: the inputs are
dead-lettered with the status and a short, sanitised excerpt of what the receiver said.

Per destination: at most `concurrency` requests in flight (one pool, shared by every batch of the container),
and a circuit breaker that, after `breaker_failures` failures in a row, stops calling for a while and hands
records straight back with that delay, so a down endpoint does not burn receive counts.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpcore
import httpx

from gcevents._version import __version__
from gcevents.adapters.sinks.signing import HEADER, STANDARD_SIGNATURE, header_value, secrets_of, standard_headers
from gcevents.addresses import host_refusal, refusal
from gcevents.errors import ConfigError, PermanentError, RateLimitedError, TransientError
from gcevents.ports import OutboundRecord
from gcevents.retry import RetryBudget

if TYPE_CHECKING:
    from gcevents.secret import Secret

log = logging.getLogger(__name__)

REJECTED = "sink_rejected"  # dead-letter reason of a permanent sink failure
MAX_INLINE_WAIT = 2.0  # seconds we may sleep for a retry inside a batch; longer waits hand the record back
DEADLINE_MARGIN = 2.0  # a request must end this long before the deadline: the batch still settles after it
MAX_OPEN_SECONDS = 900.0  # longest circuit-open period (the SQS delay maximum)
EXCERPT_BYTES = 512


class CircuitBreaker:
    """Closed -> (N failures in a row) -> open for a period -> half-open: the next failure reopens it for twice
    as long (up to 900 s), a success closes it. Thread-safe: one per destination, shared by every batch."""

    def __init__(
        self, failures: int = 5, open_seconds: float = 30.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = max(1, failures)
        self.open_seconds = open_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened = 0  # times opened since the last success
        self._open_until = 0.0
        self.open_seconds_total = 0.0  # seconds of the open periods begun so far (the circuit-open metric)

    def blocked_for(self) -> float:
        """Seconds until a request may be tried (0: now)."""
        with self._lock:
            return max(0.0, self._open_until - self._clock())

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened = 0
            self._open_until = 0.0

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold or self._opened:  # half-open: one failure reopens it
                self._opened += 1
                period = min(MAX_OPEN_SECONDS, self.open_seconds * 2 ** (self._opened - 1))
                self._open_until = self._clock() + period
                self.open_seconds_total += period
                self._failures = 0

    @property
    def is_open(self) -> bool:
        return self.blocked_for() > 0


class WebhookSink:
    def __init__(
        self,
        url: str,
        secret: Callable[[], Secret],
        *,
        timeout: float = 10.0,
        concurrency: int = 4,
        breaker: CircuitBreaker | None = None,
        max_retries: int = 2,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        allow_loopback: bool = False,
        resolve: Callable[[str, int], list[str]] | None = None,
    ) -> None:
        """`transport` replaces the network (tests); otherwise every connection goes through `GuardedBackend`:
        `resolve` (getaddrinfo by default), then only to an address `addresses.refusal` allows."""
        if reason := host_refusal(urlsplit(url).hostname or "", allow_loopback=allow_loopback):
            raise ConfigError(f"webhook:{urlsplit(url).hostname}: the target is {reason}")
        self._url = url
        self._secret = secret
        self.timeout = timeout
        self.breaker = breaker or CircuitBreaker()
        self.max_retries = max_retries
        self._sleep = sleep
        self._clock = clock
        if transport is None:
            transport = guarded_transport(concurrency, GuardedBackend(allow_loopback, resolve or resolve_host))
        self._client = httpx.Client(
            transport=transport,
            follow_redirects=False,  # a redirect would carry the signed body somewhere the operator did not name
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
            headers={"User-Agent": f"gcevents/{__version__}", "Content-Type": "application/json"},
        )
        self._pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="gcevents-webhook")

    @property
    def name(self) -> str:
        return f"webhook:{urlsplit(self._url).hostname}"

    def __repr__(self) -> str:
        return f"WebhookSink({self.name!r})"  # never the URL: paths and queries may carry tokens

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()

    def deliver(self, records: Sequence[OutboundRecord], deadline: float) -> Mapping[str, Exception]:
        try:
            secrets = signing_secrets(self._secret())
        except Exception as exc:  # Secrets Manager unreachable: nothing can be signed, everything waits
            error = exc if isinstance(exc, TransientError | ConfigError) else TransientError(type(exc).__name__)
            return {r.key: error for r in records}
        outcomes = self._pool.map(lambda r: self._post(r, secrets, deadline), records)
        return {r.key: e for r, e in zip(records, outcomes, strict=True) if e is not None}

    def _post(self, record: OutboundRecord, secrets: tuple[str, ...], deadline: float) -> Exception | None:
        budget = RetryBudget(self.max_retries, base=0.2, cap=MAX_INLINE_WAIT)
        while True:
            blocked = self.breaker.blocked_for()
            if blocked > 0:
                return TransientError(f"{self.name}: circuit open", retry_after=blocked)
            left = deadline - self._clock() - DEADLINE_MARGIN
            if left <= 0.1:
                return TransientError(f"{self.name}: no time left before the deadline")
            failure = self._attempt(record, secrets, min(self.timeout, left))
            if failure is None or isinstance(failure, PermanentError):
                self.breaker.success()  # the endpoint answered: it is up, even if it refused this one
                return failure
            self.breaker.failure()
            blocked = self.breaker.blocked_for()
            if blocked > 0 and failure.retry_after is None:  # this failure opened the circuit: wait that long
                failure = TransientError(str(failure), retry_after=blocked)
            delay = self._retry_delay(budget, failure, deadline)
            if delay is None:
                return failure
            self._sleep(delay)

    def _retry_delay(self, budget: RetryBudget, failure: TransientError, deadline: float) -> float | None:
        """A short wait before retrying inside this batch, or None: hand the record back instead."""
        hint = failure.retry_after or 0.0
        if hint > MAX_INLINE_WAIT or self.breaker.is_open:
            return None
        backoff = budget.next_delay()
        if backoff is None:
            return None
        delay = max(backoff, hint)
        return delay if self._clock() + delay < deadline - DEADLINE_MARGIN - 0.1 else None

    def _attempt(
        self, record: OutboundRecord, secrets: tuple[str, ...], timeout: float
    ) -> TransientError | PermanentError | None:
        now = int(self._clock())
        headers = {
            "Idempotency-Key": record.key,
            "X-Gcevents-Event-Type": record.type,
            HEADER: header_value(secrets, record.body, now),
            **standard_headers(secrets, record.key, record.body, now),
        }
        try:
            with self._client.stream(
                "POST", self._url, content=record.body, headers=headers, timeout=timeout
            ) as response:
                status = response.status_code
                if 200 <= status < 300:
                    return None
                head = _read_head(response)
                retry_after = _retry_after(response.headers.get("Retry-After"), self._clock())
        except ForbiddenAddressError as exc:
            return PermanentError(f"{self.name}: {exc}; not sent", reason=REJECTED)
        except httpx.TimeoutException:
            return TransientError(f"{self.name}: timed out after {timeout:.1f} s")
        except httpx.HTTPError as exc:
            return TransientError(f"{self.name}: {type(exc).__name__}")
        signed = (headers[HEADER], headers[STANDARD_SIGNATURE])
        said = sanitise(head, (*secrets, *signed, *(part for h in signed for part in re.split(r"[, ]|v1[=,]", h))))
        if status == 429:
            return RateLimitedError(f"{self.name} answered 429: {said}", retry_after=retry_after)
        if status >= 500:
            return TransientError(f"{self.name} answered {status}: {said}", retry_after=retry_after)
        if 300 <= status < 400:
            return PermanentError(f"{self.name} answered {status} (redirects are not followed)", reason=REJECTED)
        return PermanentError(f"{self.name} answered {status}: {said}", reason=REJECTED)


class ForbiddenAddressError(Exception):
    """The webhook's name resolved to an address no webhook may reach (raised before connecting)."""


def resolve_host(host: str, port: int) -> list[str]:
    """Every address of `host`, in the resolver's order (a literal address is its own answer)."""
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve the webhook host ({type(exc).__name__})") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in found))


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend, except that the host is resolved here, every address it has is checked, and
    the socket connects to a checked address: a DNS answer that changes between a check and a connect (rebinding)
    cannot reach a metadata service. TLS still verifies, and SNI still names, the URL's host: httpcore takes those
    from the request, not from the address connected to."""

    def __init__(self, allow_loopback: bool, resolve: Callable[[str, int], list[str]]) -> None:
        self._inner = httpcore.SyncBackend()
        self._allow_loopback = allow_loopback
        self._resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in self._resolve(host, port)]
        for address in addresses:
            if reason := refusal(address, allow_loopback=self._allow_loopback):
                raise ForbiddenAddressError(f"{host} resolves to {reason}")
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            try:
                return self._inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc  # the next address, as socket.create_connection would
        raise failure or httpcore.ConnectError(f"{host} has no address")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    def __init__(self, pool: httpcore.ConnectionPool) -> None:
        super().__init__()
        self._pool = pool  # httpx's transport around our pool: its request and error mapping stay httpx's


def guarded_transport(concurrency: int, backend: GuardedBackend) -> httpx.BaseTransport:
    """httpx's default transport (TLS verified against the system's CAs, HTTP/1.1), with `backend`'s sockets."""
    pool = httpcore.ConnectionPool(
        ssl_context=httpx.create_ssl_context(),
        max_connections=concurrency,
        max_keepalive_connections=concurrency,
        network_backend=backend,
    )
    return _GuardedTransport(pool)


def _read_head(response: httpx.Response) -> str:
    data = b""
    for chunk in response.iter_bytes():
        data += chunk
        if len(data) >= EXCERPT_BYTES:
            break
    return data[:EXCERPT_BYTES].decode("utf-8", "replace")


_REDACTIONS = (
    (re.compile(r"v1=[0-9a-fA-F]{16,}"), "v1=***"),
    (re.compile(r"(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 ***"),
    (
        re.compile(
            r"(?i)(\"?(?:secret|token|password|signature|api[_-]?key|authorization)\"?\s*[:=]\s*)(\"[^\"]*\"|\S+)"
        ),
        r"\1***",
    ),
    (re.compile(r"[\x00-\x1f\x7f]+"), " "),
)


def sanitise(text: str, secrets: Sequence[str] = (), limit: int = 200) -> str:
    """A short excerpt of what a receiver said, safe for logs and dead letters: our secret and signature, if
    echoed, and anything that looks like a credential are masked; control characters are flattened."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    text = text.strip()
    return text[:limit] + ("..." if len(text) > limit else "")


def _retry_after(value: str | None, now: float) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def signing_secrets(secret: Secret) -> tuple[str, ...]:
    """The secrets every delivery is signed with: one, or during a rotation the JSON list's current and next."""
    try:
        return secrets_of(secret.reveal())
    except ValueError as exc:
        raise ConfigError(f"webhook signing secret: {exc}") from None
