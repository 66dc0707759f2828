"""Wiring: Config -> adapters -> Pipeline. Shared by the Lambda handler, the worker and the CLI."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ..adapters.memory import MemoryDeadLetterSink, MemoryIdempotencyStore
from ..adapters.sqlite import SqliteDatabase, SqliteDeadLetterSink, SqliteIdempotencyStore
from ..config import Config, StoreSpec
from ..errors import ConfigError
from ..idempotency import Idempotency
from ..observability import MetricsEmitter
from ..pipeline import Pipeline
from ..ports import Clock, DeadLetterSink, Enricher, IdempotencyStore
from ..router import Router


@dataclass
class Runtime:
    config: Config
    pipeline: Pipeline
    idempotency_store: IdempotencyStore
    dead_letters: DeadLetterSink
    metrics: MetricsEmitter
    state_store: Any = None
    projection: Any = None  # the built-in StateProjection, when state tracking is on
    genesys: Any = None  # the Genesys client, when configured
    clients: dict[str, Any] = field(default_factory=dict)
    _requeuer: Any = field(default=None, repr=False)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            from ..adapters.aws import make_client

            self.clients[service] = make_client(service)
        return self.clients[service]

    def requeuer(self) -> Any:
        """One per container, so its queue-URL cache survives across invocations."""
        if self._requeuer is None:
            from ..adapters.sqs import SqsRequeuer

            self._requeuer = SqsRequeuer(self.client("sqs"))
        return self._requeuer

    def api_stats(self) -> dict[str, float]:
        stats = getattr(self.genesys, "stats", None)
        snapshot = getattr(stats, "snapshot", None)
        return dict(snapshot()) if callable(snapshot) else {}

    def counters(self) -> dict[str, float]:
        """Cumulative counters of this container, for per-batch metric deltas."""
        counters = {f"Api.{k}": float(v) for k, v in self.api_stats().items() if isinstance(v, int | float)}
        if self.projection is not None:
            counters.update({f"State.{k}": float(v) for k, v in self.projection.snapshot().items()})
        return counters


def load_handlers(router: Router, specs: tuple[str, ...]) -> None:
    """`pkg.module:attr`: a Router is merged; a callable is called with our router to register handlers."""
    for spec in specs:
        module_name, _, attr = spec.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attr or "router")
        except (ImportError, AttributeError) as exc:
            raise ConfigError(f"GCEVENTS_HANDLERS: cannot load {spec!r}: {exc}") from exc
        if isinstance(target, Router):
            router.include(target)
        elif callable(target):
            target(router)
        else:
            raise ConfigError(f"GCEVENTS_HANDLERS: {spec!r} is neither a Router nor a callable")


def build_runtime(
    config: Config,
    *,
    router: Router | None = None,
    enricher: Enricher | None = None,
    clock: Clock | None = None,
    clients: dict[str, Any] | None = None,
) -> Runtime:
    clients = dict(clients or {})
    databases: dict[str, SqliteDatabase] = {}

    def client(service: str) -> Any:
        if service not in clients:
            from ..adapters.aws import make_client

            clients[service] = make_client(service, max_pool_connections=max(32, config.claim_concurrency * 2))
        return clients[service]

    def database(path: str) -> SqliteDatabase:
        return databases.setdefault(path, SqliteDatabase(path))

    idempotency_store = _idempotency_store(config.idempotency_store, client, database)
    dead_letters = _dead_letter_sink(config.dead_letters, client, database)

    router = router or Router()
    load_handlers(router, config.handler_modules)
    state_store = _state_store(config, client, database)
    projection = None
    if state_store is not None:
        from ..state import StateProjection

        projection = StateProjection(state_store)
        router.add_batch(projection)

    genesys = None
    if enricher is None and config.genesys is not None:
        from ..genesys import GenesysClient, GenesysEnricher

        genesys = GenesysClient(config.genesys)
        enricher = GenesysEnricher(genesys)

    pipeline = Pipeline(
        idempotency=Idempotency(
            idempotency_store,
            clock=clock,
            ttl_seconds=config.idempotency_ttl_seconds,
            concurrency=config.claim_concurrency,
            batch_claims=config.claim_mode == "transaction",
        ),
        dead_letters=dead_letters,
        router=router,
        enricher=enricher,
        settings=config.pipeline,
        clock=clock,
        services={"genesys": genesys} if genesys is not None else {},
    )
    return Runtime(
        config=config,
        pipeline=pipeline,
        idempotency_store=idempotency_store,
        dead_letters=dead_letters,
        metrics=MetricsEmitter(config.metrics_namespace),
        state_store=state_store,
        projection=projection,
        genesys=genesys,
        clients=clients,
    )


def _idempotency_store(spec: StoreSpec, client: Any, database: Any) -> IdempotencyStore:
    if spec.kind == "dynamodb":
        from ..adapters.dynamodb import DynamoDbIdempotencyStore

        return DynamoDbIdempotencyStore(client("dynamodb"), spec.target)
    if spec.kind == "sqlite":
        return SqliteIdempotencyStore(database(spec.target))
    return MemoryIdempotencyStore()


def _dead_letter_sink(spec: StoreSpec, client: Any, database: Any) -> DeadLetterSink:
    if spec.kind == "sqs":
        from ..adapters.sqs import SqsDeadLetterSink

        return SqsDeadLetterSink(client("sqs"), spec.target)
    if spec.kind == "sqlite":
        return SqliteDeadLetterSink(database(spec.target))
    return MemoryDeadLetterSink()


def _state_store(config: Config, client: Any, database: Any) -> Any:
    spec = config.state_store
    if spec.kind == "off":
        return None
    from .. import state

    if spec.kind == "dynamodb":
        return state.DynamoDbStateStore(client("dynamodb"), spec.target, ttl_days=config.state_ttl_days)
    if spec.kind == "sqlite":
        return state.SqliteStateStore(database(spec.target).path, ttl_days=config.state_ttl_days)
    return state.MemoryStateStore(ttl_days=config.state_ttl_days)
