"""What the simulator is told (`SimulatorOptions`) and what it holds while it runs (`SimulatorState`: tokens, rate
windows, counters, integrations, registered conversations), shared by its API routes and the simulator object."""

from __future__ import annotations

import hashlib
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from gcevents.testing.genesys.analytics import AnalyticsIndex
from gcevents.testing.genesys.data import analytics_conversation


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


@dataclass(slots=True)
class RateWindow:
    """A fixed rate-limit window: when it started (monotonic seconds) and the calls it has counted."""

    started: float
    count: int = 0


class SimulatorState:
    """Everything the simulator remembers; `lock` guards it (the HTTP server answers on many threads)."""

    def __init__(self, options: SimulatorOptions) -> None:
        self.options = options
        self.lock = threading.Lock()
        self.rng = random.Random(options.seed)
        self.tokens: dict[str, float] = {}  # token -> expires at (monotonic)
        self.issued: list[str] = []  # every token ever issued, for leak checks
        self.token_names: dict[str, str] = {}  # token -> "<client id>#<n>": the n-th token of that client
        self.token_calls: Counter[str] = Counter()  # API calls authorized, per token name
        self.token_throttled: Counter[str] = Counter()  # ... of which answered 429
        self.windows: dict[str, RateWindow] = {}
        self.lookups: Counter[str] = Counter()  # analytics lookups per conversation id (for the lag)
        self.calls: Counter[str] = Counter()
        self.counters: Counter[str] = Counter()
        self.integrations: dict[str, dict[str, Any]] = {}  # id -> the integration entity
        self.configs: dict[str, dict[str, Any]] = {}  # id -> its current config (with `version`)
        self.conflicts_left = options.config_conflicts
        # Conversations the simulator was given (`register_conversations`): the details query and jobs page over
        # them, and lookups answer them instead of the document derived from the id.
        self.analytics = AnalyticsIndex(
            clock=time.time,
            pending_polls=options.job_pending_polls,
            availability_lag=options.jobs_availability_lag_seconds,
        )

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
                "tokens_per_client": dict(Counter(client_of(name) for name in self.token_names.values())),
            }

    def reset(self) -> None:
        with self.lock:
            self.calls.clear()
            self.counters.clear()
            self.lookups.clear()
            self.token_calls.clear()
            self.token_throttled.clear()
            self.rng = random.Random(self.options.seed)


def client_of(token_name: str) -> str:
    """The client id of a token named "<client id>#<n>"."""
    return token_name.partition("#")[0]
