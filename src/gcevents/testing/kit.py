"""Run your handlers the way production does, in memory: `run` pushes events through the real pipeline (parse,
fold duplicates, idempotency claims, enrichment, your handlers on the thread pool, the built-in state, settle,
dead letters) on the in-memory stores, and reports what became of each record and what each handler was given.

    from gcevents.testing import event, resend, run

    acw = event("acw", "c-1", wrapupCode="Sale")
    result = run("crm_wrapup.handlers:router", [acw, acw, resend(acw)])
    assert [o.outcome for o in result.outcomes] == ["processed", "duplicate", "duplicate"]
    assert len(result.calls["post_wrapup"]) == 1

`context` builds the `HandlerContext` for calling one handler directly; `LambdaContext` is the context Lambda
passes a function, for calling `gcevents.handler` (or your own Lambda function) directly."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from gcevents.core.events import GenesysEvent, RawRecord, is_sqs_batch, split_records
from gcevents.core.pipeline import Outcome, Pipeline, RecordResult
from gcevents.core.router import BatchHandler, BatchOutcome, EventHandler, HandlerContext, Router, WorkItem
from gcevents.ports import Clock, DeadLetter, DeadLetterStore, StateStore
from gcevents.testing.events import QUEUE_ARN, parse

# What `run` accepts as handlers: a Router, a `GCEVENTS_HANDLERS` entry (`pkg.module:router`) or several, or a
# function that registers handlers on the router it is given.
Handlers: TypeAlias = Router | str | Sequence[str] | Callable[[Router], None]

# The stores `run` uses unless `env` names others; analytics lag is not retried (a conversation missing from
# `enrichment` is handled at once with `ctx.enrichment` None), so one delivery settles every record.
KIT_ENV: Mapping[str, str] = {
    "GCEVENTS_IDEMPOTENCY_STORE": "memory",
    "GCEVENTS_STATE_STORE": "memory",
    "GCEVENTS_DLQ": "memory",
    "GCEVENTS_LAG_RETRIES": "0",
}
DEADLINE_SECONDS = 60.0  # each batch's deadline, as a Lambda function timeout would set it


@dataclass(frozen=True, slots=True)
class Call:
    """One call of a handler: the event and context it was given, and what it raised (None: it returned)."""

    event: GenesysEvent
    context: HandlerContext
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class RecordOutcome:
    """What became of one input record after its last delivery."""

    outcome: str  # "processed", "duplicate", "dead_lettered" or "retry" (still failing after `attempts`)
    # Dead-letter reason; why it is a duplicate ("in_batch", "already_processed", "already_applied"); "superseded"
    # for a processed event that changed nothing (newer facts were there first); or the error.
    reason: str | None
    event: GenesysEvent | None  # None when the record could not be parsed (then it is dead-lettered)
    attempts: int  # deliveries it took
    retry_after: float | None = None  # "retry": the delay asked for (a handler's TransientError(retry_after=...))


@dataclass(slots=True)
class RunResult:
    """`outcomes`: one per input record, in input order. `calls[name]`: every call of the handler of that name
    (a function's `__name__`, a batch handler's class name), in the order they finished: one conversation's events
    in event-time order, conversations concurrently. `dead_letters`: what the dead-letter queue holds. `state`: the
    conversation state store (None with `GCEVENTS_STATE_STORE=off` in `env`)."""

    outcomes: list[RecordOutcome]
    calls: dict[str, list[Call]]
    dead_letters: list[DeadLetter]
    state: StateStore | None = None

    @property
    def counts(self) -> dict[str, int]:
        """Outcome -> number of records, e.g. {"processed": 3, "duplicate": 2}."""
        return dict(Counter(o.outcome for o in self.outcomes))

    def events(self, handler: str) -> list[GenesysEvent]:
        """The events `handler` was called with."""
        return [call.event for call in self.calls.get(handler, [])]


def context(
    event: GenesysEvent | Mapping[str, Any] | None = None,
    *,
    enrichment: Mapping[str, Any] | None = None,
    remaining: float = 30.0,
    services: Mapping[str, Any] | None = None,
) -> HandlerContext:
    """The `HandlerContext` the pipeline would give `event` (a `GenesysEvent` or an envelope): its content key as
    `idempotency_key`, `enrichment` (analytics conversation details, or None as when there are none) and a
    deadline `remaining` seconds from now."""
    if event is not None and not isinstance(event, GenesysEvent):
        event = parse(event)
    return HandlerContext(
        enrichment=enrichment,
        deadline=time.time() + remaining,
        idempotency_key=event.content_key if event is not None else "test-idempotency-key",
        services=dict(services or {}),
    )


@dataclass(slots=True)
class LambdaContext:
    """The context object Lambda passes a function, with what gcevents and handlers read of it. The time left counts
    down from when it was made, as Lambda's does. `clock`: the clock the runtime reads, when a test runs a virtual
    one that is ahead of the wall (the handler adds the time left to the wall clock, so the deadline then lands on
    that clock's time)."""

    timeout_s: float = 60.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_name: str = "gcevents-test"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:gcevents-test"
    clock: Clock | None = field(default=None, repr=False)
    deadline: float = field(init=False)  # epoch seconds on `clock`

    def __post_init__(self) -> None:
        self.deadline = (self.clock.now() if self.clock is not None else time.time()) + self.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return int((self.deadline - time.time()) * 1000)


def run(
    handlers: Handlers,
    events: Iterable[Any],
    *,
    enrichment: Mapping[str, Mapping[str, Any]] | None = None,
    services: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    batch_size: int = 10,
    attempts: int = 1,
) -> RunResult:
    """Push `events` through the real pipeline with `handlers`, on in-memory stores, and report.

    `events`: envelopes (dicts, as `event()` builds them), JSON text or bytes (malformed input included), whole
    SQS batches (`sqs_batch`); each dict or text is one SQS message. Repeat one to deliver it twice; `resend`
    one to re-send it under a new envelope id. They go in batches of `batch_size`, as the event source mapping
    would deliver them. `enrichment`: conversationId -> analytics details for the enriched kinds (`customer.end`
    and `acw`; without it there is no enrichment). `services` reach handlers as `ctx.services`. `env`: the
    deployment's environment: gcevents' configuration is read from it (`GCEVENTS_ALLOWED_SOURCES`,
    `GCEVENTS_ENRICH_KINDS`, `GCEVENTS_SINKS`, ...), and it is `os.environ` for the run, so handlers read their own
    settings (`CRM_URL`) as in Lambda; the environment is restored afterwards.
    `attempts` > 1 redelivers records answered "retry", as SQS would, up to that many deliveries in all."""
    from gcevents.config import Config
    from gcevents.entrypoints.runtime import build_runtime
    from gcevents.testing.fakes import MemoryEnricher

    recorder = _Recorder()
    settings = {**KIT_ENV, **{k: v for k, v in (env or {}).items() if k != "GCEVENTS_HANDLERS"}}
    with _environment(env or {}):
        runtime = build_runtime(
            Config.from_env(settings),
            router=recorder.wrap(_user_router(handlers)),
            enricher=MemoryEnricher(dict(enrichment)) if enrichment is not None else None,
        )
        runtime.pipeline.services.update(services or {})
        outcomes = _deliver(runtime.pipeline, _records(events), max(1, batch_size), max(1, attempts))
    return RunResult(
        outcomes=outcomes,
        calls={name: list(calls) for name, calls in recorder.calls.items()},
        dead_letters=_letters(runtime.dead_letters),
        state=runtime.state_store,
    )


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """`env` in os.environ while the block runs; what was there before (or its absence) afterwards."""
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _letters(store: DeadLetterStore) -> list[DeadLetter]:
    from gcevents.ops.dlq import DeadLetterReader, LetterFilter, inspect

    # A memory store hides nothing it reads; another one (from `env`) may: `inspect` gives every letter back.
    return inspect(DeadLetterReader(store), LetterFilter(), 100_000)


def _user_router(handlers: Handlers) -> Router:
    """The user's handlers on a router of their own, loaded as `GCEVENTS_HANDLERS` loads them."""
    if isinstance(handlers, Router):
        return handlers
    from gcevents.entrypoints.runtime import load_handlers

    router = Router()
    if isinstance(handlers, str):
        load_handlers(router, (handlers,))
    elif callable(handlers):
        handlers(router)
    else:
        load_handlers(router, tuple(handlers))
    return router


def _records(events: Iterable[Any]) -> list[RawRecord]:
    """Each input as the SQS event source mapping delivers it: text bodies with a message id."""
    records: list[RawRecord] = []
    for item in events:
        if isinstance(item, RawRecord):
            records.append(item)
        elif is_sqs_batch(item):
            records.extend(split_records(item))
        else:
            body = item if isinstance(item, str | bytes) else json.dumps(item)
            records.append(RawRecord(body, message_id=str(uuid.uuid4()), source_arn=QUEUE_ARN))
    return records


def _deliver(pipeline: Pipeline, records: Sequence[RawRecord], batch_size: int, attempts: int) -> list[RecordOutcome]:
    """Batches through the pipeline; records answered RETRY come back with their receive count up, as SQS would
    redeliver them (without waiting for their visibility timeout)."""
    final: dict[int, tuple[RecordResult, int]] = {}
    pending = list(enumerate(records))
    for attempt in range(1, attempts + 1):
        again: list[tuple[int, RawRecord]] = []
        for start in range(0, len(pending), batch_size):
            chunk = pending[start : start + batch_size]
            report = pipeline.run([record for _, record in chunk], time.time() + DEADLINE_SECONDS)
            for (index, record), result in zip(chunk, report.results, strict=True):
                final[index] = (result, attempt)
                if result.outcome is Outcome.RETRY:
                    again.append((index, dataclasses.replace(record, receive_count=record.receive_count + 1)))
        pending = again
        if not pending:
            break
    return [_outcome(*final[index]) for index in range(len(records))]


def _outcome(result: RecordResult, attempts: int) -> RecordOutcome:
    return RecordOutcome(result.outcome.value, result.reason, result.event, attempts, result.retry_after)


class _Recorder:
    """Wraps every handler of a router so each call is recorded; the handlers themselves run unchanged."""

    def __init__(self) -> None:
        self.calls: defaultdict[str, list[Call]] = defaultdict(list)
        self._owners: dict[str, object] = {}  # name -> the handler that has it
        self._lock = threading.Lock()  # handlers run on the pipeline's thread pool

    def wrap(self, user: Router) -> Router:
        router = Router()
        for pattern, handler in user.routes():
            router.add(pattern, self._event_handler(self._name(handler), handler))
        for patterns, batch_handler in user.batch_handlers():
            router.add_batch(_RecordedBatch(self, self._name(batch_handler), batch_handler), patterns)
        return router

    def record(self, name: str, call: Call) -> None:
        with self._lock:
            self.calls[name].append(call)

    def _name(self, handler: object) -> str:
        """`__name__` (a batch handler: its class name); another handler of the same name gets its full path."""
        name: str = getattr(handler, "__name__", None) or type(handler).__name__
        if self._owners.setdefault(name, handler) is not handler:
            module = getattr(handler, "__module__", None) or type(handler).__module__
            name = f"{module}.{getattr(handler, '__qualname__', name)}"
        return name

    def _event_handler(self, name: str, handler: EventHandler) -> EventHandler:
        def recorded(event: GenesysEvent, ctx: HandlerContext) -> None:
            try:
                handler(event, ctx)
            except BaseException as exc:
                self.record(name, Call(event, ctx, exc))
                raise
            self.record(name, Call(event, ctx))

        return recorded


@dataclass(frozen=True, slots=True)
class _RecordedBatch:
    recorder: _Recorder
    name: str
    handler: BatchHandler

    @property
    def guards_itself(self) -> bool:
        """The wrapped handler's (`Router.needs_claim`): recording a handler must not change which events claim."""
        return bool(getattr(self.handler, "guards_itself", False))

    def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception] | BatchOutcome:
        try:
            outcome = self.handler.handle_batch(items)
        except Exception as exc:
            self._record(items, {item.event.content_key: exc for item in items})
            raise
        self._record(items, outcome.failures if isinstance(outcome, BatchOutcome) else outcome)
        return outcome

    def _record(self, items: Sequence[WorkItem], failures: Mapping[str, Exception]) -> None:
        for item in items:
            self.recorder.record(self.name, Call(item.event, item.context, failures.get(item.event.content_key)))
