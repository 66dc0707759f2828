"""Genesys Cloud: a thin httpx client (OAuth client credentials, pacing, bounded retries) and the bulk enricher.

Importing this package loads httpx and the stdlib only: it is on the Lambda cold-start path. The API simulator
lives in `gcevents.testing.genesys`."""

from gcevents.adapters.genesys.auth import clear_secret_cache
from gcevents.adapters.genesys.client import ClientStats, GenesysAuthError, GenesysClient, GenesysRequestError
from gcevents.adapters.genesys.enricher import GenesysEnricher
from gcevents.adapters.genesys.limiter import RateLimiter
from gcevents.adapters.genesys.settings import REGION_DOMAINS, GenesysSettings, Secret

__all__ = [
    "REGION_DOMAINS",
    "ClientStats",
    "GenesysAuthError",
    "GenesysClient",
    "GenesysEnricher",
    "GenesysRequestError",
    "GenesysSettings",
    "RateLimiter",
    "Secret",
    "clear_secret_cache",
]
