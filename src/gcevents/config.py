"""The one configuration resolver: the environment -> one frozen `Config`, read once by each entry point (the
Lambda handler once per container). No other module of gcevents reads `os.environ`.

The variables themselves (name, default, parser, meaning) are the table in `gcevents._variables`; empty values
count as unset everywhere."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gcevents import _variables as v
from gcevents._variables import (
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
from gcevents.core.pipeline import PipelineSettings
from gcevents.errors import ConfigError

if TYPE_CHECKING:
    from gcevents.adapters.genesys.settings import GenesysSettings, Secret

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
    completion grace timer. No sinks: no derived records, no completion checks, no extra writes."""

    sinks: tuple[SinkSpec, ...] = ()
    webhook_secret: Secret | None = None  # never shows in a repr
    webhook_secret_arn: str | None = None
    webhook_timeout: float = v.GCEVENTS_WEBHOOK_TIMEOUT.default
    webhook_concurrency: int = v.GCEVENTS_WEBHOOK_CONCURRENCY.default
    breaker_failures: int = v.GCEVENTS_WEBHOOK_BREAKER.default
    breaker_seconds: float = v.GCEVENTS_WEBHOOK_BREAKER_SECONDS.default
    grace_seconds: float = v.GCEVENTS_COMPLETION_GRACE.default
    check_queue: StoreSpec | None = None

    @property
    def derived(self) -> bool:
        """Some sink takes derived records: the state tracks source keys and the projection emits."""
        return any(s.derived for s in self.sinks)


@dataclass(frozen=True, slots=True)
class Config:
    idempotency_store: StoreSpec = _DEFAULT_STORE
    state_store: StoreSpec = _DEFAULT_STORE
    dead_letters: StoreSpec = _DEFAULT_STORE
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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Resolve every variable; raises ConfigError naming the first one that is wrong."""
        env = os.environ if env is None else env
        return cls(
            idempotency_store=store_from_env(env, v.GCEVENTS_IDEMPOTENCY_STORE),
            state_store=store_from_env(env, v.GCEVENTS_STATE_STORE),
            dead_letters=store_from_env(env, v.GCEVENTS_DLQ),
            pipeline=pipeline_settings_from_env(env),
            handler_modules=v.GCEVENTS_HANDLERS.read(env),
            idempotency_ttl_seconds=int(v.GCEVENTS_IDEMPOTENCY_TTL_DAYS.read(env) * 86400),
            state_ttl_days=v.GCEVENTS_STATE_TTL_DAYS.read(env),
            claim_concurrency=v.GCEVENTS_CLAIM_CONCURRENCY.read(env),
            claim_mode=v.GCEVENTS_CLAIM_MODE.read(env),
            clock_skew_margin=_non_negative(v.GCEVENTS_CLOCK_SKEW_MARGIN, env),
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
        )


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


def _non_negative(variable: Variable[float], env: Mapping[str, str]) -> float:
    value = variable.read(env)
    if not value >= 0:  # also NaN
        raise ConfigError(f"{variable.name}={value!r}: must be >= 0")
    return value


def store_from_env(env: Mapping[str, str], variable: Variable[StoreSpec | None]) -> StoreSpec:
    """The store the variable names; unset: the SQLite file `GCEVENTS_DB`, except in Lambda, where a
    per-container SQLite file would silently break exactly-once."""
    spec = variable.read(env)
    if spec is not None:
        return spec
    if raw_value(env, LAMBDA_MARKER) is not None:
        raise ConfigError(f"{variable.name} must be set in Lambda (e.g. dynamodb:TABLE)")
    return StoreSpec("sqlite", v.GCEVENTS_DB.read(env))


def outputs_from_env(env: Mapping[str, str]) -> OutputsConfig:
    """GCEVENTS_SINKS and its companions; a webhook sink needs exactly one of the two secret variables."""
    specs = v.GCEVENTS_SINKS.read(env)
    secret = v.GCEVENTS_WEBHOOK_SECRET.read(env)
    secret_arn = v.GCEVENTS_WEBHOOK_SECRET_ARN.read(env)
    if secret and secret_arn:
        raise ConfigError("set GCEVENTS_WEBHOOK_SECRET or GCEVENTS_WEBHOOK_SECRET_ARN, not both")
    if any(s.kind == "webhook" for s in specs) and not (secret or secret_arn):
        raise ConfigError("a webhook sink needs GCEVENTS_WEBHOOK_SECRET or GCEVENTS_WEBHOOK_SECRET_ARN")
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
    )
    if config.webhook_timeout <= 0 or config.webhook_concurrency < 1 or config.breaker_failures < 1:
        raise ConfigError("GCEVENTS_WEBHOOK_TIMEOUT, _CONCURRENCY and _BREAKER must be positive")
    if config.grace_seconds < 0:
        raise ConfigError("GCEVENTS_COMPLETION_GRACE must be >= 0")
    return config


def _secret(value: str | None) -> Secret | None:
    if not value:
        return None
    from gcevents.adapters.genesys.settings import Secret

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
    client_id = v.GENESYS_CLIENT_ID.read(env)
    if client_id is None:
        return None
    from gcevents.adapters.genesys.settings import GenesysSettings, parse_client_ids

    api_base_url, login_base_url, domain = _genesys_urls(env)
    client_ids = parse_client_ids(client_id)
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
        rate_per_minute=v.GENESYS_RATE_PER_MINUTE.read(env),
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
    from gcevents.adapters.genesys.settings import Secret, secret_for

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
    from gcevents.adapters.genesys.settings import normalise_domain

    region = v.GENESYS_REGION.read(env) or v.GENESYS_DOMAIN.read(env)
    api_override = v.GENESYS_API_BASE_URL.read(env)
    login_override = v.GENESYS_LOGIN_BASE_URL.read(env)
    domain = normalise_domain(region) if region else None
    if domain is None and not api_override:
        raise ConfigError("GENESYS_REGION (e.g. mypurecloud.com) or GENESYS_API_BASE_URL must be set")
    api_base_url = api_override or f"https://api.{domain}"
    login_base_url = login_override or (f"https://login.{domain}" if domain else api_base_url)
    return api_base_url, login_base_url, domain
