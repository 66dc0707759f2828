"""A Genesys Cloud API simulator: a real HTTP server (stdlib only) for tests, the demo and benchmarks, or the same
API in-process as an httpx transport (`transport()`, no socket) with an injectable clock for fast tests.

It imitates what our client relies on: OAuth client credentials (Basic auth, expiring bearer tokens), the
analytics details endpoints (bulk and single), the details query and jobs, and the live conversation endpoint,
with deterministic conversation data derived from the id; a rate limit per token or one shared by the client id,
answered as Genesys does since 2021 (429, `Retry-After`, body code `too.many.requests.retry.after`, and no
`inin-ratelimit-*` headers); the limits API that publishes that limit; the integrations API; seeded fault
injection (5xx, slow answers), analytics lag, and a per-call id limit.

    with GenesysSimulator(SimulatorOptions(rate_limit_per_minute=600)) as sim:
        client = GenesysClient(sim.settings())
        ...
        sim.stats()["calls"]

The modules: `data` (conversation documents derived from an id), `analytics` (the registered conversations, the
details query and jobs), `state` (options and what the simulator holds), `api` (OAuth, the guards and the route
table `ROUTES`), `integrations` (the integrations routes), `server` (the HTTP server), `simulator` (the object).
"""

from __future__ import annotations

from gcevents.testing.genesys.analytics import JOBS_PATH, QUERY_PATH, AnalyticsIndex
from gcevents.testing.genesys.api import LIMIT_NAMESPACES, THROTTLED
from gcevents.testing.genesys.data import (
    AGENTS,
    DIVISION,
    MEDIA_TYPES,
    QUEUES,
    WRAPUP_CODES,
    analytics_conversation,
    live_conversation,
)
from gcevents.testing.genesys.integrations import INTEGRATION_PERMISSIONS
from gcevents.testing.genesys.simulator import IN_PROCESS_URL, GenesysSimulator
from gcevents.testing.genesys.state import SimulatorOptions

__all__ = [
    "AGENTS",
    "DIVISION",
    "INTEGRATION_PERMISSIONS",
    "IN_PROCESS_URL",
    "JOBS_PATH",
    "LIMIT_NAMESPACES",
    "MEDIA_TYPES",
    "QUERY_PATH",
    "QUEUES",
    "THROTTLED",
    "WRAPUP_CODES",
    "AnalyticsIndex",
    "GenesysSimulator",
    "SimulatorOptions",
    "analytics_conversation",
    "live_conversation",
]
