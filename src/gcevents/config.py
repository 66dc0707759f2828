"""One frozen configuration object, built from the environment once, by entry points only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gcevents.core.pipeline import PipelineSettings
from gcevents.errors import ConfigError

DEFAULT_DB = ".gcevents/gcevents.db"
CLAIM_MODES = ("per_key", "transaction")


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """`dynamodb:TABLE`, `sqlite:PATH`, `sqs:URL`, `memory` or `off`."""

    kind: str
    target: str = ""

    @classmethod
    def parse(cls, text: str, *, allowed: tuple[str, ...], name: str) -> StoreSpec:
        kind, _, target = text.strip().partition(":")
        if kind not in allowed:
            raise ConfigError(f"{name}={text!r}: expected one of {', '.join(k + ':...' for k in allowed)}")
        if kind not in ("memory", "off") and not target:
            raise ConfigError(f"{name}={text!r}: {kind} needs a target after the colon")
        return cls(kind, target)

    def __str__(self) -> str:
        return f"{self.kind}:{self.target}" if self.target else self.kind


@dataclass(frozen=True, slots=True)
class Config:
    idempotency_store: StoreSpec = StoreSpec("sqlite", DEFAULT_DB)
    state_store: StoreSpec = StoreSpec("sqlite", DEFAULT_DB)
    dead_letters: StoreSpec = StoreSpec("sqlite", DEFAULT_DB)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    handler_modules: tuple[str, ...] = ()
    idempotency_ttl_seconds: int = 5 * 24 * 3600
    state_ttl_days: int = 30
    claim_concurrency: int = 16
    claim_mode: str = "per_key"  # or "transaction": up to 100 claims per DynamoDB TransactWriteItems
    log_level: str = "INFO"
    metrics_namespace: str = "gcevents"
    genesys: Any = None  # gcevents.adapters.genesys.GenesysSettings | None, parsed by that package
    env: Mapping[str, str] = field(default_factory=dict, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = dict(os.environ if env is None else env)
        in_lambda = "AWS_LAMBDA_FUNCTION_NAME" in env

        def spec(name: str, allowed: tuple[str, ...]) -> StoreSpec:
            value = env.get(name)
            if value is None:
                if in_lambda:  # a per-container SQLite file would silently break exactly-once
                    raise ConfigError(f"{name} must be set in Lambda (e.g. dynamodb:TABLE)")
                return StoreSpec("sqlite", env.get("GCEVENTS_DB", DEFAULT_DB))
            return StoreSpec.parse(value, allowed=allowed, name=name)

        pipeline = PipelineSettings(
            allowed_sources=_csv(env.get("GCEVENTS_ALLOWED_SOURCES", "")),
            enrich_kinds=frozenset(
                _csv(env.get("GCEVENTS_ENRICH_KINDS", ",".join(sorted(PipelineSettings().enrich_kinds))))
            ),
            lag_retries=_int(env, "GCEVENTS_LAG_RETRIES", 2),
            lag_retry_delay=_float(env, "GCEVENTS_LAG_RETRY_DELAY", 60.0),
            deadline_margin=_float(env, "GCEVENTS_DEADLINE_MARGIN", 5.0),
            handler_concurrency=_int(env, "GCEVENTS_HANDLER_CONCURRENCY", 8),
        )
        claim_mode = env.get("GCEVENTS_CLAIM_MODE", "per_key").strip() or "per_key"
        if claim_mode not in CLAIM_MODES:
            raise ConfigError(f"GCEVENTS_CLAIM_MODE={claim_mode!r}: expected one of {', '.join(CLAIM_MODES)}")
        genesys = None
        if env.get("GENESYS_CLIENT_ID"):
            from gcevents.adapters.genesys import genesys_settings_from_env

            genesys = genesys_settings_from_env(env)
        return cls(
            idempotency_store=spec("GCEVENTS_IDEMPOTENCY_STORE", ("dynamodb", "sqlite", "memory")),
            state_store=spec("GCEVENTS_STATE_STORE", ("dynamodb", "sqlite", "memory", "off")),
            dead_letters=spec("GCEVENTS_DLQ", ("sqs", "sqlite", "memory")),
            pipeline=pipeline,
            handler_modules=_csv(env.get("GCEVENTS_HANDLERS", "")),
            idempotency_ttl_seconds=int(_float(env, "GCEVENTS_IDEMPOTENCY_TTL_DAYS", 5) * 86400),
            state_ttl_days=_int(env, "GCEVENTS_STATE_TTL_DAYS", 30),
            claim_concurrency=_int(env, "GCEVENTS_CLAIM_CONCURRENCY", 16),
            claim_mode=claim_mode,
            log_level=env.get("GCEVENTS_LOG_LEVEL", "INFO"),
            metrics_namespace=env.get("GCEVENTS_METRICS_NAMESPACE", "gcevents"),
            genesys=genesys,
            env=env,
        )


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    try:
        return int(env.get(name, default))
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {env.get(name)!r}") from exc


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        return float(env.get(name, default))
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {env.get(name)!r}") from exc
