"""A thin Genesys Cloud API client over httpx: OAuth client credentials, client-side pacing that follows what the
server grants (the limits API at start, then 429 + Retry-After: see `limiter`), bounded retries with full-jitter
backoff inside a deadline, and translation of httpx errors into `gcevents.errors` at this boundary.

Only httpx and the stdlib are imported here: this module is on the Lambda cold-start path."""

from __future__ import annotations

import base64
import logging
import math
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from email.utils import parsedate_to_datetime
from functools import partial
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from gcevents.adapters.genesys.auth import AccessToken, ClientCredentialsAuth, clear_secret_cache, resolve_client_secret
from gcevents.adapters.genesys.lanes import Lane, Lanes
from gcevents.adapters.genesys.limiter import AdaptiveLimiter, Pacer, RateLimiter, SharedLimiter
from gcevents.adapters.genesys.limits import TokenLimit, read_token_limit
from gcevents.adapters.genesys.settings import GenesysSettings
from gcevents.errors import ConfigError, GcEventsError, PermanentError, RateLimitedError, TransientError
from gcevents.ports import PermitBucket
from gcevents.retry import RetryBudget
from gcevents.secret import Secret

log = logging.getLogger(__name__)

BULK_DETAILS_PATH = "/api/v2/analytics/conversations/details"
# What we repeat of a server's error answer. The token endpoint (and a proxy in front of it) may echo the request,
# whose Authorization header is base64(client_id:secret), in any field: of the auth exchange we keep only an
# OAuth `error` code of this shape, of API answers a code of the second shape and a redacted message.
_OAUTH_ERROR = re.compile(r"[a-z_]{1,64}")
_API_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
# A credential-looking word after "Basic"/"Bearer" (16+ characters of a token's alphabet: not ordinary prose).
_CREDENTIAL = re.compile(r"(?i)\b(basic|bearer)(?:\s+|%20|\+)[A-Za-z0-9._~+/=%-]{16,}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_RETRYABLE_STATUS = frozenset({500, 502, 503, 504})
LIMITS_REFRESH_SECONDS = 900.0  # the limits API read again after this long (two calls per container)
THROTTLED_CODE = "too.many.requests.retry.after"  # the body code of every Genesys 429 since November 2021
_ENDPOINTS = (
    (re.compile(r"/oauth/token$"), "token"),
    (re.compile(r"/api/v2/organizations/limits/"), "limits"),
    (re.compile(r"/api/v2/analytics/conversations/details$"), "analytics_details_bulk"),
    (re.compile(r"/api/v2/analytics/conversations/[^/]+/details$"), "analytics_details"),
    (re.compile(r"/api/v2/conversations/[^/]+$"), "conversation"),
    (re.compile(r"/api/v2/integrations/[^/]+/config/current$"), "integration_config"),
    (re.compile(r"/api/v2/integrations(/[^/]+)?$"), "integrations"),
    (re.compile(r"/api/v2/analytics/conversations/details/query$"), "analytics_query"),
    (re.compile(r"/api/v2/analytics/conversations/details/jobs"), "analytics_jobs"),
)


class GenesysAuthError(ConfigError):
    """Genesys rejected our client credentials, or the OAuth client lacks a permission (401/403)."""


class ClientRejectedError(GenesysAuthError):
    """The token endpoint refused a client's credentials (400/401 invalid_client): with several clients, that lane
    leaves the rotation and the attempt goes to another."""


class GenesysRequestError(PermanentError):
    """Genesys rejected the request itself (4xx other than 401/403/429): retrying it unchanged cannot help."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message, reason="genesys_rejected")
        self.status_code = status_code


def endpoint_label(path: str) -> str:
    for pattern, label in _ENDPOINTS:
        if pattern.search(path):
            return label
    return "other"


class ClientStats:
    """Counters for benchmarks and metrics: API calls per endpoint, tokens fetched, 429s, retries; with several
    OAuth clients, also the requests and tokens of each (`by_client`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._counters: Counter[str] = Counter()
        self._clients: dict[str, Counter[str]] = {}
        self._wait_seconds = 0.0

    def record_call(self, endpoint: str, client_id: str | None = None) -> None:
        with self._lock:
            self._calls[endpoint] += 1
            if client_id is not None:
                self._clients.setdefault(client_id, Counter())["api_calls"] += 1

    def record_client(self, client_id: str, name: str) -> None:
        """A per-client counter (`rate_limited`, `tokens_fetched`), beside the totals."""
        with self._lock:
            self._clients.setdefault(client_id, Counter())[name] += 1

    def by_client(self) -> dict[str, dict[str, int]]:
        """client id -> its requests sent (`api_calls`, token requests included), `tokens_fetched`, `rate_limited`."""
        with self._lock:
            names = ("api_calls", "tokens_fetched", "rate_limited")
            return {cid: {name: counts[name] for name in names} for cid, counts in sorted(self._clients.items())}

    def increment(self, name: str, amount: int = 1) -> None:
        with self._lock:
            self._counters[name] += amount

    def add_wait(self, seconds: float) -> None:
        with self._lock:
            self._wait_seconds += seconds

    @property
    def api_calls(self) -> int:
        """Every HTTP request sent, token requests included."""
        with self._lock:
            return sum(self._calls.values())

    def calls(self, endpoint: str) -> int:
        with self._lock:
            return self._calls[endpoint]

    def count(self, name: str) -> int:
        with self._lock:
            return self._counters[name]

    @property
    def tokens_fetched(self) -> int:
        return self.count("tokens_fetched")

    @property
    def rate_limited(self) -> int:
        return self.count("rate_limited")

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            snapshot: dict[str, float] = {"api_calls": float(sum(self._calls.values()))}
            snapshot.update({f"calls.{name}": float(n) for name, n in sorted(self._calls.items())})
            for name in (
                "tokens_fetched",
                "rate_limited",
                "server_errors",
                "unauthorized",
                "retries",
                "transport_errors",
                "gave_up_rate_limited",
                "clients_rejected",
            ):
                snapshot[name] = float(self._counters[name])
            snapshot["rate_limit_wait_seconds"] = round(self._wait_seconds, 3)
            if len(self._clients) > 1:  # one client: the totals say it all, and the metric names stay as they were
                for cid, counts in sorted(self._clients.items()):
                    for name in ("api_calls", "tokens_fetched", "rate_limited"):
                        snapshot[f"client.{cid}.{name}"] = float(counts[name])
            return snapshot

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._counters.clear()
            self._clients.clear()
            self._wait_seconds = 0.0

    def __repr__(self) -> str:
        return f"ClientStats({self.snapshot()})"


class GenesysClient:
    """One per container: it owns the connection pool, the cached token and the rate-limit budget; with several
    OAuth client ids (`settings.client_ids`), one token and one budget per client (`lanes`), over one pool.

    Thread-safe. `transport`, `sleep`, `rng`, `clock` (wall time: deadlines, the shared bucket) and `monotonic`
    (the rate limiter and token lifetimes) are seams for tests: `httpx.MockTransport` and a fake clock make them
    socket-free. `bucket` is the fleet's shared budget (`GENESYS_BUDGET_SCOPE=shared`) of a single client;
    `buckets` gives each client id its own (one is needed per client: each token has its own limit)."""

    def __init__(
        self,
        settings: GenesysSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        bucket: PermitBucket | None = None,
        buckets: Callable[[str], PermitBucket] | None = None,
    ) -> None:
        self.settings = settings
        self.stats = ClientStats()
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter, not security
        self._clock = clock
        self._monotonic = monotonic
        bucket_for = _bucket_for(settings, bucket, buckets)
        self._lanes = Lanes(
            clock=monotonic,
            lanes=[
                Lane(
                    client_id,
                    ClientCredentialsAuth(partial(self._fetch_token, client_id), clock=monotonic),
                    _make_limiter(settings, bucket_for(client_id), clock=clock, monotonic=monotonic, sleep=sleep),
                )
                for client_id in settings.client_ids
            ],
        )
        self._limit: TokenLimit | None = None  # read at the first call, then again when due (adaptive pacing only)
        self._limit_due = 0.0  # monotonic time of the next read
        self._limit_lock = threading.Lock()
        # See `_remember`. `_secrets` is replaced whole and read without the lock; the last few of each kind are
        # kept per client (a rotated secret, the previous token), so a long-lived worker does not collect them forever
        # and one client renewing often never pushes out another's current token. Keys: (client id, secret?).
        self._remembered: dict[tuple[str, bool], deque[frozenset[str]]] = {
            (client_id, basic): deque(maxlen=3) for client_id in settings.client_ids for basic in (True, False)
        }
        self._secrets: tuple[str, ...] = ()
        self._secrets_lock = threading.Lock()
        in_flight = settings.max_concurrency * len(settings.client_ids)
        # No client-wide auth: each request carries its lane's (`_send`), so N clients share one connection pool.
        self._http = httpx.Client(
            base_url=settings.api_base_url,
            transport=transport,
            timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout),
            limits=httpx.Limits(  # one pool for every client: room for each one's calls in flight
                max_connections=max(10, in_flight * 2),
                max_keepalive_connections=max(5, in_flight * 2),
            ),
            headers={"Accept": "application/json", "User-Agent": "gcevents"},
            event_hooks={"request": [self._on_request], "response": [self._on_response]},
        )

    def __repr__(self) -> str:
        settings = self.settings
        clients = (
            f"client_ids={settings.client_ids!r}" if settings.several_clients else f"client_id={settings.client_id!r}"
        )
        return f"GenesysClient(api={settings.api_base_url!r}, {clients})"

    def __enter__(self) -> GenesysClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    @property
    def limiter(self) -> Pacer:
        """The pacer of the first client (with one client id: the only one)."""
        return self._lanes.first.limiter

    @property
    def lanes(self) -> tuple[Lane, ...]:
        """One per OAuth client id: its token and its pacer."""
        return self._lanes.all

    @property
    def token_limit(self) -> TokenLimit | None:
        """The per-token limit pacing follows (None until the first call, and with a static rate)."""
        return self._limit

    def budget(self) -> dict[str, float | str]:
        """What pacing is doing now: the limit it follows (per token) and where it came from, and its current rate
        (the sum over the clients; with several, `clients` and each one's `pace_per_minute.<client id>`)."""
        limit = self._limit
        paces = {lane.client_id: lane.limiter.rate_per_minute for lane in self._lanes.all}
        budget: dict[str, float | str] = {
            "mode": "static" if not self.settings.adaptive else self.settings.budget_scope,
            "limit_per_minute": limit.per_minute if limit else float(self.settings.rate_per_minute or 0),
            "limit_source": limit.source if limit else "GENESYS_RATE_PER_MINUTE",
            "pace_per_minute": round(sum(paces.values()), 1),
        }
        if len(paces) > 1:
            budget["clients"] = float(len(paces))
            budget.update({f"pace_per_minute.{cid}": round(pace, 1) for cid, pace in paces.items()})
        return budget

    # ------------------------------------------------------------------------------------------- endpoints
    def conversation(self, conversation_id: str, *, deadline: float | None = None) -> dict[str, Any] | None:
        """`GET /api/v2/conversations/{id}`: the live conversation (participant attributes); None if unknown."""
        return self._get_one(f"/api/v2/conversations/{_path_id(conversation_id)}", deadline)

    def conversation_details(self, conversation_id: str, *, deadline: float | None = None) -> dict[str, Any] | None:
        """`GET /api/v2/analytics/conversations/{id}/details`; None while analytics does not know it (yet)."""
        return self._get_one(f"/api/v2/analytics/conversations/{_path_id(conversation_id)}/details", deadline)

    def conversation_details_bulk(
        self, conversation_ids: Sequence[str], *, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """One `GET /api/v2/analytics/conversations/details?id=a,b,c` call. Ids analytics does not know are
        simply absent from the answer. Raises GenesysRequestError(status_code=400|413) when the id list is too
        long for the server; `GenesysEnricher` splits and retries."""
        if not conversation_ids:
            return []
        query = ",".join(quote(cid, safe="") for cid in conversation_ids)
        response = self._request("GET", f"{BULK_DETAILS_PATH}?id={query}", self._deadline(deadline))
        if response.status_code != 200:
            raise _status_error(response, "analytics_details_bulk", self._redact)
        document = _json(response, "analytics_details_bulk")
        conversations = document.get("conversations") if isinstance(document, dict) else None
        if conversations is None:
            return []  # Genesys omits the key when none of the ids is known
        if not isinstance(conversations, list):
            raise TransientError("Genesys analytics_details_bulk: `conversations` is not a list")
        return [c for c in conversations if isinstance(c, dict)]

    def request_json(
        self, method: str, path: str, body: Any = None, *, deadline: float | None = None
    ) -> tuple[int, Any]:
        """Any API call, for tools such as `gcevents connect`: paced, authenticated and retried (429, 5xx) like
        the lookups above. Returns the status and the JSON answer (None when empty or not JSON); a 4xx is the
        caller's to interpret, so nothing is raised for one."""
        response = self._request(method, path, self._deadline(deadline), json=body)
        try:
            document = response.json() if response.content else None
        except ValueError:
            document = None
        return response.status_code, document

    def _get_one(self, path: str, deadline: float | None) -> dict[str, Any] | None:
        label = endpoint_label(path)
        response = self._request("GET", path, self._deadline(deadline))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _status_error(response, label, self._redact)
        document = _json(response, label)
        if not isinstance(document, dict):
            raise TransientError(f"Genesys {label}: expected a JSON object")
        return document

    def _deadline(self, deadline: float | None) -> float:
        return deadline if deadline is not None else self._clock() + self.settings.default_timeout

    # ----------------------------------------------------------------------------------- request + retries
    # One concern per method, as httpx does: pace -> send -> classify -> back off.
    def _request(self, method: str, url: str, deadline: float, *, json: Any = None) -> httpx.Response:
        """Send with pacing and bounded retries. Returns any non-retryable response (the caller maps it);
        raises RateLimitedError / TransientError when it cannot get an answer before `deadline`.

        At most 1 + `max_retries` attempts, 429s, 5xx, timeouts and connection errors together (each attempt is
        at most two HTTP requests: the auth flow resends once after a 401); every wait ends before `deadline`."""
        label = endpoint_label(url.split("?", 1)[0])
        settings = self.settings
        budget = RetryBudget(
            settings.max_retries, base=settings.backoff_base, cap=settings.backoff_cap, rng=self._rng, sleep=self._sleep
        )
        while True:
            lane = self._lanes.pick()  # per attempt: after a 429, another client's token may be free
            timeout = self._pace(lane, label, deadline)
            try:
                outcome = self._send(lane, method, url, label, timeout, json)
            except ClientRejectedError:
                if not self._lanes.reject(lane):
                    raise  # one client: nothing to fail over to
                self.stats.increment("clients_rejected")
                self.stats.record_client(lane.client_id, "rejected")
                continue  # at once, on another lane: no retry budget spent, a rejected lane is not picked again
            if isinstance(outcome, httpx.Response):
                self._lanes.accepted(lane)
                if outcome.status_code == 429:
                    self._wait_out_429(lane, outcome, label, deadline, budget)
                    continue  # the lane's limiter now holds its callers back for Retry-After
                lane.limiter.on_success()  # the server took the call: pacing may grow
                if outcome.status_code not in _RETRYABLE_STATUS:
                    return outcome
                outcome = TransientError(
                    f"Genesys {label}: HTTP {outcome.status_code}", retry_after=_optional_retry_after(outcome)
                )
            self._back_off(outcome, label, deadline, budget)

    def _pace(self, lane: Lane, label: str, deadline: float) -> httpx.Timeout:
        """Wait for the lane's permit (within the deadline and `max_wait`); the timeouts that still fit."""
        settings = self.settings
        if settings.adaptive and (self._limit is None or self._monotonic() >= self._limit_due):
            self._read_limits(lane)
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise TransientError(f"Genesys {label}: deadline reached")
        try:
            waited = lane.limiter.acquire(min(remaining, settings.max_wait))
        except RateLimitedError:
            self.stats.increment("gave_up_rate_limited")
            raise
        if waited:
            self.stats.add_wait(waited)
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise TransientError(f"Genesys {label}: deadline reached while pacing")
        return httpx.Timeout(min(settings.read_timeout, remaining), connect=min(settings.connect_timeout, remaining))

    def _send(
        self, lane: Lane, method: str, url: str, label: str, timeout: httpx.Timeout, json: Any = None
    ) -> httpx.Response | TransientError:
        """One exchange on the lane's token (its auth flow may add a token fetch and one resend). A failure worth
        retrying comes back as a TransientError with its cause; anything else raises."""
        try:
            return self._http.request(
                method, url, timeout=timeout, json=json, auth=lane.auth, extensions=_client_extension(lane.client_id)
            )
        except httpx.TimeoutException as exc:
            self.stats.increment("transport_errors")
            return _caused_by(TransientError(f"Genesys {label}: timed out ({type(exc).__name__})"), exc)
        except httpx.TransportError as exc:
            self.stats.increment("transport_errors")
            return _caused_by(TransientError(f"Genesys {label}: connection failed ({type(exc).__name__})"), exc)
        except RateLimitedError:
            raise  # the token endpoint said 429: its own budget, and the hint is in the error
        except TransientError as exc:  # token endpoint unavailable
            return exc
        except httpx.HTTPError as exc:  # e.g. a malformed URL: a bug, not an outage
            raise TransientError(f"Genesys {label}: {type(exc).__name__}") from exc

    def _wait_out_429(
        self, lane: Lane, response: httpx.Response, label: str, deadline: float, budget: RetryBudget
    ) -> None:
        """A 429: slow the lane's limiter down and hold it back for Retry-After, and retry if that fits the deadline,
        `max_wait` and the budget (a limiter does the waiting); otherwise hand the work back with the hint. With
        several clients the hint may be pessimistic (another lane may be free sooner): it only delays a retry."""
        retry_after = _retry_after_seconds(response)
        lane.limiter.on_throttle(retry_after)
        if len(self._lanes) > 1:  # the next attempt goes to the lane free soonest, maybe long before this one
            retry_after = min(retry_after, self._lanes.soonest())
        fits = retry_after <= min(deadline - self._clock(), self.settings.max_wait)
        if not fits or not budget.take():
            self.stats.increment("gave_up_rate_limited")
            log.warning(
                "genesys rate limited; handing the work back",
                extra={"endpoint": label, "retryAfter": retry_after, "attempt": budget.retries},
            )
            raise RateLimitedError(f"Genesys {label}: 429 Too Many Requests", retry_after=retry_after)
        self.stats.increment("retries")
        log.info("genesys rate limited; waiting", extra={"endpoint": label, "retryAfter": retry_after})

    def _back_off(self, failure: TransientError, label: str, deadline: float, budget: RetryBudget) -> None:
        """5xx, timeout or connection error: sleep a full-jitter backoff if the budget has one that ends before
        the deadline; otherwise raise `failure`."""
        delay = budget.next_delay()
        if delay is None or self._clock() + delay >= deadline:
            raise failure
        self.stats.increment("retries")
        log.info(
            "genesys request failed; retrying",
            extra={"endpoint": label, "error": str(failure), "attempt": budget.retries, "delay": round(delay, 3)},
        )
        self._sleep(delay)

    # ------------------------------------------------------------------------------------------- limits
    def _read_limits(self, lane: Lane) -> None:
        """The org's per-token limit from the limits API, or the configured one: at the first call, then every
        LIMITS_REFRESH_SECONDS: an admin may change it while a container lives for hours, and a container that
        started while the API failed should not keep the configured fallback for life. The reads are paced like
        any call on `lane` (and, with the shared bucket, booked in it once its rate is known). Limits are the org's,
        not a client's: read once, they apply to every lane. A value that did not change leaves the limiters alone
        (and what 429s taught them)."""
        with self._limit_lock:
            if self._limit is not None and self._monotonic() < self._limit_due:
                return
            timeout = httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout)
            limiter = lane.limiter
            pace = limiter.local.acquire if isinstance(limiter, SharedLimiter) else limiter.acquire
            extensions = _client_extension(lane.client_id)
            calls = 0

            def get(path: str) -> httpx.Response:
                nonlocal calls
                pace(self.settings.max_wait)
                calls += 1
                return self._http.get(path, timeout=timeout, auth=lane.auth, extensions=extensions)

            limit = read_token_limit(get, fallback=float(self.settings.api_limit))
            known = self._limit.per_minute if self._limit is not None else None
            for each in self._lanes.all:
                _apply_limit(each.limiter, limit.per_minute, known, spent=calls if each is lane else 0)
            self._limit = limit
            self._limit_due = self._monotonic() + LIMITS_REFRESH_SECONDS

    # ------------------------------------------------------------------------------------------- token
    def _fetch_token(self, client_id: str) -> AccessToken:
        """Called by a lane's auth flow under its lock: exactly one of these runs at a time per client."""
        secret = resolve_client_secret(self.settings, client_id)
        response = self._post_token(client_id, secret)
        if response.status_code in (400, 401) and self.settings.client_secret_arn is not None:
            # The secret may have been rotated since this container read it: read it again, once.
            clear_secret_cache()
            secret = resolve_client_secret(self.settings, client_id, refresh=True)
            response = self._post_token(client_id, secret)
        status = response.status_code
        if status == 429:
            retry_after = _retry_after_seconds(response)
            raise RateLimitedError("Genesys token endpoint: 429 Too Many Requests", retry_after=retry_after)
        if status in _RETRYABLE_STATUS:
            raise TransientError(f"Genesys token endpoint: HTTP {status}")
        if status != 200:
            # Of the answer, only an OAuth error code such as `invalid_client`: never free text (see _OAUTH_ERROR).
            code = _error_field(response, "error", _OAUTH_ERROR, self._redact)
            raise ClientRejectedError(
                f"Genesys token endpoint rejected client {client_id!r}: HTTP {status} {code}".rstrip()
            )
        document = _json(response, "token")
        access_token = document.get("access_token") if isinstance(document, dict) else None
        if not isinstance(access_token, str) or not access_token:
            raise TransientError("Genesys token endpoint: no access_token in the answer")
        try:
            expires_in = float(document.get("expires_in", 86399))
        except (TypeError, ValueError):
            expires_in = 86399.0
        self._remember(access_token, client_id=client_id)
        now = self._monotonic()
        margin = min(self.settings.token_renew_margin, expires_in * 0.1)
        self.stats.increment("tokens_fetched")
        self.stats.record_client(client_id, "tokens_fetched")
        log.info("genesys token fetched", extra={"expiresIn": expires_in, "clientId": client_id})
        return AccessToken(value=Secret(access_token), expires_at=now + expires_in, renew_at=now + expires_in - margin)

    def _post_token(self, client_id: str, secret: Secret) -> httpx.Response:
        self._remember(secret.reveal(), client_id=client_id, basic=True)
        timeout = httpx.Timeout(self.settings.read_timeout, connect=self.settings.connect_timeout)
        try:
            return self._http.post(
                self.settings.token_url,
                data={"grant_type": "client_credentials"},
                auth=httpx.BasicAuth(client_id, secret.reveal()),
                timeout=timeout,
                extensions=_client_extension(client_id),
            )
        except httpx.TimeoutException as exc:
            self.stats.increment("transport_errors")
            raise TransientError(f"Genesys token endpoint: timed out ({type(exc).__name__})") from exc
        except httpx.HTTPError as exc:
            self.stats.increment("transport_errors")
            raise TransientError(f"Genesys token endpoint: connection failed ({type(exc).__name__})") from exc

    def _remember(self, value: str, *, client_id: str, basic: bool = False) -> None:
        """Values no error, log or dead letter may repeat: a client's secret in the forms a request carries it
        (`basic`: Basic auth's base64 of id:secret, standard and URL-safe, padded or not; URL-encoded), and
        issued tokens; the last few of each kind per client."""
        forms = {value, quote(value, safe=""), quote_plus(value)}
        if basic:
            pair = f"{client_id}:{value}".encode()
            for encoded in (base64.b64encode(pair).decode(), base64.urlsafe_b64encode(pair).decode()):
                forms.update((encoded, encoded.rstrip("=")))
        with self._secrets_lock:
            kept = self._remembered.setdefault((client_id, basic), deque(maxlen=3))
            if frozenset(forms) not in kept:
                kept.append(frozenset(forms))
            everything = {f for groups in self._remembered.values() for group in groups for f in group}
            self._secrets = tuple(sorted((f for f in everything if len(f) >= 4), key=len, reverse=True))

    def _redact(self, text: str) -> str:
        """`text` without any remembered secret or token, nor anything after "Basic"/"Bearer"."""
        for value in self._secrets:
            if value in text:
                text = text.replace(value, "[redacted]")
        return _CREDENTIAL.sub(r"\1 [redacted]", text)

    # ------------------------------------------------------------------------------------------- hooks
    def _on_request(self, request: httpx.Request) -> None:
        self.stats.record_call(endpoint_label(request.url.path), request.extensions.get(_CLIENT_EXTENSION))

    def _on_response(self, response: httpx.Response) -> None:
        status = response.status_code
        if status == 429:
            self.stats.increment("rate_limited")
            client_id = response.request.extensions.get(_CLIENT_EXTENSION)
            if client_id is not None:
                self.stats.record_client(client_id, "rate_limited")
        elif status == 401:
            self.stats.increment("unauthorized")
        elif status >= 500:
            self.stats.increment("server_errors")


# ----------------------------------------------------------------------------------------------- helpers
_CLIENT_EXTENSION = "gcevents.client_id"  # which OAuth client a request went out for, for the stats hooks


def _client_extension(client_id: str) -> dict[str, Any]:
    return {_CLIENT_EXTENSION: client_id}


def _apply_limit(limiter: Pacer, per_minute: float, known: float | None, *, spent: int) -> None:
    """The org's limit, just read, to one lane's pacer; `spent`: the reads made on it (the shared bucket's window
    counts them). A static pacer keeps its rate."""
    if isinstance(limiter, SharedLimiter):
        if per_minute != known:
            limiter.set_limit(per_minute, spent=spent)
        elif spent:
            limiter.bucket.take(spent, max_wait=math.inf)
    elif isinstance(limiter, AdaptiveLimiter) and per_minute != known:
        limiter.set_limit(per_minute)


def _bucket_for(
    settings: GenesysSettings, bucket: PermitBucket | None, buckets: Callable[[str], PermitBucket] | None
) -> Callable[[str], PermitBucket | None]:
    """Each client id's shared bucket. One bucket for several clients would pace them all as one token: refused."""
    if buckets is not None:
        return buckets
    if bucket is not None and settings.several_clients:
        raise ConfigError("several Genesys clients with a shared budget need one bucket per client id (buckets=)")
    return lambda _client_id: bucket


def _caused_by(error: TransientError, cause: BaseException) -> TransientError:
    """`error` as if raised `from cause`, for errors returned to the retry loop rather than raised at once."""
    error.__cause__ = cause
    return error


def _path_id(conversation_id: str) -> str:
    if not conversation_id:
        raise ValueError("conversation id is empty")
    return quote(conversation_id, safe="")


def _json(response: httpx.Response, label: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise TransientError(f"Genesys {label}: answer is not JSON (HTTP {response.status_code})") from exc


def _status_error(response: httpx.Response, label: str, redact: Callable[[str], str]) -> GcEventsError:
    status = response.status_code
    if status in (401, 403):  # the request carried our bearer token: a proxy's echo of it could be anywhere
        code = _error_field(response, "code", _API_CODE, redact)
        return GenesysAuthError(f"Genesys {label}: HTTP {status} {code}".rstrip())
    if 400 <= status < 500:
        message = _api_message(response, redact)
        return GenesysRequestError(f"Genesys {label}: HTTP {status} {message}".rstrip(), status_code=status)
    return TransientError(f"Genesys {label}: HTTP {status}")


def _api_message(response: httpx.Response, redact: Callable[[str], str]) -> str:
    """Genesys error bodies: {"message", "code", "status", "contextId"}. A code of a code's shape, and the message
    with anything credential-like redacted, control characters dropped, cut to 200 characters."""
    code = _error_field(response, "code", _API_CODE, redact)
    document = _json_or_none(response)
    message = document.get("message") if isinstance(document, dict) else None
    text = redact(_UNPRINTABLE.sub(" ", message[:400]))[:200].strip() if isinstance(message, str) else ""
    return ": ".join(part for part in (code, text) if part)


def _error_field(response: httpx.Response, key: str, shape: re.Pattern[str], redact: Callable[[str], str]) -> str:
    """`key` of a JSON error body, only if it has `shape` and holds nothing `redact` would hide; else ""."""
    document = _json_or_none(response)
    value = document.get(key) if isinstance(document, dict) else None
    if isinstance(value, str) and shape.fullmatch(value) and redact(value) == value:
        return value
    return ""


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _retry_after_seconds(response: httpx.Response) -> float:
    """`Retry-After` in seconds (or an HTTP date). Every Genesys 429 carries it; one second if one ever does not."""
    value = _optional_retry_after(response)
    return max(0.0, value) if value is not None else 1.0


def _optional_retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(raw).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def _make_limiter(
    settings: GenesysSettings,
    bucket: PermitBucket | None,
    *,
    clock: Callable[[], float],
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
) -> Pacer:
    """The static override, the adaptive limiter of this token, or that plus the fleet's shared bucket."""
    if settings.rate_per_minute is not None:
        return RateLimiter(settings.rate_per_minute, clock=monotonic, sleep=sleep)
    local = AdaptiveLimiter(settings.api_limit, share=settings.budget_share, clock=monotonic, sleep=sleep)
    if settings.budget_scope != "shared":
        return local
    if bucket is None:
        raise ConfigError("GENESYS_BUDGET_SCOPE=shared needs the fleet's bucket (GENESYS_BUDGET_TABLE)")
    return SharedLimiter(local, bucket, clock=clock, sleep=sleep)
