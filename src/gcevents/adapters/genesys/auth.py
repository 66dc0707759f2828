"""OAuth client credentials for Genesys Cloud: the secret (env or Secrets Manager, read once per container) and
a bearer token cached per client, renewed before it expires, fetched once however many threads need it."""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass

import httpx

from gcevents.adapters.genesys.settings import GenesysSettings, secret_for
from gcevents.errors import ConfigError, GcEventsError
from gcevents.secret import Secret

log = logging.getLogger(__name__)

# Secrets Manager is read once per container (ARN -> secret), whatever number of clients we build.
_secret_cache: dict[str, Secret] = {}
_secret_lock = threading.Lock()


def clear_secret_cache() -> None:
    """Forget secrets read from Secrets Manager (rotation, tests)."""
    with _secret_lock:
        _secret_cache.clear()


def resolve_client_secret(settings: GenesysSettings, client_id: str | None = None, *, refresh: bool = False) -> Secret:
    """The secret of `client_id` (default: the first client). One client: GENESYS_CLIENT_SECRET as given, or the
    Secrets Manager SecretString (the secret, or JSON with `client_secret`); several: its entry in the JSON map."""
    client_id = client_id or settings.client_id
    several = settings.several_clients
    if settings.client_secret is not None:
        if not several:
            return settings.client_secret  # as given: one client's secret is never parsed
        return secret_for(settings.client_secret.reveal(), client_id, several=True, source="GENESYS_CLIENT_SECRET")
    arn = settings.client_secret_arn
    assert arn is not None  # GenesysSettings guarantees one of the two
    return secret_for(_secret_string(arn, refresh=refresh).reveal(), client_id, several=several, source=f"secret {arn}")


def _secret_string(arn: str, *, refresh: bool) -> Secret:
    """The SecretString, cached per ARN: one read per container however many clients it holds."""
    with _secret_lock:
        if not refresh and arn in _secret_cache:
            return _secret_cache[arn]
        secret = _read_secrets_manager(arn)
        _secret_cache[arn] = secret
        return secret


def _read_secrets_manager(arn: str) -> Secret:
    """The SecretString as stored; `secret_for` takes the client's secret out of it."""
    # Lazily: only containers configured with an ARN pay for boto3.
    from gcevents.adapters.aws import make_client, translate

    parts = arn.split(":")
    region = parts[3] if len(parts) > 3 and parts[3] else None
    client = make_client("secretsmanager", region_name=region, read_timeout=5, max_pool_connections=1)
    try:
        response = client.get_secret_value(SecretId=arn)
    except Exception as exc:
        raise translate(exc, "reading the Genesys client secret from Secrets Manager") from exc
    text = response.get("SecretString")
    if not isinstance(text, str) or not text:
        raise ConfigError(f"secret {arn} has no SecretString")
    log.info("genesys client secret read from Secrets Manager", extra={"secretArn": arn})
    return Secret(text)


@dataclass(frozen=True, slots=True)
class AccessToken:
    value: Secret
    expires_at: float  # monotonic seconds
    renew_at: float  # monotonic seconds; after this the token is replaced before use


TokenFetcher = Callable[[], AccessToken]


class ClientCredentialsAuth(httpx.Auth):
    """An httpx auth flow: bearer token on every request, one renewal and one resend on a 401.

    Single flight: the fetch runs under a lock and every thread re-checks after taking it, so N threads that
    find no token (or the same stale one) cause exactly one token request."""

    # httpx then reads (and releases) a 401 before handing it to us; otherwise twenty threads holding 401s
    # could take every pooled connection while the renewal waits for one.
    requires_response_body = True

    def __init__(self, fetch: TokenFetcher, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = threading.Lock()
        # A failed fetch is shared with the threads that queued behind it, so a broken token endpoint is
        # asked once per wave, not once per waiting thread.
        self._last_failure: tuple[float, GcEventsError] | None = None

    def __repr__(self) -> str:
        return f"ClientCredentialsAuth(has_token={self._token is not None})"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.current()
        request.headers["Authorization"] = f"Bearer {token.value.reveal()}"
        response = yield request
        if response.status_code == 401:
            token = self.renew(stale=token)
            request.headers["Authorization"] = f"Bearer {token.value.reveal()}"
            yield request

    def current(self) -> AccessToken:
        token = self._token
        if token is not None and self._clock() < token.renew_at:
            return token  # the hot path takes no lock
        return self._refresh(lambda t: t is None or self._clock() >= t.renew_at)

    def renew(self, stale: AccessToken) -> AccessToken:
        """Replace `stale` (the server rejected it) unless another thread has already done so."""
        return self._refresh(lambda t: t is None or t is stale)

    def _refresh(self, needs_fetch: Callable[[AccessToken | None], bool]) -> AccessToken:
        queued_at = self._clock()
        with self._lock:
            if not needs_fetch(self._token):
                assert self._token is not None
                return self._token
            if self._last_failure is not None and self._last_failure[0] >= queued_at:
                raise copy.copy(self._last_failure[1])
            try:
                token = self._fetch()
            except GcEventsError as exc:
                self._last_failure = (self._clock(), exc)
                raise
            self._last_failure = None
            self._token = token
            return token
