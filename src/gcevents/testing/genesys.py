"""A Genesys Cloud API simulator: a real HTTP server (stdlib only) for tests, the demo and benchmarks, or the same
API in-process as an httpx transport (`transport()`, no socket) with an injectable clock for fast tests.

It imitates what our client relies on: OAuth client credentials (Basic auth, expiring bearer tokens), the
analytics details endpoints (bulk and single) and the live conversation endpoint, with deterministic
conversation data derived from the id; a rate limit per token or one shared by the client id, answered as
Genesys does since 2021 (429, `Retry-After`, body code `too.many.requests.retry.after`, and no
`inin-ratelimit-*` headers); the limits API that publishes that limit; seeded fault injection (5xx, slow
answers), analytics lag, and a per-call id limit.

    with GenesysSimulator(SimulatorOptions(rate_limit_per_minute=600)) as sim:
        client = GenesysClient(sim.settings())
        ...
        sim.stats()["calls"]
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import math
import random
import re
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from gcevents.adapters.genesys.settings import GenesysSettings
from gcevents.core.times import iso_z
from gcevents.testing.analytics import JOBS_PATH, QUERY_PATH, AnalyticsIndex

if TYPE_CHECKING:
    import httpx

MEDIA_TYPES = ("voice", "voice", "voice", "chat", "email", "callback", "message")
_EPOCH = datetime(2024, 1, 1, tzinfo=UTC)
_DETAILS_ONE = re.compile(r"^/api/v2/analytics/conversations/([^/]+)/details$")
_CONVERSATION = re.compile(r"^/api/v2/conversations/([^/]+)$")
_BULK = "/api/v2/analytics/conversations/details"
_INTEGRATIONS = "/api/v2/integrations"
_INTEGRATION = re.compile(r"^/api/v2/integrations/([^/]+)$")
_INTEGRATION_CONFIG = re.compile(r"^/api/v2/integrations/([^/]+)/config/current$")
# The permission each integrations route needs, as Genesys names it in a 403.
INTEGRATION_PERMISSIONS = {
    "GET": "integrations:integration:view",
    "POST": "integrations:integration:add",
    "PUT": "integrations:integration:edit",
    "PATCH": "integrations:integration:edit",
}
_LIMITS = "/api/v2/organizations/limits/namespaces"
_ORG = "/api/v2/organizations/me"
LIMIT_NAMESPACES = ("platform.api", "analytics")
THROTTLED = {"message": "Rate limit exceeded the maximum. Retry the request in [{seconds}] seconds",
             "code": "too.many.requests.retry.after", "status": 429}  # fmt: skip
IN_PROCESS_URL = "http://genesys-simulator.invalid"  # base URL of the in-process transport (never resolved)


@dataclass(frozen=True, slots=True)
class SimulatorOptions:
    client_id: str = "gcevents-sim"
    client_secret: str = field(default="gcevents-sim-secret", repr=False)
    # More OAuth clients of the org, (id, secret) pairs, each with its own tokens: a deployment may spread its calls
    # over several (GENESYS_CLIENT_ID=a,b). `settings()` and `env()` then name them all.
    extra_clients: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port (tests); the CLI picks a fixed one
    token_expires_in: int = 86399  # seconds; an expired token is answered with 401
    rate_limit_per_minute: int | None = 300  # requests per window (per token, or per client); None: unlimited
    rate_window_seconds: float = 60.0  # shorter windows make rate-limit tests fast
    rate_limit_scope: str = "token"  # "token": each token has its budget; "client": all tokens of a client share one
    # What the limits API publishes, when it differs from what is enforced (a budget others share for a while: the
    # org's published limit stays while 429s come sooner). None: the enforced per-token rate.
    published_limit_per_minute: int | None = None
    limits_status: int = 200  # the limits API's answer (403, 500 ...: the client must fall back to its configuration)
    org_id: str = "5f8a2c3e-1b4d-4e6f-9a7b-0c1d2e3f4a5b"  # GET /api/v2/organizations/me: the org of every token
    org_status: int = 200  # that call's answer (403 ...: the caller must do without the org id)
    latency_ms: float = 0.0  # added to every API answer
    error_rate: float = 0.0  # fraction of API requests answered with `error_status`
    error_status: int = 503
    slow_rate: float = 0.0  # fraction of API requests that take an extra `slow_ms`
    slow_ms: float = 1000.0
    lagging_ids: frozenset[str] = frozenset()  # conversations analytics does not know for `lag_lookups` lookups
    lagging_fraction: float = 0.0  # ... and this fraction of all conversations (chosen by hash)
    lag_lookups: int = 1
    unknown_ids: frozenset[str] = frozenset()  # conversations that never exist (404, omitted from bulk)
    max_ids_per_request: int = 100  # bulk calls with more ids get a 400
    # Integrations API: permissions the OAuth client lacks (its calls get 403 naming them), and how many config
    # PUTs meet a concurrent edit first (the version moves on, the PUT gets 409 for its stale version).
    missing_permissions: frozenset[str] = frozenset()
    config_conflicts: int = 0
    seed: int = 0  # fault injection is drawn from a Random(seed)
    job_pending_polls: int = 1  # analytics jobs: status reads answered PENDING before FULFILLED
    jobs_availability_lag_seconds: float = 0.0  # analytics jobs see data up to now minus this (the data lake lags)


# ------------------------------------------------------------------------------------------- conversation data
def _rng_for(conversation_id: str) -> random.Random:
    digest = hashlib.sha256(conversation_id.encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _pool_id(kind: str, index: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"gcevents-sim/{kind}/{index}"))


def _child_id(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


QUEUES = tuple(_pool_id("queue", i) for i in range(6))
AGENTS = tuple(_pool_id("user", i) for i in range(40))
WRAPUP_CODES = tuple(_pool_id("wrapup", i) for i in range(8))
DIVISION = _pool_id("division", 0)


def analytics_conversation(conversation_id: str) -> dict[str, Any]:
    """Deterministic analytics conversation details for an id (same id -> same document, every run)."""
    rng = _rng_for(conversation_id)
    media = rng.choice(MEDIA_TYPES)
    start = _EPOCH + timedelta(seconds=rng.randrange(365 * 86400), milliseconds=rng.randrange(1000))
    queue_wait = timedelta(seconds=rng.randint(0, 300))
    talk = timedelta(seconds=rng.randint(20, 1200))
    acw = timedelta(seconds=rng.randint(0, 120))
    answered = start + queue_wait
    end = answered + talk
    queue_id = rng.choice(QUEUES)
    user_id = rng.choice(AGENTS)
    wrapup_code = rng.choice(WRAPUP_CODES)
    direction = "outbound" if media == "callback" else "inbound"
    customer_address = f"tel:+1555{rng.randrange(10**7):07d}" if media in ("voice", "callback") else "customer"
    return {
        "conversationId": conversation_id,
        "conversationStart": iso_z(start),
        "conversationEnd": iso_z(end + acw),
        "originatingDirection": direction,
        "divisionIds": [DIVISION],
        "participants": [
            {
                "participantId": _child_id(rng),
                "participantName": f"Customer {rng.randrange(10000)}",
                "purpose": "customer",
                "sessions": [{
                    "sessionId": _child_id(rng), "mediaType": media, "direction": direction,
                    "ani": customer_address, "dnis": "tel:+18005550100",
                    "segments": [{"segmentStart": iso_z(start), "segmentEnd": iso_z(end),
                                  "segmentType": "interact", "disconnectType": "peer"}],
                }],
            },
            {
                "participantId": _child_id(rng),
                "participantName": "Queue",
                "purpose": "acd",
                "sessions": [{
                    "sessionId": _child_id(rng), "mediaType": media, "direction": direction,
                    "segments": [{"segmentStart": iso_z(start), "segmentEnd": iso_z(answered),
                                  "segmentType": "delay", "queueId": queue_id}],
                }],
            },
            {
                "participantId": _child_id(rng),
                "participantName": f"Agent {AGENTS.index(user_id)}",
                "purpose": "agent",
                "userId": user_id,
                "sessions": [{
                    "sessionId": _child_id(rng), "mediaType": media, "direction": direction,
                    "segments": [
                        {"segmentStart": iso_z(answered - timedelta(seconds=5)), "segmentEnd": iso_z(answered),
                         "segmentType": "alert", "queueId": queue_id},
                        {"segmentStart": iso_z(answered), "segmentEnd": iso_z(end),
                         "segmentType": "interact", "queueId": queue_id, "disconnectType": "client"},
                        {"segmentStart": iso_z(end), "segmentEnd": iso_z(end + acw),
                         "segmentType": "wrapup", "queueId": queue_id, "wrapUpCode": wrapup_code},
                    ],
                }],
            },
        ],
    }  # fmt: skip


def live_conversation(conversation_id: str) -> dict[str, Any]:
    """`GET /api/v2/conversations/{id}` shape (simplified), consistent with the analytics document."""
    details = analytics_conversation(conversation_id)
    rng = _rng_for(conversation_id + "/live")
    participants: list[dict[str, Any]] = []
    for participant in details["participants"]:
        session = participant["sessions"][0]
        segments = session["segments"]
        entry: dict[str, Any] = {
            "id": participant["participantId"],
            "name": participant["participantName"],
            "purpose": participant["purpose"],
            "startTime": segments[0]["segmentStart"],
            "endTime": segments[-1]["segmentEnd"],
            "attributes": {},
        }
        queue_id = next((s["queueId"] for s in segments if "queueId" in s), None)
        if queue_id:
            entry["queueId"] = queue_id
        if participant["purpose"] == "customer":
            entry["address"] = session.get("ani", "")
            entry["attributes"] = {"accountTier": rng.choice(["gold", "silver", "bronze"]),
                                   "language": rng.choice(["en-US", "es-US", "fr-CA"])}  # fmt: skip
        if participant["purpose"] == "agent":
            entry["userId"] = participant["userId"]
            entry["wrapup"] = {"code": segments[-1]["wrapUpCode"], "durationSeconds": 0}
        participants.append(entry)
    return {
        "id": conversation_id,
        "startTime": details["conversationStart"],
        "endTime": details["conversationEnd"],
        "divisions": [{"division": {"id": DIVISION}, "entities": []}],
        "participants": participants,
    }


# ---------------------------------------------------------------------------------------------- server state
@dataclass(slots=True)
class _Window:
    started: float
    count: int = 0


class _State:
    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.rng = random.Random(options.seed)
        self.tokens: dict[str, float] = {}  # token -> expires at (monotonic)
        self.issued: list[str] = []  # every token ever issued, for leak checks
        self.token_names: dict[str, str] = {}  # token -> "<client id>#<n>": the n-th token of that client
        self.token_calls: Counter[str] = Counter()  # API calls authorized, per token name
        self.token_throttled: Counter[str] = Counter()  # ... of which answered 429
        self.windows: dict[str, _Window] = {}
        self.lookups: Counter[str] = Counter()  # analytics lookups per conversation id (for the lag)
        self.calls: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.integrations: dict[str, dict[str, Any]] = {}  # id -> the integration entity
        self.configs: dict[str, dict[str, Any]] = {}  # id -> its current config (with `version`)
        self.conflicts_left = options.config_conflicts
        # Conversations the simulator was given (`register_conversations`): the details query and jobs page over
        # them, and lookups answer them instead of the document derived from the id.
        self.analytics = AnalyticsIndex(
            clock=time.time, pending_polls=options.job_pending_polls,
            availability_lag=options.jobs_availability_lag_seconds,
        )  # fmt: skip

    def details(self, conversation_id: str) -> dict[str, Any]:
        return self.analytics.document(conversation_id) or analytics_conversation(conversation_id)

    def lagging(self, conversation_id: str) -> bool:
        options = self.options
        if conversation_id in options.lagging_ids:
            return True
        if options.lagging_fraction <= 0:
            return False
        digest = hashlib.sha256(b"lag/" + conversation_id.encode()).digest()
        return int.from_bytes(digest[:4], "big") / 2**32 < options.lagging_fraction

    def analytics_available(self, conversation_id: str) -> bool:
        """Counts one lookup; a lagging conversation becomes visible after `lag_lookups` lookups."""
        if conversation_id in self.options.unknown_ids:
            return False
        with self.lock:
            seen = self.lookups[conversation_id]
            self.lookups[conversation_id] += 1
        return not self.lagging(conversation_id) or seen >= self.options.lag_lookups

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            total = sum(self.calls.values())
            return {
                "calls": dict(self.calls),  # per route, token requests included
                "api_calls": total,
                "total_calls": total,
                "tokens_issued": self.counters["tokens_issued"],
                "rate_limited": self.counters["rate_limited"],  # 429s sent
                "server_errors": self.counters["server_errors"],  # injected 5xx sent
                "errors_injected": self.counters["server_errors"],
                "slow_responses": self.counters["slow_responses"],
                "unauthorized": self.counters["unauthorized"],
                "bad_requests": self.counters["bad_requests"],
                "ids_requested": self.counters["ids_requested"],
                # Per token, named "<client id>#<n>" (tokens themselves are credentials): API calls that passed
                # auth, and the 429s among them.
                "calls_per_token": dict(self.token_calls),
                "throttled_per_token": dict(self.token_throttled),
                "tokens_per_client": dict(Counter(_client_of(name) for name in self.token_names.values())),
            }

    def add_integration(self, type_id: str, name: str, properties: dict[str, Any] | None = None) -> dict[str, Any]:
        """Create an integration (disabled) with config version 1. Called with the lock held."""
        iid = str(uuid.uuid4())
        entity = {
            "id": iid, "name": name, "integrationType": {"id": type_id}, "notes": "",
            "intendedState": "DISABLED", "reportedState": {"code": "INACTIVE"},
            "config": {"current": {"id": iid}}, "selfUri": f"{_INTEGRATIONS}/{iid}",
        }  # fmt: skip
        self.integrations[iid] = entity
        self.configs[iid] = {"id": iid, "name": name, "version": 1, "properties": dict(properties or {}),
                             "advanced": {}, "notes": "", "credentials": {}}  # fmt: skip
        return entity

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.counters.clear()
            self.lookups.clear()
            self.token_calls.clear()
            self.token_throttled.clear()
            self.rng = random.Random(self.options.seed)


@dataclass(slots=True)
class _Answer:
    status: int
    document: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class _TimedOut(Exception):
    """The answer would arrive after the caller's read timeout (in-process transport only)."""


class _Api:
    """The simulated API, free of sockets: one request in (method, target, lower-case headers, body), one answer
    out. The HTTP server and the in-process httpx transport are two thin adapters over it."""

    def __init__(self, state: _State, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        self.state = state
        self._clock = clock  # monotonic seconds: token expiry and rate windows
        self._sleep = sleep  # latency and slow answers

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, *, read_timeout: float | None = None
    ) -> _Answer:
        """`read_timeout` (in-process only): a slower answer raises _TimedOut after that long, as a socket would."""
        parts = urlsplit(target)
        if method == "GET":
            return self._get(parts.path, parts.query, headers, read_timeout)
        if method == "POST":
            return self._post(parts.path, headers, body)
        if method in ("PUT", "PATCH"):
            return self._integrations(method, parts.path, "", headers, body, read_timeout)
        return _Answer(501, {"message": f"unsupported method {method}", "code": "not.implemented", "status": 501})

    def _get(self, raw_path: str, query: str, headers: dict[str, str], read_timeout: float | None) -> _Answer:
        path = unquote(raw_path) if raw_path.startswith("/stats") else raw_path
        if path == "/stats":
            return _Answer(200, self.state.snapshot())
        if path == _BULK:
            return self._api("GET " + _BULK, headers, read_timeout, lambda: self._bulk(query))
        if path == _LIMITS or path.startswith(_LIMITS + "/"):
            namespace = unquote(path[len(_LIMITS) + 1 :]) if path != _LIMITS else None
            return self._api(f"GET {_LIMITS}/{{name}}", headers, read_timeout, lambda: self._limits(namespace))
        if path == _ORG:
            return self._api("GET " + _ORG, headers, read_timeout, self._organization)
        if path.startswith(JOBS_PATH + "/"):
            jobs = self.state.analytics
            return self._api("GET " + JOBS_PATH + "/*", headers, read_timeout, lambda: jobs.job(path, query))
        if match := _DETAILS_ONE.match(path):
            cid = unquote(match.group(1))
            route = "GET /api/v2/analytics/conversations/{id}/details"
            return self._api(route, headers, read_timeout, lambda: self._details(cid))
        if match := _CONVERSATION.match(path):
            cid = unquote(match.group(1))
            return self._api("GET /api/v2/conversations/{id}", headers, read_timeout, lambda: self._conversation(cid))
        if path.startswith(_INTEGRATIONS):
            return self._integrations("GET", path, query, headers, b"", read_timeout)
        return _Answer(404, {"message": f"no route for GET {path}", "code": "not.found", "status": 404})

    def _post(self, path: str, headers: dict[str, str], body: bytes) -> _Answer:
        if path == "/stats/reset":
            self.state.reset()
            return _Answer(200, {"reset": True})
        if path == "/oauth/token":
            return self._token(headers, body)
        if path.startswith(_INTEGRATIONS):
            return self._integrations("POST", path, "", headers, body, None)
        if path in (QUERY_PATH, JOBS_PATH):
            index = self.state.analytics
            answer = index.query if path == QUERY_PATH else index.submit
            return self._api("POST " + path, headers, None, lambda: answer(body))
        return _Answer(404, {"message": f"no route for POST {path}", "code": "not.found", "status": 404})

    def _integrations(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes, read_timeout: float | None
    ) -> _Answer:
        found = _Integrations(self.state).route(method, path, query, body)
        if found is None:
            return _Answer(404, {"message": f"no route for {method} {path}", "code": "not.found", "status": 404})
        route, answer = found
        permission = INTEGRATION_PERMISSIONS[method]

        def guarded() -> tuple[int, dict[str, Any]]:
            if permission in self.state.options.missing_permissions:
                return 403, {
                    "message": f"You are missing the following permission(s): [{permission}]",
                    "code": "missing.permissions", "status": 403, "messageParams": {"permissions": permission},
                }  # fmt: skip
            with self.state.lock:
                return answer()

        return self._api(route, headers, read_timeout, guarded)

    # ------------------------------------------------------------------------------------------ oauth
    def _token(self, headers: dict[str, str], body: bytes) -> _Answer:
        state = self.state
        options = state.options
        with state.lock:
            state.calls["POST /oauth/token"] += 1
        client_id = _basic_auth_client(headers, options)
        if client_id is None:
            with state.lock:
                state.counters["unauthorized"] += 1
            return _Answer(401, {"error": "invalid_client", "description": "client authentication failed"})
        form = parse_qs(body.decode("utf-8", "replace"))
        if form.get("grant_type") != ["client_credentials"]:
            return _Answer(400, {"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(32)
        with state.lock:
            state.tokens[token] = self._clock() + options.token_expires_in
            state.issued.append(token)
            state.counters["tokens_issued"] += 1
            issued = sum(1 for name in state.token_names.values() if _client_of(name) == client_id)
            state.token_names[token] = f"{client_id}#{issued + 1}"
        return _Answer(200, {"access_token": token, "token_type": "bearer", "expires_in": options.token_expires_in})

    # ------------------------------------------------------------------------------------------ API
    def _api(
        self,
        route: str,
        headers: dict[str, str],
        read_timeout: float | None,
        answer: Callable[[], tuple[int, dict[str, Any]]],
    ) -> _Answer:
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
            return _Answer(401, {"message": "Authentication failed", "code": "bad.credentials", "status": 401})
        assert token is not None
        limited_for = self._rate_limit(token, now)
        if limited_for is not None:
            seconds = max(1, math.ceil(limited_for))
            document = {**THROTTLED, "message": str(THROTTLED["message"]).format(seconds=seconds)}
            return _Answer(429, document, {"Retry-After": str(seconds)})
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
            return _Answer(status, document)
        if slow:
            self._pause(options.slow_ms / 1000, read_timeout)
        status, document = answer()
        return _Answer(status, document)

    def _pause(self, seconds: float, read_timeout: float | None) -> None:
        if read_timeout is not None and seconds > read_timeout:
            self._sleep(read_timeout)
            raise _TimedOut
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
            key = token if options.rate_limit_scope == "token" else f"client:{_client_of(name)}"
            window = state.windows.get(key)
            if window is None or now - window.started >= options.rate_window_seconds:
                window = state.windows[key] = _Window(started=now)
            if window.count < options.rate_limit_per_minute:
                window.count += 1
                return None
            state.counters["rate_limited"] += 1
            state.token_throttled[name] += 1
            return window.started + options.rate_window_seconds - now

    def _organization(self) -> tuple[int, dict[str, Any]]:
        options = self.state.options
        if options.org_status != 200:
            return options.org_status, {"message": "organization unavailable", "code": "forbidden",
                                        "status": options.org_status}  # fmt: skip
        return 200, {"id": options.org_id, "name": "gcevents-simulator", "state": "active"}

    def _limits(self, namespace: str | None) -> tuple[int, dict[str, Any]]:
        """The limits API: the namespaces, or a namespace's effective limits (the per-token request rate the
        simulator enforces, per minute, in `platform.api`)."""
        options = self.state.options
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
            entities.append({"key": "client.credentials.token.rate.per.minute", "namespace": namespace,
                             "value": per_minute})  # fmt: skip
        return 200, {"entities": entities}

    def _bulk(self, query: str) -> tuple[int, dict[str, Any]]:
        state = self.state
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

    def _details(self, conversation_id: str) -> tuple[int, dict[str, Any]]:
        state = self.state
        with state.lock:
            state.counters["ids_requested"] += 1
        if not state.analytics_available(conversation_id):
            return 404, {"message": "Conversation not found", "code": "not.found", "status": 404}
        return 200, state.details(conversation_id)

    def _conversation(self, conversation_id: str) -> tuple[int, dict[str, Any]]:
        if conversation_id in self.state.options.unknown_ids:
            return 404, {"message": "Conversation not found", "code": "not.found", "status": 404}
        return 200, live_conversation(conversation_id)


# ---------------------------------------------------------------------------------------------- integrations
class _Integrations:
    """`/api/v2/integrations` (GET paged list, POST create), `/{id}` (GET, PATCH intendedState) and
    `/{id}/config/current` (GET, PUT with the current `version`, else 409). Called with the state's lock held."""

    def __init__(self, state: _State) -> None:
        self.state = state

    def route(
        self, method: str, path: str, query: str, body: bytes
    ) -> tuple[str, Callable[[], tuple[int, dict[str, Any]]]] | None:
        if path == _INTEGRATIONS and method == "GET":
            return f"GET {_INTEGRATIONS}", lambda: self.list(query)
        if path == _INTEGRATIONS and method == "POST":
            return f"POST {_INTEGRATIONS}", lambda: self.create(body)
        if (match := _INTEGRATION.match(path)) and method in ("GET", "PATCH"):
            iid = unquote(match.group(1))
            answer = (lambda: self.get(iid)) if method == "GET" else (lambda: self.patch(iid, body))
            return f"{method} {_INTEGRATIONS}/{{id}}", answer
        if (match := _INTEGRATION_CONFIG.match(path)) and method in ("GET", "PUT"):
            iid = unquote(match.group(1))
            answer = (lambda: self.config(iid)) if method == "GET" else (lambda: self.put_config(iid, body))
            return f"{method} {_INTEGRATIONS}/{{id}}/config/current", answer
        return None

    @staticmethod
    def _json_body(body: bytes) -> dict[str, Any] | None:
        try:
            document = json.loads(body or b"")
        except ValueError:
            return None
        return document if isinstance(document, dict) else None

    def list(self, query: str) -> tuple[int, dict[str, Any]]:
        params = parse_qs(query)
        try:
            size = max(1, min(100, int(params.get("pageSize", ["25"])[0])))
            number = max(1, int(params.get("pageNumber", ["1"])[0]))
        except ValueError:
            return 400, {"message": "bad paging", "code": "bad.request", "status": 400}
        everything = sorted(self.state.integrations.values(), key=lambda e: (e["name"], e["id"]))
        page = everything[(number - 1) * size : number * size]
        return 200, {
            "entities": [dict(e) for e in page], "pageSize": size, "pageNumber": number,
            "total": len(everything), "pageCount": max(1, math.ceil(len(everything) / size)),
        }  # fmt: skip

    def create(self, body: bytes) -> tuple[int, dict[str, Any]]:
        document = self._json_body(body) or {}
        integration_type = document.get("integrationType")
        type_id = integration_type.get("id") if isinstance(integration_type, dict) else None
        if not isinstance(type_id, str) or not type_id:
            return 400, {"message": "integrationType.id is required", "code": "bad.request", "status": 400}
        entity = self.state.add_integration(type_id, str(document.get("name") or type_id))
        return 200, dict(entity)

    def get(self, iid: str) -> tuple[int, dict[str, Any]]:
        entity = self.state.integrations.get(iid)
        if entity is None:
            return 404, {"message": "Integration not found", "code": "not.found", "status": 404}
        return 200, dict(entity)

    def patch(self, iid: str, body: bytes) -> tuple[int, dict[str, Any]]:
        entity = self.state.integrations.get(iid)
        if entity is None:
            return 404, {"message": "Integration not found", "code": "not.found", "status": 404}
        state = (self._json_body(body) or {}).get("intendedState")
        if state not in ("ENABLED", "DISABLED", "DELETED"):
            return 400, {"message": "intendedState must be ENABLED, DISABLED or DELETED", "code": "bad.request",
                         "status": 400}  # fmt: skip
        entity["intendedState"] = state
        entity["reportedState"] = {"code": "ACTIVE" if state == "ENABLED" else "INACTIVE"}
        return 200, dict(entity)

    def config(self, iid: str) -> tuple[int, dict[str, Any]]:
        config = self.state.configs.get(iid)
        if config is None:
            return 404, {"message": "Integration not found", "code": "not.found", "status": 404}
        return 200, json.loads(json.dumps(config))

    def put_config(self, iid: str, body: bytes) -> tuple[int, dict[str, Any]]:
        state = self.state
        config = state.configs.get(iid)
        if config is None:
            return 404, {"message": "Integration not found", "code": "not.found", "status": 404}
        document = self._json_body(body)
        if document is None or not isinstance(document.get("properties"), dict):
            return 400, {"message": "properties is required", "code": "bad.request", "status": 400}
        if state.conflicts_left > 0:  # someone else saved the config just before this request
            state.conflicts_left -= 1
            config["version"] += 1
        if document.get("version") != config["version"]:
            stale = f"version {document.get('version')!r} is stale; the current version is {config['version']}"
            return 409, {"message": stale, "code": "conflict", "status": 409}
        config.update(
            name=str(document.get("name") or config["name"]), properties=document["properties"],
            advanced=document.get("advanced") or {}, notes=str(document.get("notes") or ""),
            credentials=document.get("credentials") or {}, version=config["version"] + 1,
        )  # fmt: skip
        return 200, json.loads(json.dumps(config))


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


def _client_of(token_name: str) -> str:
    return token_name.partition("#")[0]


def _payload(answer: _Answer) -> tuple[bytes, dict[str, str]]:
    """The body and headers an answer goes out with, whichever the transport."""
    payload = json.dumps(answer.document, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(payload)),
        "inin-correlation-id": str(uuid.uuid4()),
        **answer.headers,
    }
    return payload, headers


# ---------------------------------------------------------------------------------------------- transports
class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # 50 threads connecting at once must not see refused connections

    def __init__(self, address: tuple[str, int], api: _Api) -> None:
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
    server: _Server

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
        payload, response_headers = _payload(answer)
        self.send_response(answer.status)
        for name, value in response_headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)


# ------------------------------------------------------------------------------------------------- public
class GenesysSimulator:
    """The simulator in a background thread. `with GenesysSimulator(options) as sim: sim.base_url`."""

    def __init__(
        self,
        options: SimulatorOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`clock` (monotonic seconds: token expiry, rate windows) and `sleep` (latency, slow answers) are seams:
        with `transport()` and a fake clock, a test runs without sockets or waiting."""
        self._state = _State(options or SimulatorOptions())
        self._api = _Api(self._state, clock=clock, sleep=sleep)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._in_process = False

    @property
    def options(self) -> SimulatorOptions:
        return self._state.options

    def start(self) -> GenesysSimulator:
        if self._server is None:
            options = self._state.options
            self._server = _Server((options.host, options.port), self._api)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                name="genesys-simulator", daemon=True,
            )  # fmt: skip
            self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> GenesysSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """The server's URL once started; IN_PROCESS_URL once `transport()` was asked for."""
        if self._server is not None:
            host, port = self._server.server_address[:2]
            return f"http://{host!s}:{port}"
        if self._in_process:
            return IN_PROCESS_URL
        raise RuntimeError("the simulator is not running (start() it, or use transport())")

    def transport(self) -> httpx.MockTransport:
        """The same simulator without a socket: an httpx transport that answers in the calling thread (use it
        with `base_url` / `settings()`). A slow answer longer than the request's read timeout raises
        httpx.ReadTimeout after sleeping that long, as a socket would."""
        import httpx

        def answer(request: httpx.Request) -> httpx.Response:
            timeout = request.extensions.get("timeout") or {}
            headers = {name.lower(): value for name, value in request.headers.items()}
            try:
                result = self._api.handle(
                    request.method, request.url.raw_path.decode("ascii"), headers, request.read(),
                    read_timeout=timeout.get("read"),
                )  # fmt: skip
            except _TimedOut as exc:
                raise httpx.ReadTimeout("simulated slow answer", request=request) from exc
            payload, response_headers = _payload(result)
            return httpx.Response(result.status, headers=response_headers, content=payload)

        self._in_process = True
        return httpx.MockTransport(answer)

    def stats(self) -> dict[str, Any]:
        """Calls per route, tokens issued, 429s and 5xx sent (the same document as GET /stats)."""
        return self._state.snapshot()

    def reset_stats(self) -> None:
        self._state.reset()

    def update(self, **changes: Any) -> None:
        """Change options while running (e.g. turn faults on mid-test)."""
        with self._state.lock:
            self._state.options = dataclasses.replace(self._state.options, **changes)
            if "config_conflicts" in changes:
                self._state.conflicts_left = changes["config_conflicts"]

    def add_integration(self, type_id: str, name: str, properties: dict[str, Any] | None = None) -> str:
        """Seed an integration (disabled, config version 1), e.g. to make the list span pages; returns its id."""
        with self._state.lock:
            return str(self._state.add_integration(type_id, name, properties)["id"])

    def integrations(self) -> list[dict[str, Any]]:
        """Every integration with its current config under `configCurrent` (a copy)."""
        with self._state.lock:
            return [
                {**json.loads(json.dumps(entity)), "configCurrent": json.loads(json.dumps(self._state.configs[iid]))}
                for iid, entity in self._state.integrations.items()
            ]

    def edit_integration_config(self, integration_id: str, **properties: Any) -> None:
        """Another admin saves the config: properties change and the version moves on."""
        with self._state.lock:
            config = self._state.configs[integration_id]
            config["properties"].update(properties)
            config["version"] += 1

    def register_conversations(self, documents: Any) -> None:
        """Analytics conversation documents (e.g. `testing.workload`'s, which agree with its events): the details
        query and jobs page over them, and lookups of their ids answer them."""
        self._state.analytics.register(documents)

    def revoke_tokens(self, client_id: str | None = None) -> None:
        """Invalidate every issued token (or every token of `client_id`), as an expiry or a revocation would: the
        next calls with them get 401."""
        state = self._state
        with state.lock:
            revoked = [t for t in state.tokens if client_id is None or _client_of(state.token_names[t]) == client_id]
            for token in revoked:
                del state.tokens[token]
                state.windows.pop(token, None)
            if client_id is None:
                state.windows.clear()

    def issued_tokens(self) -> list[str]:
        """Every token issued so far, revoked ones included (for leak checks in tests)."""
        with self._state.lock:
            return list(self._state.issued)

    def settings(self, **overrides: Any) -> GenesysSettings:
        """Client settings pointing at this simulator with its credentials (all its clients, if it has several)."""
        options = self._state.options
        credentials: dict[str, Any] = {"client_id": options.client_id, "client_secret": self._secret_text()}
        if options.extra_clients:
            credentials["client_ids"] = (options.client_id, *(cid for cid, _ in options.extra_clients))
        return GenesysSettings.for_base_url(self.base_url, **{**credentials, **overrides})

    def _secret_text(self) -> str:
        """The secret as a deployment holds it: one client's, or the JSON map of several."""
        options = self._state.options
        if not options.extra_clients:
            return options.client_secret
        return json.dumps({options.client_id: options.client_secret, **dict(options.extra_clients)})

    def env(self) -> dict[str, str]:
        """The environment an entry point needs to use this simulator."""
        options = self._state.options
        return {
            "GENESYS_CLIENT_ID": ",".join((options.client_id, *(cid for cid, _ in options.extra_clients))),
            "GENESYS_CLIENT_SECRET": self._secret_text(),
            "GENESYS_API_BASE_URL": self.base_url,
            "GENESYS_LOGIN_BASE_URL": self.base_url,
        }
