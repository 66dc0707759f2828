"""Genesys Cloud: a thin httpx client, batch enrichment within rate limits, and an API simulator.

Importing this package loads httpx and the stdlib only. The simulator (`gcevents.genesys.simulator`) and the CLI
(`gcevents.genesys.cli`) are imported on demand, never on the Lambda path."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .auth import clear_secret_cache
from .client import ClientStats, GenesysAuthError, GenesysClient, GenesysRequestError
from .enricher import GenesysEnricher
from .ratelimit import RateLimiter
from .settings import REGION_DOMAINS, GenesysSettings, Secret, genesys_settings_from_env

if TYPE_CHECKING:
    from .simulator import GenesysSimulator, SimulatorOptions

__all__ = [
    "REGION_DOMAINS",
    "ClientStats",
    "GenesysAuthError",
    "GenesysClient",
    "GenesysEnricher",
    "GenesysRequestError",
    "GenesysSettings",
    "GenesysSimulator",
    "RateLimiter",
    "Secret",
    "SimulatorOptions",
    "clear_secret_cache",
    "genesys_settings_from_env",
]


def __getattr__(name: str) -> Any:
    # The simulator (http.server and friends) loads only when asked for: never on the Lambda path.
    if name in ("GenesysSimulator", "SimulatorOptions"):
        from . import simulator

        return getattr(simulator, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
