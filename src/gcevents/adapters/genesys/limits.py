"""The org's effective Genesys limits, read from the limits API at a container's first call and every 15 minutes.

`GET /api/v2/organizations/limits/namespaces/{namespaceName}` (no permission needed) answers
`{"entities": [{"key": ..., "namespace": ..., "value": ...}, ...]}` (the platform SDKs' LimitsEntityListing).
The calls we make are bounded per client-credentials token by `client.credentials.token.rate.per.minute`
(namespace `platform.api`, 300 by default) and, for the analytics conversation endpoints, by the
`lmt.an.cnvr.*token.rate.per.minute` keys (namespace `analytics`); the tightest one present is the budget of a
token. When the API refuses or fails, the configured value stands (`GENESYS_API_LIMIT`)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)

LIMITS_PATH = "/api/v2/organizations/limits/namespaces/{namespace}"
# (namespace, key) of the per-token request rates that bound the endpoints we call.
TOKEN_RATE_KEYS = (
    ("platform.api", "client.credentials.token.rate.per.minute"),
    ("analytics", "lmt.an.cnvr.client.credentials.token.rate.per.minute"),
    ("analytics", "lmt.an.cnvr.token.rate.per.minute"),
)


@dataclass(frozen=True, slots=True)
class TokenLimit:
    per_minute: float
    source: str  # "limits_api" (with the keys that set it) or "configuration"
    keys: tuple[str, ...] = ()


def read_token_limit(get: Callable[[str], httpx.Response], fallback: float) -> TokenLimit:
    """Ask each namespace once (`get(path)` sends the request with the client's auth); the smallest per-token
    rate found, or `fallback` when nothing usable came back. Never raises: pacing must start either way."""
    found: dict[str, float] = {}
    for namespace in dict.fromkeys(ns for ns, _ in TOKEN_RATE_KEYS):
        wanted = {key for ns, key in TOKEN_RATE_KEYS if ns == namespace}
        response = _get_once_more_on_failure(get, LIMITS_PATH.format(namespace=namespace))
        if response is None or response.status_code != 200:
            status = response.status_code if response is not None else None
            log.warning("genesys limits API refused or failed", extra={"namespace": namespace, "status": status})
            continue
        found.update(_values(_entities(response), wanted))
    if not found:
        return TokenLimit(fallback, "configuration")
    tightest = min(found.values())
    keys = tuple(sorted(key for key, value in found.items() if value == tightest))
    log.info("genesys limits read", extra={"perMinute": tightest, "keys": list(keys)})
    return TokenLimit(tightest, "limits_api", keys)


def _get_once_more_on_failure(get: Callable[[str], httpx.Response], path: str) -> httpx.Response | None:
    """A second try after a 5xx, a timeout or a connection error (not after a refusal: 4xx stands)."""
    response: httpx.Response | None = None
    for _ in range(2):
        try:
            response = get(path)
        except Exception as exc:  # the token endpoint down, a timeout: once more, then the configured limit
            log.info("genesys limits API failed", extra={"path": path, "error": type(exc).__name__})
            response = None
            continue
        if response.status_code < 500:
            return response
    return response


def _entities(response: httpx.Response) -> list[Any]:
    try:
        document = response.json()
    except ValueError:
        return []
    entities = document.get("entities") if isinstance(document, dict) else None
    return entities if isinstance(entities, list) else []


def _values(entities: Iterable[Any], wanted: set[str]) -> dict[str, float]:
    values = {}
    for entity in entities:
        if not isinstance(entity, dict) or entity.get("key") not in wanted:
            continue
        value = entity.get("value")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            values[str(entity["key"])] = float(value)
    return values
