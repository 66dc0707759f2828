"""Wiring of the outputs (GCEVENTS_SINKS): sink adapters, routes, the delivery discipline, the grace timer.

Imported by `runtime` only when sinks are configured, so a deployment without outputs loads none of it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gcevents.config import OutputsConfig, SinkSpec, StoreSpec
from gcevents.core.attributes import DEFAULT_POLICY, AttributePolicy
from gcevents.core.idempotency import Idempotency
from gcevents.core.outputs import ConversationOutputs, Deliveries, OutputSettings, RawEventRoutes, Route
from gcevents.errors import ConfigError
from gcevents.ports import Clock, CompletionTimerScheduler, Sink, Tracer

if TYPE_CHECKING:
    from gcevents.adapters.sinks.webhook import CircuitBreaker
    from gcevents.entrypoints.resources import Resources


@dataclass
class OutputsWiring:
    deliveries: Deliveries
    conversations: ConversationOutputs | None  # for the state projection, when a route takes derived records
    raw: RawEventRoutes | None  # a batch handler, when a route takes raw events
    scheduler: CompletionTimerScheduler | None
    breakers: Sequence[tuple[str, CircuitBreaker]] = ()  # (sink kind, breaker) of each webhook

    def counters(self) -> dict[str, float]:
        """This container's totals: records delivered by type, and per kind of sink delivered, failed, calls,
        latency_ms and circuit_open_seconds (seconds of the open periods begun)."""
        counters = {k: float(v) for k, v in self.deliveries.snapshot().items()}
        counters.update(self.deliveries.sink_counters())
        for kind, breaker in self.breakers:
            name = f"sink.{kind}.circuit_open_seconds"
            counters[name] = counters.get(name, 0.0) + breaker.open_seconds_total
        return counters


def build_outputs(
    config: OutputsConfig,
    idempotency: Idempotency,
    resources: Resources,
    *,
    clock: Clock | None = None,
    scheduler: CompletionTimerScheduler | None = None,
    attributes: AttributePolicy = DEFAULT_POLICY,
    tracer: Tracer | None = None,
) -> OutputsWiring:
    settings = OutputSettings(grace_seconds=config.grace_seconds)
    routes = [
        Route(make_sink(spec, config, resources), spec.sink_id, spec.derived, spec.patterns) for spec in config.sinks
    ]
    deliveries = Deliveries(idempotency, clock=clock, settings=settings, tracer=tracer)
    if scheduler is None and config.check_queue is not None:
        scheduler = make_scheduler(config.check_queue, resources)
    conversations = None
    if any(r.derived for r in routes):
        conversations = ConversationOutputs(routes, deliveries, scheduler=scheduler, settings=settings, clock=clock)
    raw = RawEventRoutes(routes, deliveries, attributes) if any(r.patterns for r in routes) else None
    return OutputsWiring(deliveries, conversations, raw, scheduler, _breakers(config.sinks, routes))


def _breakers(specs: Sequence[SinkSpec], routes: Sequence[Route]) -> list[tuple[str, CircuitBreaker]]:
    if not any(spec.kind == "webhook" for spec in specs):
        return []
    from gcevents.adapters.sinks.webhook import WebhookSink

    return [
        (spec.kind, r.sink.breaker) for spec, r in zip(specs, routes, strict=True) if isinstance(r.sink, WebhookSink)
    ]


def make_sink(spec: SinkSpec, config: OutputsConfig, resources: Resources) -> Sink:
    if spec.kind == "webhook":
        from gcevents.adapters.secrets import SecretSource
        from gcevents.adapters.sinks.webhook import CircuitBreaker, WebhookSink

        return WebhookSink(
            spec.target,
            SecretSource(config.webhook_secret, config.webhook_secret_arn),
            timeout=config.webhook_timeout,
            concurrency=config.webhook_concurrency,
            breaker=CircuitBreaker(config.breaker_failures, config.breaker_seconds),
            allow_loopback=config.webhook_allow_loopback,
        )
    if spec.kind == "eventbridge":
        from gcevents.adapters.sinks.eventbridge import EventBridgeSink

        return EventBridgeSink(resources.client("events"), spec.target)
    if spec.kind == "firehose":
        from gcevents.adapters.sinks.firehose import FirehoseSink

        return FirehoseSink(resources.client("firehose"), spec.target)
    raise ConfigError(f"unknown sink kind {spec.kind!r}")


def make_scheduler(spec: StoreSpec, resources: Resources) -> CompletionTimerScheduler:
    if spec.kind == "sqs":
        from gcevents.adapters.sqs.scheduler import SqsTimerScheduler

        return SqsTimerScheduler(resources.client("sqs"), spec.target)
    from gcevents.adapters.sqlite.queue import SqliteQueue
    from gcevents.adapters.sqlite.timers import SqliteTimerScheduler

    return SqliteTimerScheduler(SqliteQueue(resources.database(spec.target)))
