"""The one configuration resolver: the environment -> one frozen `Config`, read once by each entry point (the
Lambda handler once per container). No other module of gcevents reads `os.environ`.

The variables themselves (name, default, parser, meaning) are the table in `gcevents.variables`; empty values
count as unset everywhere."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from gcevents import variables as v
from gcevents.addresses import is_loopback_host
from gcevents.core.attributes import AttributePolicy
from gcevents.core.pipeline import PipelineSettings
from gcevents.errors import ConfigError
from gcevents.variables import (
    CLAIM_MODES,
    DEFAULT_DB,
    LAMBDA_MARKER,
    VARIABLES,
    XRAY_DAEMON_ADDRESS,
    XRAY_TRACE_HEADER,
    SinkSpec,
    StoreSpec,
    Variable,
    markdown_table,
    raw_value,
)

if TYPE_CHECKING:
    from gcevents.adapters.genesys.settings import GenesysSettings
    from gcevents.secret import Secret

__all__ = [
    "CLAIM_MODES",
    "DEFAULT_DB",
    "VARIABLES",
    "Config",
    "OutputsConfig",
    "SinkSpec",
    "StoreSpec",
    "Variable",
    "genesys_settings_from_env",
    "markdown_table",
    "pipeline_settings_from_env",
]

_DEFAULT_STORE = StoreSpec("sqlite", DEFAULT_DB)


@dataclass(frozen=True, slots=True)
class OutputsConfig:
    """Outputs without code (docs/outputs.md): the sinks, the webhook signing and resilience settings, and the
    completion grace timer. No sinks: no derived records, no completion timers, no extra writes."""

    sinks: tuple[SinkSpec, ...] = ()
    webhook_secret: Secret | None = None  # never shows in a repr
    webhook_secret_arn: str | None = None
    webhook_timeout: float = v.GCEVENTS_WEBHOOK_TIMEOUT.default
    webhook_concurrency: int = v.GCEVENTS_WEBHOOK_CONCURRENCY.default
    breaker_failures: int = v.GCEVENTS_WEBHOOK_BREAKER.default
    breaker_seconds: float = v.GCEVENTS_WEBHOOK_BREAKER_SECONDS.default
    webhook_allow_loopback: bool = False  # tests and the demo only: in Lambda the runtime API listens on loopback
    grace_seconds: float = v.GCEVENTS_COMPLETION_GRACE.default
    check_queue: StoreSpec | None = None  # the completion timers' queue: named after GCEVENTS_CHECK_QUEUE

    @property
    def derived(self) -> bool:
        """Some sink takes derived records: the state tracks source keys and the projection emits."""
        return any(s.derived for s in self.sinks)


@dataclass(frozen=True, slots=True)
class Config:
    idempotency_store: StoreSpec = _DEFAULT_STORE
    state_store: StoreSpec = _DEFAULT_STORE
    dead_letters: StoreSpec = _DEFAULT_STORE
    dead_letter_bucket: str | None = None  # S3 bucket for SQS dead letters over 256 KiB
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    handler_modules: tuple[str, ...] = v.GCEVENTS_HANDLERS.default
    idempotency_ttl_seconds: int = int(v.GCEVENTS_IDEMPOTENCY_TTL_DAYS.default * 86400)
    state_ttl_days: int = v.GCEVENTS_STATE_TTL_DAYS.default
    claim_concurrency: int = v.GCEVENTS_CLAIM_CONCURRENCY.default
    claim_mode: str = v.GCEVENTS_CLAIM_MODE.default  # or "transaction": 100 claims per TransactWriteItems
    clock_skew_margin: float = v.GCEVENTS_CLOCK_SKEW_MARGIN.default
    log_level: str = v.GCEVENTS_LOG_LEVEL.default
    metrics_namespace: str = v.GCEVENTS_METRICS_NAMESPACE.default
    service_name: str = v.GCEVENTS_SERVICE_NAME.default  # the `service` dimension of every metric
    tracing: str = v.GCEVENTS_TRACING.default  # "otel" (default), "xray" (until 2027-02-25) or "off"
    xray_daemon_address: str = "127.0.0.1:2000"  # Lambda's AWS_XRAY_DAEMON_ADDRESS when tracing is active
    genesys: GenesysSettings | None = None  # None: no enrichment; its secret never shows in a repr
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    # GCEVENTS_ATTRIBUTES: applied to the state, derived records and forwarded raw events; its key never in a repr.
    attributes: AttributePolicy = field(default_factory=AttributePolicy)
    attributes_hash_key: Secret | None = None
    attributes_hash_key_arn: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Resolve every variable; raises ConfigError naming the first one that is wrong."""
        env = os.environ if env is None else env
        check_environment(env)
        attributes, hash_key, hash_key_arn = attributes_from_env(env)
        return cls(
            idempotency_store=store_from_env(env, v.GCEVENTS_IDEMPOTENCY_STORE),
            state_store=store_from_env(env, v.GCEVENTS_STATE_STORE),
            dead_letters=store_from_env(env, v.GCEVENTS_DLQ),
            dead_letter_bucket=v.GCEVENTS_DLQ_BUCKET.read(env),
            pipeline=pipeline_settings_from_env(env),
            handler_modules=v.GCEVENTS_HANDLERS.read(env),
            idempotency_ttl_seconds=int(v.GCEVENTS_IDEMPOTENCY_TTL_DAYS.read(env) * 86400),
            state_ttl_days=v.GCEVENTS_STATE_TTL_DAYS.read(env),
            claim_concurrency=v.GCEVENTS_CLAIM_CONCURRENCY.read(env),
            claim_mode=v.GCEVENTS_CLAIM_MODE.read(env),
            clock_skew_margin=v.GCEVENTS_CLOCK_SKEW_MARGIN.read(env),
            # Lambda's level (the function's LoggingConfig) and Powertools' come before ours; LOG_LEVEL after.
            log_level=v.AWS_LAMBDA_LOG_LEVEL.read(env)
            or v.POWERTOOLS_LOG_LEVEL.read(env)
            or _read_first(env, v.GCEVENTS_LOG_LEVEL, v.LOG_LEVEL),
            metrics_namespace=_read_first(env, v.GCEVENTS_METRICS_NAMESPACE, v.POWERTOOLS_METRICS_NAMESPACE),
            service_name=_read_first(env, v.GCEVENTS_SERVICE_NAME, v.POWERTOOLS_SERVICE_NAME),
            tracing=v.GCEVENTS_TRACING.read(env),
            xray_daemon_address=raw_value(env, XRAY_DAEMON_ADDRESS) or "127.0.0.1:2000",
            genesys=genesys_settings_from_env(env),
            outputs=outputs_from_env(env),
            attributes=attributes,
            attributes_hash_key=hash_key,
            attributes_hash_key_arn=hash_key_arn,
        )


def check_environment(env: Mapping[str, str]) -> None:
    """Every variable of ours is parsed, used or not: a wrong value stops the start even while nothing reads it
    (GENESYS_MAX_RETRIES=-1 with enrichment off), not the day it is turned on. Foreign names (LOG_LEVEL,
    POWERTOOLS_*) belong to other tools too and are read only when ours are unset."""
    for variable in VARIABLES:
        if variable.name.startswith(OWN_PREFIXES):
            variable.read(env)


OWN_PREFIXES = ("GCEVENTS_", "GENESYS_")


def config_with_sinks(extra: Sequence[str], env: Mapping[str, str] | None = None) -> Config:
    """The configuration with `extra` sink specs added to GCEVENTS_SINKS (the CLI's `--sink`)."""
    env = dict(os.environ if env is None else env)
    if extra:
        env[v.GCEVENTS_SINKS.name] = ";".join([env.get(v.GCEVENTS_SINKS.name, ""), *extra])
    return Config.from_env(env)


def xray_trace_header() -> str | None:
    """The current Lambda invocation's trace header (`Root=...;Parent=...;Sampled=...`): the runtime sets it in
    the environment before each invocation, so a tracer reads it anew for every span."""
    return raw_value(os.environ, XRAY_TRACE_HEADER)


def _read_first(env: Mapping[str, str], variable: Variable[str], *aliases: Variable[str | None]) -> str:
    """The variable when it is set, else the first alias that is, else the variable's default."""
    if raw_value(env, variable.name) is not None:
        return variable.read(env)
    for alias in aliases:
        value = alias.read(env)
        if value is not None:
            return value
    return variable.default


def store_from_env(env: Mapping[str, str], variable: Variable[StoreSpec | None]) -> StoreSpec:
    """The store the variable names; unset: the SQLite file `GCEVENTS_DB`, except in Lambda, where a
    per-container SQLite file would silently break exactly-once."""
    spec = variable.read(env)
    if spec is not None:
        return spec
    if raw_value(env, LAMBDA_MARKER) is not None:
        raise ConfigError(f"{variable.name} must be set in Lambda (e.g. dynamodb:TABLE)")
    return StoreSpec("sqlite", v.GCEVENTS_DB.read(env))


def _check_loopback(config: OutputsConfig) -> None:
    """A loopback webhook only with the switch: the entry by position, never its URL (it may carry a token)."""
    if config.webhook_allow_loopback:
        return
    for number, spec in enumerate(config.sinks, 1):
        host = urlsplit(spec.target).hostname if spec.kind == "webhook" else None
        if host and is_loopback_host(host):
            raise ConfigError(
                f"GCEVENTS_SINKS entry {number} (webhook) targets loopback: set"
                f" {v.GCEVENTS_WEBHOOK_ALLOW_LOOPBACK.name}=true (tests, the demo only)"
            )


def outputs_from_env(env: Mapping[str, str]) -> OutputsConfig:
    """GCEVENTS_SINKS and its companions; a webhook sink needs exactly one of the two secret variables."""
    specs = v.GCEVENTS_SINKS.read(env)
    secret = v.GCEVENTS_WEBHOOK_SECRET.read(env)
    secret_arn = v.GCEVENTS_WEBHOOK_SECRET_ARN.read(env)
    if secret and secret_arn:
        raise ConfigError("set GCEVENTS_WEBHOOK_SECRET or GCEVENTS_WEBHOOK_SECRET_ARN, not both")
    if any(s.kind == "webhook" for s in specs) and not (secret or secret_arn):
        raise ConfigError("a webhook sink needs GCEVENTS_WEBHOOK_SECRET or GCEVENTS_WEBHOOK_SECRET_ARN")
    if secret:
        from gcevents.adapters.sinks.signing import secrets_of

        try:
            secrets_of(secret)  # a rotation list that does not parse stops the start, not the first delivery
        except ValueError as exc:
            raise ConfigError(f"GCEVENTS_WEBHOOK_SECRET='********': {exc}") from None
    config = OutputsConfig(
        sinks=specs,
        webhook_secret=_secret(secret),
        webhook_secret_arn=secret_arn,
        webhook_timeout=v.GCEVENTS_WEBHOOK_TIMEOUT.read(env),
        webhook_concurrency=v.GCEVENTS_WEBHOOK_CONCURRENCY.read(env),
        breaker_failures=v.GCEVENTS_WEBHOOK_BREAKER.read(env),
        breaker_seconds=v.GCEVENTS_WEBHOOK_BREAKER_SECONDS.read(env),
        grace_seconds=v.GCEVENTS_COMPLETION_GRACE.read(env),
        check_queue=v.GCEVENTS_CHECK_QUEUE.read(env),
        webhook_allow_loopback=v.GCEVENTS_WEBHOOK_ALLOW_LOOPBACK.read(env),
    )
    _check_loopback(config)
    return config


def attributes_from_env(env: Mapping[str, str]) -> tuple[AttributePolicy, Secret | None, str | None]:
    """The attribute policy and its hashing key: `hash:` without a key (or with both variables) stops the start."""
    text = v.GCEVENTS_ATTRIBUTES.read(env)
    try:
        policy = AttributePolicy.parse(text)
    except ValueError as exc:
        raise ConfigError(f"{v.GCEVENTS_ATTRIBUTES.name}={text!r}: {exc}") from None
    key = v.GCEVENTS_ATTRIBUTES_HASH_KEY.read(env)
    key_arn = v.GCEVENTS_ATTRIBUTES_HASH_KEY_ARN.read(env)
    if key and key_arn:
        raise ConfigError("set GCEVENTS_ATTRIBUTES_HASH_KEY or GCEVENTS_ATTRIBUTES_HASH_KEY_ARN, not both")
    if policy.hashes and not (key or key_arn):
        raise ConfigError(
            "GCEVENTS_ATTRIBUTES uses hash: and needs GCEVENTS_ATTRIBUTES_HASH_KEY or GCEVENTS_ATTRIBUTES_HASH_KEY_ARN"
        )
    return policy, _secret(key), key_arn


def _secret(value: str | None) -> Secret | None:
    if not value:
        return None
    from gcevents.secret import Secret

    return Secret(value)


def pipeline_settings_from_env(env: Mapping[str, str]) -> PipelineSettings:
    return PipelineSettings(
        allowed_sources=v.GCEVENTS_ALLOWED_SOURCES.read(env),
        enrich_kinds=v.GCEVENTS_ENRICH_KINDS.read(env),
        lag_retries=v.GCEVENTS_LAG_RETRIES.read(env),
        lag_retry_delay=v.GCEVENTS_LAG_RETRY_DELAY.read(env),
        deadline_margin=v.GCEVENTS_DEADLINE_MARGIN.read(env),
        handler_concurrency=v.GCEVENTS_HANDLER_CONCURRENCY.read(env),
        fact_keys_after=v.GCEVENTS_FACT_KEYS_AFTER.read(env),
    )


def genesys_settings_from_env(env: Mapping[str, str]) -> GenesysSettings | None:
    """The GENESYS_* variables; None when no client id is configured (enrichment off). The Genesys package
    (httpx) is imported only then."""
    client_ids = v.GENESYS_CLIENT_ID.read(env)
    if not client_ids:
        return None
    from gcevents.adapters.genesys.settings import GenesysSettings

    api_base_url, login_base_url, domain = _genesys_urls(env)
    secret, secret_arn = _genesys_secret(env, client_ids)
    return GenesysSettings(
        api_base_url=api_base_url,
        login_base_url=login_base_url,
        client_id=client_ids[0],
        client_ids=client_ids,
        client_secret=secret,
        client_secret_arn=secret_arn,
        domain=domain,
        bulk_chunk_size=v.GENESYS_BULK_CHUNK.read(env),
        rate_per_minute=v.GENESYS_RATE_PER_MINUTE.read(env) or None,  # 0: adaptive
        api_limit=v.GENESYS_API_LIMIT.read(env),
        budget_scope=v.GENESYS_BUDGET_SCOPE.read(env),
        budget_table=v.GENESYS_BUDGET_TABLE.read(env),
        budget_share=v.GENESYS_BUDGET_SHARE.read(env),
        max_concurrency=v.GENESYS_MAX_CONCURRENCY.read(env),
        connect_timeout=v.GENESYS_CONNECT_TIMEOUT.read(env),
        read_timeout=v.GENESYS_READ_TIMEOUT.read(env),
        max_retries=v.GENESYS_MAX_RETRIES.read(env),
        max_wait=v.GENESYS_MAX_WAIT.read(env),
    )


def _genesys_secret(env: Mapping[str, str], client_ids: tuple[str, ...]) -> tuple[Secret | None, str | None]:
    """(the secret, its Secrets Manager ARN): exactly one is set. With several client ids a secret given here
    must name every one of them, checked now so a missing id stops the container at start (a Secrets Manager
    secret is checked when a token is first fetched for that id)."""
    from gcevents.adapters.genesys.settings import secret_for
    from gcevents.secret import Secret

    secret = v.GENESYS_CLIENT_SECRET.read(env)
    secret_arn = v.GENESYS_CLIENT_SECRET_ARN.read(env)
    if secret and secret_arn:
        raise ConfigError("set GENESYS_CLIENT_SECRET or GENESYS_CLIENT_SECRET_ARN, not both")
    if not secret and not secret_arn:
        raise ConfigError("GENESYS_CLIENT_SECRET or GENESYS_CLIENT_SECRET_ARN must be set with GENESYS_CLIENT_ID")
    if secret and len(client_ids) > 1:
        for client_id in client_ids:
            secret_for(secret, client_id, several=True, source=v.GENESYS_CLIENT_SECRET.name)
    return (Secret(secret) if secret else None), secret_arn


def _genesys_urls(env: Mapping[str, str]) -> tuple[str, str, str | None]:
    """(API base URL, login base URL, region domain). GENESYS_API_BASE_URL and GENESYS_LOGIN_BASE_URL override
    the URLs derived from the region; the login URL is the API URL when only that is overridden (the simulator
    serves both)."""
    domain = v.GENESYS_REGION.read(env) or v.GENESYS_DOMAIN.read(env)
    api_override = v.GENESYS_API_BASE_URL.read(env)
    login_override = v.GENESYS_LOGIN_BASE_URL.read(env)
    if domain is None and not api_override:
        raise ConfigError("GENESYS_REGION (e.g. mypurecloud.com) or GENESYS_API_BASE_URL must be set")
    api_base_url = api_override or f"https://api.{domain}"
    # Only the API overridden (a simulator, a proxy): the token request goes there too. Sending the client
    # credentials to the real login host while the API calls go elsewhere is never what was meant.
    login_base_url = login_override or (api_override or f"https://login.{domain}")
    return api_base_url, login_base_url, domain


# ------------------------------------------------------------------------------------------------- config check
@dataclass(frozen=True, slots=True)
class Resolved:
    """One variable as `gcevents config check` shows it: its value (secrets masked) and where it came from."""

    name: str
    value: str
    source: str  # env | default | derived (from ...) | alias (the variable read instead)
    allowed: str | None = None  # the range of a number


MASK = "********"


def resolution(env: Mapping[str, str] | None = None) -> tuple[list[Resolved], list[str]]:
    """Every variable's resolved value and source, and every problem: each variable's own (all of them, not only
    the first), then, when those are fine, what `Config.from_env` refuses across variables."""
    env = os.environ if env is None else env
    rows: list[Resolved] = []
    problems: list[str] = []
    for variable in VARIABLES:
        try:
            rows.append(_resolved(variable, env))
        except ConfigError as exc:
            shown = MASK if variable.secret else raw_value(env, variable.name) or ""
            primary = _PRIMARY.get(variable.name)
            if primary is not None and raw_value(env, primary) is not None:  # another tool's name, ours is set
                rows.append(Resolved(variable.name, shown, f"env (not read: {primary} is set)", variable.allowed))
                continue
            problems.append(str(exc))  # masked by `Variable.read` for secrets
            rows.append(Resolved(variable.name, shown, "env (refused)", variable.allowed))
    if not problems:
        try:
            config = Config.from_env(env)
        except ConfigError as exc:
            problems.append(str(exc))
        else:
            rows = [_derived(row, config, env) for row in rows]
    return rows, problems


def _resolved(variable: Variable[object], env: Mapping[str, str]) -> Resolved:
    value = variable.read(env)
    source = "env" if raw_value(env, variable.name) is not None else "default"
    if variable is v.GCEVENTS_SINKS:  # names only, as in logs: a webhook's path and query may carry tokens
        shown = "; ".join(spec.name for spec in v.GCEVENTS_SINKS.read(env))
    elif variable.secret and source == "env":
        shown = MASK
    else:
        shown = v.plain_text(value)
    return Resolved(variable.name, shown, source, variable.allowed)


# A variable of ours -> the one read in its place while it is unset.
_ALIASES = {
    v.GCEVENTS_LOG_LEVEL.name: v.LOG_LEVEL.name,
    v.GCEVENTS_METRICS_NAMESPACE.name: v.POWERTOOLS_METRICS_NAMESPACE.name,
    v.GCEVENTS_SERVICE_NAME.name: v.POWERTOOLS_SERVICE_NAME.name,
    v.GENESYS_REGION.name: v.GENESYS_DOMAIN.name,
}

# Another tool's name -> ours, which makes it unread while set (as `Config.from_env` does).
_PRIMARY = {alias: name for name, alias in _ALIASES.items() if not alias.startswith(OWN_PREFIXES)}


def _derived(row: Resolved, config: Config, env: Mapping[str, str]) -> Resolved:
    if row.source != "default":
        return row
    alias = _ALIASES.get(row.name)
    if alias is not None and raw_value(env, alias) is not None:
        return Resolved(row.name, v.plain_text(_variable(alias).read(env)), f"alias ({alias})", row.allowed)
    stores = {
        v.GCEVENTS_IDEMPOTENCY_STORE.name: config.idempotency_store,
        v.GCEVENTS_STATE_STORE.name: config.state_store,
        v.GCEVENTS_DLQ.name: config.dead_letters,
    }
    if row.name in stores:
        return Resolved(row.name, str(stores[row.name]), f"derived ({v.GCEVENTS_DB.name})", row.allowed)
    genesys = config.genesys
    if genesys is not None and row.name in (v.GENESYS_API_BASE_URL.name, v.GENESYS_LOGIN_BASE_URL.name):
        url = genesys.api_base_url if row.name == v.GENESYS_API_BASE_URL.name else genesys.login_base_url
        origin = "GENESYS_REGION" if genesys.domain else v.GENESYS_API_BASE_URL.name
        return Resolved(row.name, url, f"derived ({origin})", row.allowed)
    return row


def _variable(name: str) -> Variable[object]:
    return next(variable for variable in VARIABLES if variable.name == name)
