"""Wiring: Config -> adapters -> Pipeline. Shared by the Lambda handler, the worker and the CLI.

Each adapter is imported only when the configuration names it: boto3 when an AWS store or client is first
needed, `adapters.memory` only for `memory` stores (never on the Lambda path)."""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gcevents.config import Config, StoreSpec
from gcevents.core.attributes import DEFAULT_POLICY, AttributePolicy
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import Pipeline
from gcevents.core.router import Router
from gcevents.entrypoints.resources import Resources as Resources
from gcevents.errors import ConfigError
from gcevents.observability import MetricsEmitter
from gcevents.ports import (
    NOOP_TRACER,
    Clock,
    CompletionTimerScheduler,
    DeadLetterStore,
    Enricher,
    IdempotencyStore,
    Requeuer,
    StateStore,
    Tracer,
)

if TYPE_CHECKING:
    from gcevents.adapters.genesys import GenesysClient
    from gcevents.core.outputs import ConversationOutputs
    from gcevents.core.projection import StateProjection
    from gcevents.entrypoints.outputs import OutputsWiring

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    config: Config
    pipeline: Pipeline
    idempotency_store: IdempotencyStore
    dead_letters: DeadLetterStore
    metrics: MetricsEmitter
    state_store: StateStore | None = None
    projection: StateProjection | None = None  # the built-in state projection, when state tracking is on
    genesys: GenesysClient | None = None  # the Genesys client, when configured
    resources: Resources = field(default_factory=Resources)
    outputs: OutputsWiring | None = None  # GCEVENTS_SINKS: sinks, routes, deliveries (docs/outputs.md)
    _requeuer: Requeuer | None = field(default=None, repr=False)

    @property
    def clients(self) -> dict[str, Any]:
        return self.resources.clients

    def client(self, service: str) -> Any:
        return self.resources.client(service)

    def requeuer(self) -> Requeuer:
        """One per container, so its queue-URL cache survives across invocations."""
        if self._requeuer is None:
            from gcevents.adapters.sqs import SqsRequeuer

            self._requeuer = SqsRequeuer(self.client("sqs"))
        return self._requeuer

    def api_stats(self) -> dict[str, float]:
        return dict(self.genesys.stats.snapshot()) if self.genesys is not None else {}

    def counters(self) -> dict[str, float]:
        """Cumulative counters of this container, for per-batch metric deltas."""
        counters = {f"Api.{k}": float(v) for k, v in self.api_stats().items() if isinstance(v, int | float)}
        if self.projection is not None:
            counters.update({f"State.{k}": float(v) for k, v in self.projection.snapshot().items()})
        if self.outputs is not None:
            counters.update({f"Outputs.{k}": v for k, v in self.outputs.counters().items()})
        offloaded = getattr(self.dead_letters, "offloaded", None)  # the SQS DLQ's letters whose body went to S3
        if isinstance(offloaded, int):
            counters["DeadLetters.offloaded"] = float(offloaded)
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
    scheduler: CompletionTimerScheduler | None = None,
    tracer: Tracer | None = None,
) -> Runtime:
    """The runtime of `config`; the keywords replace a part the configuration would make (tests, embedding apps)."""
    resources = Resources(dict(clients or {}), max_pool_connections=max(32, config.claim_concurrency * 2))
    idempotency_store = make_idempotency_store(config.idempotency_store, resources)
    dead_letters = make_dead_letter_store(config.dead_letters, resources, bucket=config.dead_letter_bucket)
    router = router or Router()
    load_handlers(router, config.handler_modules)
    state_store = make_state_store(config.state_store, resources, ttl_days=config.state_ttl_days)
    idempotency = _idempotency(config, idempotency_store, clock)
    attributes = attribute_policy(config)
    tracer = tracer or make_tracer(config)
    outputs = _outputs(config, idempotency, resources, clock, scheduler, state_store, tracer, attributes)
    projection = _projection(router, state_store, outputs.conversations if outputs else None, attributes)
    if outputs is not None and outputs.raw is not None:
        router.add_batch(outputs.raw)  # after the projection: an event whose state failed is not forwarded
    genesys = _genesys_client(config, resources) if enricher is None else None
    pipeline = Pipeline(
        idempotency=idempotency,
        dead_letters=dead_letters,
        router=router,
        enricher=enricher if genesys is None else _genesys_enricher(genesys),
        settings=config.pipeline,
        clock=clock,
        services={"genesys": genesys} if genesys is not None else {},
        tracer=tracer,
    )
    return Runtime(
        config=config,
        pipeline=pipeline,
        idempotency_store=idempotency_store,
        dead_letters=dead_letters,
        metrics=MetricsEmitter(config.metrics_namespace, config.service_name),
        state_store=state_store,
        projection=projection,
        genesys=genesys,
        resources=resources,
        outputs=outputs,
    )


def make_idempotency_store(spec: StoreSpec, resources: Resources) -> IdempotencyStore:
    if spec.kind == "dynamodb":
        from gcevents.adapters.dynamodb.idempotency import DynamoDbIdempotencyStore

        return DynamoDbIdempotencyStore(resources.client("dynamodb"), spec.target)
    if spec.kind == "sqlite":
        from gcevents.adapters.sqlite.idempotency import SqliteIdempotencyStore

        return SqliteIdempotencyStore(resources.database(spec.target))
    from gcevents.adapters.memory import MemoryIdempotencyStore

    return MemoryIdempotencyStore()


def make_dead_letter_store(spec: StoreSpec, resources: Resources, *, bucket: str | None = None) -> DeadLetterStore:
    if spec.kind == "sqs":
        from gcevents.adapters.sqs import SqsDeadLetterSink
        from gcevents.adapters.sqs.dead_letters import S3Payloads

        # Pointers are followed even without a bucket of ours: a letter names the bucket its body is in.
        payloads = S3Payloads(lambda: resources.client("s3"), bucket)
        return SqsDeadLetterSink(resources.client("sqs"), spec.target, payloads=payloads)
    if spec.kind == "sqlite":
        from gcevents.adapters.sqlite.dead_letters import SqliteDeadLetterSink

        return SqliteDeadLetterSink(resources.database(spec.target))
    from gcevents.adapters.memory import MemoryDeadLetterSink

    return MemoryDeadLetterSink()


def make_state_store(spec: StoreSpec, resources: Resources, *, ttl_days: int) -> StateStore | None:
    """None for `off`."""
    if spec.kind == "off":
        return None
    if spec.kind == "dynamodb":
        from gcevents.adapters.dynamodb.state import DynamoDbStateStore

        return DynamoDbStateStore(resources.client("dynamodb"), spec.target, ttl_days=ttl_days)
    if spec.kind == "sqlite":
        from gcevents.adapters.sqlite.state import SqliteStateStore

        return SqliteStateStore(resources.database(spec.target), ttl_days=ttl_days)
    from gcevents.adapters.memory import MemoryStateStore

    return MemoryStateStore(ttl_days=ttl_days)


def make_tracer(config: Config) -> Tracer:
    """OpenTelemetry by default (a no-op without an SDK in the process); X-Ray's daemon protocol with `xray`
    (until its end of support); nothing, and nothing imported, with `off`."""
    if config.tracing == "otel":
        try:
            from gcevents.adapters.otel import OtelTracer
        except ImportError:  # an artifact built without it (opentelemetry-api is a dependency): spans are not events
            log.warning("GCEVENTS_TRACING=otel but opentelemetry-api is not installed: no spans")
            return NOOP_TRACER
        return OtelTracer()
    if config.tracing == "xray":
        from gcevents.adapters.xray import XRayTracer
        from gcevents.config import xray_trace_header

        return XRayTracer(config.xray_daemon_address, trace_header=xray_trace_header)
    return NOOP_TRACER


def _idempotency(config: Config, store: IdempotencyStore, clock: Clock | None) -> Idempotency:
    return Idempotency(
        store,
        clock=clock,
        ttl_seconds=config.idempotency_ttl_seconds,
        concurrency=config.claim_concurrency,
        batch_claims=config.claim_mode == "transaction",
        skew_margin=config.clock_skew_margin,
    )


def attribute_policy(config: Config) -> AttributePolicy:
    """GCEVENTS_ATTRIBUTES with its hashing key bound (Secrets Manager is read at the first hashed value)."""
    policy = config.attributes
    if not policy.hashes:
        return policy
    from gcevents.adapters.secrets import SecretSource

    source = SecretSource(config.attributes_hash_key, config.attributes_hash_key_arn, what="attribute hashing key")
    return policy.with_key(lambda: source().reveal().encode("utf-8"))


def _projection(
    router: Router,
    state_store: StateStore | None,
    outputs: ConversationOutputs | None = None,
    attributes: AttributePolicy = DEFAULT_POLICY,
) -> StateProjection | None:
    """The built-in state tracking, as a batch handler after the configured ones."""
    if state_store is None:
        return None
    from gcevents.core.projection import StateProjection

    projection = StateProjection(state_store, outputs, attributes)
    router.add_batch(projection)
    return projection


def _outputs(
    config: Config,
    idempotency: Idempotency,
    resources: Resources,
    clock: Clock | None,
    scheduler: CompletionTimerScheduler | None,
    state_store: StateStore | None,
    tracer: Tracer,
    attributes: AttributePolicy = DEFAULT_POLICY,
) -> OutputsWiring | None:
    """GCEVENTS_SINKS, or None. Derived records are computed from the state: they need the state store."""
    if not config.outputs.sinks:
        return None
    if config.outputs.derived and state_store is None:
        raise ConfigError("GCEVENTS_SINKS: derived records (completed/updated) need GCEVENTS_STATE_STORE")
    from gcevents.entrypoints.outputs import build_outputs

    return build_outputs(
        config.outputs,
        idempotency,
        resources,
        clock=clock,
        scheduler=scheduler,
        tracer=tracer,
        attributes=attributes,
    )


def _genesys_client(config: Config, resources: Resources) -> GenesysClient | None:
    """The container's Genesys client; with the shared budget scope, wired to the fleet's buckets in DynamoDB (one
    item per OAuth client: with several client ids, each token's budget is its own)."""
    settings = config.genesys
    if settings is None:
        return None
    from gcevents.adapters.genesys import GenesysClient

    if settings.budget_scope != "shared" or not settings.adaptive:
        return GenesysClient(settings)
    if not settings.budget_table:
        raise ConfigError("GENESYS_BUDGET_SCOPE=shared needs GENESYS_BUDGET_TABLE (the fleet's bucket)")
    from gcevents.adapters.dynamodb.budget import DynamoDbPermitBucket

    dynamodb, table = resources.client("dynamodb"), settings.budget_table
    return GenesysClient(
        settings, buckets=lambda client_id: DynamoDbPermitBucket(dynamodb, table, key=f"genesys#{client_id}")
    )


def _genesys_enricher(client: GenesysClient) -> Enricher:
    from gcevents.adapters.genesys import GenesysEnricher

    return GenesysEnricher(client)
