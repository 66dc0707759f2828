"""Genesys Cloud connection settings: one frozen object. `gcevents.config` builds it from the GENESYS_*
variables, once per entry point.

Stdlib only: `gcevents.config` imports this on every cold start that has a Genesys client configured."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gcevents import variables as v
from gcevents.errors import ConfigError
from gcevents.secret import Secret
from gcevents.variables import REGION_DOMAINS, region_domain

__all__ = ["REGION_DOMAINS", "GenesysSettings", "Secret", "normalise_domain", "secret_for"]


@dataclass(frozen=True, slots=True)
class GenesysSettings:
    api_base_url: str
    login_base_url: str
    client_id: str  # the first (with one client: the only) OAuth client id
    # Exactly one of the two: the secret itself, or the Secrets Manager ARN it is read from (once per container).
    # With several client ids, the text is a JSON object of id -> secret (`secret_for` picks one).
    client_secret: Secret | None = field(default=None, repr=False)
    client_secret_arn: str | None = None
    # Every OAuth client whose tokens the calls are spread over (Genesys limits requests per token): `client_id`
    # first. Empty: just `client_id`, as before several clients existed.
    client_ids: tuple[str, ...] = ()
    domain: str | None = None  # informational; None when both base URLs were overridden
    bulk_chunk_size: int = 100  # ids per bulk analytics lookup; the API limit is undocumented, we split on 400/413
    # None: adaptive pacing (the org's limits from the limits API, or `api_limit`, then AIMD on 429s). A number:
    # the static override, requests/min for this client, as before adaptive pacing existed.
    rate_per_minute: int | None = None
    api_limit: int = 300  # requests/min per token assumed when the limits API cannot be read (Genesys' default)
    budget_scope: str = "token"  # "token": this client's own budget; "shared": one bucket for the fleet
    budget_table: str | None = None  # DynamoDB table of the shared bucket
    budget_share: float = 1.0  # fraction of the limit this deployment takes
    max_concurrency: int = 4  # bulk calls in flight at once (per client)
    connect_timeout: float = 3.0
    read_timeout: float = 10.0
    max_retries: int = 3  # per request, for 5xx / timeouts / connection errors / 429
    backoff_base: float = 0.25  # seconds; full jitter: sleep uniform(0, min(cap, base * 2**attempt))
    backoff_cap: float = 4.0
    max_wait: float = 20.0  # never wait longer than this for rate-limit budget, even when the deadline allows
    token_renew_margin: float = 300.0  # renew this long before `expires_in` ends (capped at 10% of the lifetime)
    default_timeout: float = 30.0  # deadline of single lookups made without one

    def __post_init__(self) -> None:
        """The ranges are the variables' own (`gcevents.variables`): one rule whether the settings come from the
        environment or from code."""
        for name, variable in (("api_base_url", v.GENESYS_API_BASE_URL), ("login_base_url", v.GENESYS_LOGIN_BASE_URL)):
            url = getattr(self, name)
            try:
                v.http_url(url)
            except ValueError as exc:
                raise ConfigError(f"{variable.name}={v.without_credentials(url)!r}: {exc}") from None
            object.__setattr__(self, name, url.rstrip("/"))
        self._check_client_ids()
        if (self.client_secret is None) == (self.client_secret_arn is None):
            raise ConfigError("set exactly one of GENESYS_CLIENT_SECRET and GENESYS_CLIENT_SECRET_ARN")
        if self.client_secret_arn is not None:
            v.GENESYS_CLIENT_SECRET_ARN.parse_text(self.client_secret_arn)
        ranges: tuple[tuple[v.Variable[Any], float], ...] = (
            (v.GENESYS_BULK_CHUNK, self.bulk_chunk_size),
            (v.GENESYS_RATE_PER_MINUTE, self.rate_per_minute or 0),
            (v.GENESYS_API_LIMIT, self.api_limit),
            (v.GENESYS_MAX_CONCURRENCY, self.max_concurrency),
            (v.GENESYS_CONNECT_TIMEOUT, self.connect_timeout),
            (v.GENESYS_READ_TIMEOUT, self.read_timeout),
            (v.GENESYS_MAX_RETRIES, self.max_retries),
            (v.GENESYS_MAX_WAIT, self.max_wait),
            (v.GENESYS_BUDGET_SHARE, self.budget_share),
        )
        for bounded, value in ranges:
            bounded.check(value)
        v.GENESYS_BUDGET_SCOPE.parse_text(self.budget_scope)
        for name in ("backoff_base", "backoff_cap", "token_renew_margin"):  # no variables: code only
            if not v.NON_NEGATIVE.allows(number := getattr(self, name)):
                raise ConfigError(f"Genesys {name} must be {v.NON_NEGATIVE.allowed}, got {number!r}")

    def _check_client_ids(self) -> None:
        if not self.client_id:
            raise ConfigError("GENESYS_CLIENT_ID is empty")
        if not self.client_ids:
            object.__setattr__(self, "client_ids", (self.client_id,))
        if self.client_ids[0] != self.client_id or not all(self.client_ids):
            raise ConfigError("GenesysSettings.client_ids must start with client_id and hold no empty id")
        if len(set(self.client_ids)) != len(self.client_ids):
            raise ConfigError(f"GENESYS_CLIENT_ID lists a client id twice: {', '.join(self.client_ids)}")

    @property
    def adaptive(self) -> bool:
        """Pacing follows the server (limits API + AIMD) unless a static rate was given."""
        return self.rate_per_minute is None

    @property
    def several_clients(self) -> bool:
        """The secret is a JSON map of client id -> secret, and calls are spread over one token per client."""
        return len(self.client_ids) > 1

    @property
    def token_url(self) -> str:
        return f"{self.login_base_url}/oauth/token"

    @classmethod
    def for_domain(cls, domain: str, *, client_id: str, client_secret: str, **options: object) -> GenesysSettings:
        """Settings for a Genesys Cloud region, e.g. `for_domain("mypurecloud.ie", client_id=..., ...)`."""
        domain = normalise_domain(domain)
        return cls(
            api_base_url=f"https://api.{domain}",
            login_base_url=f"https://login.{domain}",
            domain=domain,
            client_id=client_id,
            client_secret=Secret(client_secret),
            **options,  # type: ignore[arg-type]
        )

    @classmethod
    def for_base_url(cls, base_url: str, *, client_id: str, client_secret: str, **options: object) -> GenesysSettings:
        """One server for login and API, as the simulator serves it."""
        return cls(
            api_base_url=base_url,
            login_base_url=base_url,
            client_id=client_id,
            client_secret=Secret(client_secret),
            **options,  # type: ignore[arg-type]
        )


# Keys under which a JSON SecretString holds the secret of a single client (the forms accepted since the start).
SINGLE_SECRET_KEYS = ("client_secret", "clientSecret", "GENESYS_CLIENT_SECRET", "secret")


def secret_for(text: str, client_id: str, *, several: bool, source: str) -> Secret:
    """The secret of `client_id` in a secret's text. One client: the text itself unless it is JSON with one of
    SINGLE_SECRET_KEYS (or a map naming the client, as for several). Several: a JSON object of id -> secret,
    or `{"clients": {id: secret}}`. Errors name `source` and the id, never any part of the text."""
    value = text.strip()
    document = _json_object(value)
    if not several:
        if document is None:
            return Secret(value)
        for key in SINGLE_SECRET_KEYS:
            if isinstance(found := document.get(key), str) and found:
                return Secret(found)
    elif document is None:
        raise ConfigError(f"{source}: with several client ids it must be a JSON object of client id -> secret")
    found = _client_map(document).get(client_id)
    if isinstance(found, str) and found:
        return Secret(found)
    if not several:
        raise ConfigError(f"{source} is JSON without a client_secret key")
    raise ConfigError(f"{source} has no secret for client id {client_id!r}")


def _json_object(text: str) -> dict[str, object] | None:
    if not text.startswith("{"):
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def _client_map(document: Mapping[str, object]) -> Mapping[str, object]:
    nested = document.get("clients")
    return nested if isinstance(nested, dict) else document


def normalise_domain(text: str) -> str:
    """`mypurecloud.ie`, `api.mypurecloud.ie` or `https://login.mypurecloud.ie/` -> `mypurecloud.ie`; an unknown
    domain is a ConfigError (the rule is GENESYS_REGION's, in `gcevents.variables`)."""
    try:
        return region_domain(text)
    except ValueError as exc:
        raise ConfigError(f"GENESYS_REGION={text!r}: {exc}") from None
