"""Wiring: Config -> adapters -> Pipeline. Shared by the Lambda handler, the worker and the CLI."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gcevents.config import Config, StoreSpec
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import Pipeline
from gcevents.core.router import Router
from gcevents.errors import ConfigError
from gcevents.observability import MetricsEmitter
from gcevents.ports import Clock, DeadLetterStore, Enricher, IdempotencyStore, Requeuer

if TYPE_CHECKING:
    from gcevents.adapters.sqlite.database import SqliteDatabase


@dataclass
class Runtime:
    config: Config
    pipeline: Pipeline
    idempotency_store: IdempotencyStore
    dead_letters: DeadLetterStore
    metrics: MetricsEmitter
    state_store: Any = None
    projection: Any = None  # the built-in StateProjection, when state tracking is on
    genesys: Any = None  # the Genesys client, when configured
    clients: dict[str, Any] = field(default_factory=dict)
    _requeuer: Requeuer | None = field(default=None, repr=False)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            from gcevents.adapters.aws import make_client

            self.clients[service] = make_client(service)
        return self.clients[service]

    def requeuer(self) -> Requeuer:
        """One per container, so its queue-URL cache survives across invocations."""
        if self._requeuer is None:
            from gcevents.adapters.sqs import SqsRequeuer

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
            from gcevents.adapters.aws import make_client

            clients[service] = make_client(service, max_pool_connections=max(32, config.claim_concurrency * 2))
        return clients[service]

    def database(path: str) -> SqliteDatabase:
        if path not in databases:
            from gcevents.adapters.sqlite.database import SqliteDatabase

            databases[path] = SqliteDatabase(path)
        return databases[path]

    idempotency_store = _idempotency_store(config.idempotency_store, client, database)
    dead_letters = _dead_letter_sink(config.dead_letters, client, database)

    router = router or Router()
    load_handlers(router, config.handler_modules)
    state_store = _state_store(config, client, database)
    projection = None
    if state_store is not None:
        from gcevents.core.projection import StateProjection

        projection = StateProjection(state_store)
        router.add_batch(projection)

    genesys = None
    if enricher is None and config.genesys is not None:
        from gcevents.adapters.genesys import GenesysClient, GenesysEnricher

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
        from gcevents.adapters.dynamodb.idempotency import DynamoDbIdempotencyStore

        return DynamoDbIdempotencyStore(client("dynamodb"), spec.target)
    if spec.kind == "sqlite":
        from gcevents.adapters.sqlite.idempotency import SqliteIdempotencyStore

        return SqliteIdempotencyStore(database(spec.target))
    from gcevents.testing.fakes import MemoryIdempotencyStore

    return MemoryIdempotencyStore()


def _dead_letter_sink(spec: StoreSpec, client: Any, database: Any) -> DeadLetterStore:
    if spec.kind == "sqs":
        from gcevents.adapters.sqs import SqsDeadLetterSink

        return SqsDeadLetterSink(client("sqs"), spec.target)
    if spec.kind == "sqlite":
        from gcevents.adapters.sqlite.dead_letters import SqliteDeadLetterSink

        return SqliteDeadLetterSink(database(spec.target))
    from gcevents.testing.fakes import MemoryDeadLetterSink

    return MemoryDeadLetterSink()


def _state_store(config: Config, client: Any, database: Any) -> Any:
    spec = config.state_store
    if spec.kind == "off":
        return None
    if spec.kind == "dynamodb":
        from gcevents.adapters.dynamodb.state import DynamoDbStateStore

        return DynamoDbStateStore(client("dynamodb"), spec.target, ttl_days=config.state_ttl_days)
    if spec.kind == "sqlite":
        from gcevents.adapters.sqlite.state import SqliteStateStore

        return SqliteStateStore(database(spec.target), ttl_days=config.state_ttl_days)
    from gcevents.testing.fakes import MemoryStateStore

    return MemoryStateStore(ttl_days=config.state_ttl_days)
