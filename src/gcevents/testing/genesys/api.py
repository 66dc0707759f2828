"""The simulated API, free of sockets: one request in (method, target, lower-case headers, body), one answer out.
OAuth client credentials, then every API route behind auth, the rate limit and injected faults, in the order
Genesys applies them. The API routes are one table, `ROUTES`: a new route is a row and a function."""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
import math
import re
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from gcevents.testing.genesys.analytics import JOBS_PATH, QUERY_PATH
from gcevents.testing.genesys.data import live_conversation
from gcevents.testing.genesys.integrations import INTEGRATION_PERMISSIONS, INTEGRATIONS, Integrations
from gcevents.testing.genesys.state import RateWindow, SimulatorOptions, SimulatorState, client_of

LIMIT_NAMESPACES = ("platform.api", "analytics")
THROTTLED = {
    "message": "Rate limit exceeded the maximum. Retry the request in [{seconds}] seconds",
    "code": "too.many.requests.retry.after",
    "status": 429,
}
Reply = tuple[int, dict[str, Any]]  # a route's status and JSON document


@dataclass(slots=True)
class Answer:
    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class TimedOut(Exception):
    """The answer would arrive after the caller's read timeout (in-process transport only)."""


# ------------------------------------------------------------------------------------------------ the routes
def _bulk(state: SimulatorState, match: re.Match[str], query: str, body: bytes) -> Reply:
    params = parse_qs(query)
    ids = list(dict.fromkeys(i.strip() for value in params.get("id", []) for i in value.split(",") if i.strip()))
    limit = state.options.max_ids_per_request
    if not ids or len(ids) > limit:
        with state.lock:
            state.counters["bad_requests"] += 1
        message = "id is required" if not ids else f"Too many ids: {len(ids)} > {limit}"
        return 400, {"message": message, "code": "bad.request", "status": 400}
    with state.lock:
        state.counters["ids_requested"] += len(ids)
    found = [state.details(cid) for cid in ids if state.analytics_available(cid)]
    return 200, ({"conversations": found} if found else {})


def _details(state: SimulatorState, match: re.Match[str], query: str, body: bytes) -> Reply:
    conversation_id = unquote(match.group(1))
    with state.lock:
        state.counters["ids_requested"] += 1
    if not state.analytics_available(conversation_id):
        return 404, {"message": "Conversation not found", "code": "not.found", "status": 404}
    return 200, state.details(conversation_id)


def _conversation(state: SimulatorState, match: re.Match[str], query: str, body: bytes) -> Reply:
    conversation_id = unquote(match.group(1))
    if conversation_id in state.options.unknown_ids:
        return 404, {"message": "Conversation not found", "code": "not.found", "status": 404}
    return 200, live_conversation(conversation_id)


def _limits(state: SimulatorState, match: re.Match[str], query: str, body: bytes) -> Reply:
    """The limits API: the namespaces, or a namespace's effective limits (the per-token request rate the
    simulator enforces, per minute, in `platform.api`)."""
    options = state.options
    namespace = unquote(match.group(1)) if match.group(1) is not None else None
    if options.limits_status != 200:
        return options.limits_status, {"message": "limits unavailable", "code": "forbidden", "status": 403}
    if namespace is None:
        return 200, {"entities": [{"name": name} for name in LIMIT_NAMESPACES]}
    if namespace not in LIMIT_NAMESPACES:
        return 404, {"message": f"no namespace {namespace}", "code": "not.found", "status": 404}
    entities = []
    per_minute = options.published_limit_per_minute
    if per_minute is None and options.rate_limit_per_minute is not None:
        per_minute = round(options.rate_limit_per_minute * 60.0 / options.rate_window_seconds)
    if namespace == "platform.api" and per_minute is not None:
        entities.append(
            {"key": "client.credentials.token.rate.per.minute", "namespace": namespace, "value": per_minute}
        )
    return 200, {"entities": entities}


def _organization(state: SimulatorState, match: re.Match[str], query: str, body: bytes) -> Reply:
    options = state.options
    if options.org_status != 200:
        return options.org_status, {
            "message": "organization unavailable",
            "code": "forbidden",
            "status": options.org_status,
        }
    return 200, {"id": options.org_id, "name": "gcevents-simulator", "state": "active"}


def _job(state: SimulatorState, match: re.Match[str], query: str, body: bytes) -> Reply:
    return state.analytics.job(match.string, query)


def _query(state: SimulatorState, match: re.Match[str], query: str, body: bytes) -> Reply:
    return state.analytics.query(body)


def _submit(state: SimulatorState, match: re.Match[str], query: str, body: bytes) -> Reply:
    return state.analytics.submit(body)


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: re.Pattern[str]  # matched in full against the request's path
    name: str  # the route's key in `stats()["calls"]`
    answer: Callable[[SimulatorState, re.Match[str], str, bytes], Reply]  # (state, path match, query, body)


# The API routes behind auth, rate limit and faults, tried in order. The integrations routes (with their
# permissions) are `integrations.py`'s; `/stats`, `/stats/reset` and `/oauth/token` are the simulator's own.
ROUTES = (
    Route(
        "GET",
        re.compile(r"/api/v2/analytics/conversations/details"),
        "GET /api/v2/analytics/conversations/details",
        _bulk,
    ),
    Route(
        "GET",
        re.compile(r"/api/v2/organizations/limits/namespaces(?:/(.*))?", re.DOTALL),
        "GET /api/v2/organizations/limits/namespaces/{name}",
        _limits,
    ),
    Route("GET", re.compile(re.escape(JOBS_PATH) + "/.*", re.DOTALL), f"GET {JOBS_PATH}/*", _job),
    Route(
        "GET",
        re.compile(r"/api/v2/analytics/conversations/([^/]+)/details"),
        "GET /api/v2/analytics/conversations/{id}/details",
        _details,
    ),
    Route("GET", re.compile(r"/api/v2/conversations/([^/]+)"), "GET /api/v2/conversations/{id}", _conversation),
    Route("GET", re.compile(re.escape("/api/v2/organizations/me")), "GET /api/v2/organizations/me", _organization),
    Route("POST", re.compile(re.escape(QUERY_PATH)), f"POST {QUERY_PATH}", _query),
    Route("POST", re.compile(re.escape(JOBS_PATH)), f"POST {JOBS_PATH}", _submit),
)


# ------------------------------------------------------------------------------------------------ the API
class SimulatedApi:
    """The simulated API, free of sockets: one request in (method, target, lower-case headers, body), one answer
    out. The HTTP server and the in-process httpx transport are two thin adapters over it."""

    def __init__(self, state: SimulatorState, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.state = state
        self._clock = clock  # monotonic seconds: token expiry and rate windows
        self._sleep = sleep  # latency and slow answers

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, *, read_timeout: float | None = None
    ) -> Answer:
        """`read_timeout` (in-process only): a slower answer raises TimedOut after that long, as a socket would."""
        parts = urlsplit(target)
        if method == "GET":
            return self._get(parts.path, parts.query, headers, read_timeout)
        if method == "POST":
            return self._post(parts.path, headers, body)
        if method in ("PUT", "PATCH"):
            return self._integrations(method, parts.path, "", headers, body, read_timeout)
        return Answer(501, {"message": f"unsupported method {method}", "code": "not.implemented", "status": 501})

    def _get(self, raw_path: str, query: str, headers: dict[str, str], read_timeout: float | None) -> Answer:
        path = unquote(raw_path) if raw_path.startswith("/stats") else raw_path
        if path == "/stats":
            return Answer(200, self.state.snapshot())
        if path.startswith(INTEGRATIONS):
            return self._integrations("GET", path, query, headers, b"", read_timeout)
        return self._route("GET", path, query, headers, b"", read_timeout)

    def _post(self, path: str, headers: dict[str, str], body: bytes) -> Answer:
        if path == "/stats/reset":
            self.state.reset()
            return Answer(200, {"reset": True})
        if path == "/oauth/token":
            return self._token(headers, body)
        if path.startswith(INTEGRATIONS):
            return self._integrations("POST", path, "", headers, body, None)
        return self._route("POST", path, "", headers, body, None)

    def _route(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, read_timeout: float | None
    ) -> Answer:
        for route in ROUTES:
            if route.method == method and (match := route.path.fullmatch(path)):
                answer = functools.partial(route.answer, self.state, match, query, body)
                return self._api(route.name, headers, read_timeout, answer)
        return Answer(404, {"message": f"no route for {method} {path}", "code": "not.found", "status": 404})

    def _integrations(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, read_timeout: float | None
    ) -> Answer:
        found = Integrations(self.state).route(method, path, query, body)
        if found is None:
            return Answer(404, {"message": f"no route for {method} {path}", "code": "not.found", "status": 404})
        route, answer = found
        permission = INTEGRATION_PERMISSIONS[method]

        def guarded() -> Reply:
            if permission in self.state.options.missing_permissions:
                return 403, {
                    "message": f"You are missing the following permission(s): [{permission}]",
                    "code": "missing.permissions",
                    "status": 403,
                    "messageParams": {"permissions": permission},
                }
            with self.state.lock:
                return answer()

        return self._api(route, headers, read_timeout, guarded)

    # ------------------------------------------------------------------------------------------ oauth
    def _token(self, headers: dict[str, str], body: bytes) -> Answer:
        state = self.state
        options = state.options
        with state.lock:
            state.calls["POST /oauth/token"] += 1
        client_id = _basic_auth_client(headers, options)
        if client_id is None:
            with state.lock:
                state.counters["unauthorized"] += 1
            return Answer(401, {"error": "invalid_client", "description": "client authentication failed"})
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return Answer(400, {"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(32)
        with state.lock:
            state.tokens[token] = self._clock() + options.token_expires_in
            state.issued.append(token)
            state.counters["tokens_issued"] += 1
            issued = sum(1 for name in state.token_names.values() if client_of(name) == client_id)
            state.token_names[token] = f"{client_id}#{issued + 1}"
        return Answer(200, {"access_token": token, "token_type": "bearer", "expires_in": options.token_expires_in})

    # ------------------------------------------------------------------------------------------ API
    def _api(
        self,
        route: str,
        headers: dict[str, str],
        read_timeout: float | None,
        answer: Callable[[], Reply],
    ) -> Answer:
        """Auth, rate limit and faults, in the order Genesys applies them, then `answer()`."""
        state = self.state
        options = state.options
        with state.lock:
            state.calls[route] += 1
        if options.latency_ms > 0:
            self._pause(options.latency_ms / 1000, read_timeout)
        token = _bearer(headers)
        now = self._clock()
        if not self._authorized(token, now):
            return Answer(401, {"message": "Authentication failed", "code": "bad.credentials", "status": 401})
        assert token is not None
        limited_for = self._rate_limit(token, now)
        if limited_for is not None:
            seconds = max(1, math.ceil(limited_for))
            document = {**THROTTLED, "message": str(THROTTLED["message"]).format(seconds=seconds)}
            return Answer(429, document, {"Retry-After": str(seconds)})
        with state.lock:
            fail = state.rng.random() < options.error_rate
            slow = state.rng.random() < options.slow_rate
            if fail:
                state.counters["server_errors"] += 1
            elif slow:
                state.counters["slow_responses"] += 1
        if fail:
            status = options.error_status
            document = {"message": "simulated failure", "code": "internal.server.error", "status": status}
            return Answer(status, document)
        if slow:
            self._pause(options.slow_ms / 1000, read_timeout)
        status, document = answer()
        return Answer(status, document)

    def _pause(self, seconds: float, read_timeout: float | None) -> None:
        if read_timeout is not None and seconds > read_timeout:
            self._sleep(read_timeout)
            raise TimedOut
        self._sleep(seconds)

    def _authorized(self, token: str | None, now: float) -> bool:
        state = self.state
        with state.lock:
            expires_at = state.tokens.get(token) if token else None
            if expires_at is None or expires_at <= now:
                state.counters["unauthorized"] += 1
                return False
        return True

    def _rate_limit(self, token: str, now: float) -> float | None:
        """A fixed window per token (scope "token") or one for every token of the client (scope "client"). None,
        or the seconds until the window resets when it is used up."""
        state = self.state
        options = state.options
        with state.lock:
            name = state.token_names.get(token, "")
            state.token_calls[name] += 1
            if options.rate_limit_per_minute is None:
                return None
            key = token if options.rate_limit_scope == "token" else f"client:{client_of(name)}"
            window = state.windows.get(key)
            if window is None or now - window.started >= options.rate_window_seconds:
                window = state.windows[key] = RateWindow(started=now)
            if window.count < options.rate_limit_per_minute:
                window.count += 1
                return None
            state.counters["rate_limited"] += 1
            state.token_throttled[name] += 1
            return window.started + options.rate_window_seconds - now


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return token if scheme.lower() == "bearer" and token else None


def _basic_auth_client(headers: dict[str, str], options: SimulatorOptions) -> str | None:
    """The client id whose credentials the Basic auth header carries, or None."""
    scheme, _, encoded = headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, _, client_secret = decoded.partition(":")
    for known_id, known_secret in ((options.client_id, options.client_secret), *options.extra_clients):
        if hmac.compare_digest(client_id.encode(), known_id.encode()) and hmac.compare_digest(
            client_secret.encode(), known_secret.encode()
        ):
            return known_id
    return None


def encode(answer: Answer) -> tuple[bytes, dict[str, str]]:
    """The body and headers an answer goes out with, whichever the transport."""
    payload = json.dumps(answer.document, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(payload)),
        "inin-correlation-id": str(uuid.uuid4()),
        **answer.headers,
    }
    return payload, headers
