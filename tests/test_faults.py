"""Fault injection: every input event ends exactly once in the handler's effects (and the conversation state) or
in the dead-letter sink with a reason — under DynamoDB throttling, Genesys 429/5xx/timeouts/lag, a worker killed
with SIGKILL mid-batch, a Lambda deadline mid-batch and duplicate storms. Each scenario counts what it injected
and prints one summary line (`pytest -s tests/test_faults.py` shows them).

The Lambda scenarios drive `process_invocation` through a simulated SQS event source mapping: visibility timeout,
ApproximateReceiveCount, partial batch responses, ChangeMessageVisibility, redrive to a DLQ after
maxReceiveCount. Waiting for hidden messages is virtual: the pipeline and the idempotency leases read a clock
that jumps ahead instead of sleeping, so a redelivery comes after the previous attempt's lease ended, as a queue
visibility timeout of 6x the function timeout guarantees in AWS.

"Double" is measured without trusting the idempotent effect table: the pipeline's `complete` is wrapped to take
a watermark of the attempts log, and any handler call for a key after the pipeline declared it done is a double
execution (what a non-idempotent handler would have done twice). Re-executions of attempts that had failed are
at-least-once retries, absorbed by `ctx.idempotency_key`, and reported separately.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from factories import wait_for
from gcevents.adapters.dynamodb import create_idempotency_table, create_state_table
from gcevents.config import Config, StoreSpec
from gcevents.core.events import CONVERSATION_KINDS, GenesysEvent, RawRecord, parse_record
from gcevents.core.pipeline import PipelineSettings
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import Runtime, build_runtime
from gcevents.ports import Claim, DeadLetter
from gcevents.testing import LambdaContext
from gcevents.testing.fakes import FakeClock
from gcevents.testing.queue import SimulatedQueue
from gcevents.testing.workload import TRUSTED_PREFIX, conversation_lifecycle, make_spike

pytestmark = pytest.mark.slow  # subprocesses, servers and whole workloads

ROOT = Path(__file__).resolve().parent.parent
APP = "tests.fixtures.fault_app"
WALL_LIMIT_S = 120.0  # per drain: a hang fails the test instead of eating the CI budget
MAX_INVOCATIONS = 2_000


# ------------------------------------------------------------------------------------------------ harness
def simulated_sqs(
    clock: FakeClock | None, *, batch_size: int = 10, visibility_timeout: float = 360.0, max_receive_count: int = 10
) -> SimulatedQueue:
    """An SQS standard queue behind a Lambda event source mapping (ReportBatchItemFailures) that also answers the
    boto3 calls `SqsRequeuer` makes, so Retry-After hints really delay redelivery. `clock` None: real time (the
    Genesys simulator's rate window is real time); otherwise waits for hidden messages jump the clock ahead."""
    return SimulatedQueue(
        name="gcevents-faults",
        clock=clock,
        advance=clock.advance if clock else None,
        batch_size=batch_size,
        visibility_timeout=visibility_timeout,
        max_receive_count=max_receive_count,
    )


def drain(queue: SimulatedQueue, invokers: Sequence[Callable[[dict[str, Any]], Any]]) -> None:
    """Invoke until the queue is empty; one thread per invoker (a Lambda container each)."""
    give_up = time.monotonic() + WALL_LIMIT_S
    errors: list[BaseException] = []

    def loop(invoke: Callable[[dict[str, Any]], Any]) -> None:
        try:
            while queue.stats.invocations < MAX_INVOCATIONS:
                event = queue.next_batch(give_up_at=give_up)
                if event is None:
                    return
                try:
                    response = invoke(event)
                except Exception as exc:  # a raised invocation fails the whole batch, as in Lambda
                    response = exc
                queue.settle(event, response)
            raise AssertionError("invocation budget exhausted")
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=loop, args=(invoke,), name=f"container-{n}") for n, invoke in enumerate(invokers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WALL_LIMIT_S + 5)
    assert not errors, errors[0]
    assert queue.depth() == 0


class DynamoThrottler:
    """Answers a seeded fraction of DynamoDB calls with a throttling error before they reach moto, as if the SDK's
    own retries had run out. Decisions hash (seed, operation, keys, n-th time seen), so they do not depend on
    which thread asks first."""

    CODES = ("ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError")

    def __init__(self, rate: float, seed: int, operations: frozenset[str]) -> None:
        self.rate = rate
        self.seed = seed
        self.operations = operations
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self.throttled_completions: set[str] = set()  # idempotency keys whose COMPLETED write was refused
        self._seen: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-call.dynamodb", self._before_call)
        return client

    def _before_call(self, model: Any, params: Mapping[str, Any], **_: Any) -> Any:
        operation = model.name
        if operation not in self.operations:
            return None
        request = json.loads(params.get("body") or b"{}")
        keys = sorted(_request_keys(request))
        fingerprint = f"{operation}|{','.join(keys)}"
        with self._lock:
            self.calls[operation] += 1
            self._seen[fingerprint] += 1
            draw = hashlib.sha256(f"{self.seed}|{fingerprint}|{self._seen[fingerprint]}".encode()).digest()
            if int.from_bytes(draw[:4], "big") / 2**32 >= self.rate:
                return None
            code = self.CODES[draw[4] % len(self.CODES)]
            self.injected[f"{operation}:{code}"] += 1
            if operation == "BatchWriteItem" and any(k.startswith("pk=") for k in keys):
                self.throttled_completions.update(k[3:] for k in keys)
        from botocore.awsrequest import AWSResponse

        status = 500 if code == "InternalServerError" else 400
        return AWSResponse("http://127.0.0.1/", status, {}, None), {
            "Error": {"Code": code, "Message": "injected by the fault suite"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }

    @property
    def total(self) -> int:
        return sum(self.injected.values())


def _request_keys(request: Mapping[str, Any]) -> Iterator[str]:
    def key_of(item: Mapping[str, Any]) -> str:
        for name in ("pk", "conversationId"):
            if name in item:
                return f"{name}={next(iter(item[name].values()))}"
        return "?"

    for found in (request.get("Item"), request.get("Key")):
        if found:
            yield key_of(found)
    for table in (request.get("RequestItems") or {}).values():
        if isinstance(table, dict):
            yield from (key_of(k) for k in table.get("Keys", []))
        else:
            for write in table:
                yield key_of((write.get("PutRequest") or {}).get("Item") or (write.get("DeleteRequest") or {})["Key"])


# ------------------------------------------------------------------------------------------------ expectations
@dataclass
class Expected:
    """What an honest processor must end with, computed from the inputs alone."""

    keys: dict[str, str] = field(default_factory=dict)  # message id -> content key
    events: dict[str, GenesysEvent] = field(default_factory=dict)  # content key -> the event
    rejected: dict[str, str] = field(default_factory=dict)  # message id -> dead-letter reason
    poison: set[str] = field(default_factory=set)  # keys whose handler always fails

    @classmethod
    def of(cls, ids: Sequence[str], bodies: Sequence[str], allowed: tuple[str, ...] = ()) -> Expected:
        expected = cls()
        for message_id, body in zip(ids, bodies, strict=True):
            parsed = parse_record(RawRecord(body, message_id), allowed)
            if isinstance(parsed, GenesysEvent):
                expected.keys[message_id] = parsed.content_key
                expected.events[parsed.content_key] = parsed
                if (parsed.conversation_id or "").startswith("poison-"):
                    expected.poison.add(parsed.content_key)
            else:
                expected.rejected[message_id] = parsed.reason
        return expected

    @property
    def unique(self) -> set[str]:
        return set(self.keys.values())


@dataclass
class Verdict:
    unique_events: int
    effects: int
    dead_events: int  # unique events with no effect whose every delivery is in the dead-letter sink
    lost: list[str]
    double_effects: list[str]
    double_executions: int
    retried_executions: int
    dead_lettered: Counter[str]

    def line(self) -> str:
        return (
            f"unique={self.unique_events} effects={self.effects} dead_events={self.dead_events} lost={len(self.lost)} "
            f"double_effects={len(self.double_effects)} double_executions={self.double_executions} "
            f"retried_executions={self.retried_executions} dead_lettered={dict(self.dead_lettered)}"
        )


def verify(
    expected: Expected,
    ledger: Any,
    *,
    acked: set[str],
    redriven: Mapping[str, str],
    letters: Sequence[DeadLetter],
    watermarks: Mapping[str, int] | None = None,
    successors: Mapping[str, str] | None = None,
) -> Verdict:
    """Every message has exactly one fate; every unique event exactly one effect, or (poison) only dead letters.
    A message requeued as a new one (`successors`: a 429, or unattempted work near maxReceiveCount) has the fate of
    the message it became."""
    expected, acked = _follow(expected, acked, successors or {})
    letter_ids = Counter(letter.message_id for letter in letters)
    assert all(n == 1 for n in letter_ids.values()), f"dead-lettered twice: {letter_ids.most_common(3)}"
    for message_id in [*expected.keys, *expected.rejected]:
        fates = [message_id in acked and message_id not in letter_ids, message_id in letter_ids, message_id in redriven]
        assert sum(fates) == 1, f"{message_id}: fates (acked, dead letter, redrive) = {fates}"
        if message_id in letter_ids:
            assert message_id in acked, f"{message_id}: dead-lettered but not acknowledged"
    for message_id, reason in expected.rejected.items():
        assert any(x.message_id == message_id and x.reason == reason for x in letters), (message_id, reason)
    dead_letter_ids = set(letter_ids) | set(redriven)
    lost: list[str] = []
    dead_events = 0
    for key in sorted(expected.unique):
        deliveries = [m for m, k in expected.keys.items() if k == key]
        if ledger.effects[key] == 0 and all(m in dead_letter_ids for m in deliveries):
            dead_events += 1  # dead-lettered (with a reason) on every delivery: not lost
        elif ledger.effects[key] != 1:
            lost.append(key)
    for message_id, key in expected.keys.items():  # an acknowledged record's event had its effect
        if message_id in acked and message_id not in letter_ids:
            assert ledger.effects[key] == 1, f"{message_id} acknowledged without an effect"
    double_executions = 0
    if watermarks is not None:
        double_executions = sum(1 for row_id, key in ledger.attempt_rows if row_id > watermarks.get(key, row_id))
    dead = Counter(x.reason for x in letters) + Counter(redriven.values())
    return Verdict(
        unique_events=len(expected.unique),
        effects=sum(ledger.effects.values()),
        dead_events=dead_events,
        lost=lost,
        double_effects=sorted(k for k, n in ledger.effects.items() if n > 1),
        double_executions=double_executions,
        retried_executions=ledger.reexecutions - double_executions,
        dead_lettered=dead,
    )


def _follow(expected: Expected, acked: set[str], successors: Mapping[str, str]) -> tuple[Expected, set[str]]:
    """Each requeued original replaced by the message it finally became (acknowledged, dead-lettered or redriven)."""
    if not successors:
        return expected, acked

    def final(message_id: str) -> str:
        while message_id in successors:
            message_id = successors[message_id]
        return message_id

    keys = {final(m): k for m, k in expected.keys.items()}
    rejected = {final(m): r for m, r in expected.rejected.items()}
    return dataclasses.replace(expected, keys=keys, rejected=rejected), acked - set(successors)


# ------------------------------------------------------------------------------------------------ fixtures
@pytest.fixture
def app(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> ModuleType:
    monkeypatch.syspath_prepend(str(ROOT))
    module = importlib.import_module(APP)
    module.configure(str(tmp_path / "effects.db"))
    return module


class Watermarks(dict[str, int]):
    """key -> newest attempt id when the pipeline declared the key done (called `complete` for it)."""

    def attach(self, runtime: Runtime, app: ModuleType) -> None:
        idempotency = runtime.pipeline.idempotency
        original = idempotency.complete
        lock = threading.Lock()

        def complete(claims: Sequence[Claim]) -> None:
            mark = app.last_attempt_id()
            with lock:
                for claim in claims:
                    self.setdefault(claim.key, mark)
            original(claims)

        idempotency.complete = complete  # type: ignore[method-assign]


def lambda_runtime(
    *,
    clock: FakeClock,
    queue: SimulatedQueue,
    idempotency: StoreSpec,
    state: StoreSpec,
    dynamodb: Any = None,
    settings: PipelineSettings,
    genesys: Any = None,
) -> Runtime:
    config = Config(
        idempotency_store=idempotency,
        state_store=state,
        dead_letters=StoreSpec("memory"),
        pipeline=settings,
        handler_modules=(f"{APP}:router",),
        claim_concurrency=8,
        genesys=genesys,
    )
    clients: dict[str, Any] = {"sqs": queue}
    if dynamodb is not None:
        clients["dynamodb"] = dynamodb
    return build_runtime(config, clock=clock, clients=clients)


def dynamo_tables(boto_client: Callable[[str], Any], name: str) -> tuple[StoreSpec, StoreSpec]:
    client = boto_client("dynamodb")
    create_idempotency_table(client, f"{name}-idem")
    create_state_table(client, f"{name}-state")
    return StoreSpec("dynamodb", f"{name}-idem"), StoreSpec("dynamodb", f"{name}-state")


def conversation_states(runtime: Runtime, conversation_ids: set[str]) -> dict[str, Any]:
    states = {cid: runtime.state_store.get(cid) for cid in sorted(conversation_ids)}
    return {cid: (s.state if s else None) for cid, s in states.items()}


def poison_events(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    bodies = []
    for n in range(count):  # one event per conversation: a blocked sibling would back off exponentially
        event = conversation_lifecycle(f"poison-{n}", 1_764_000_000_000, rng)[0]
        bodies.append(json.dumps(event))
    return bodies


def assert_exactly_once(verdict: Verdict, *, strict: bool = False) -> None:
    """Zero lost, zero double effects; `strict`: not even a handler call after the pipeline declared a key done."""
    assert verdict.lost == []
    assert verdict.double_effects == []
    if strict:
        assert verdict.double_executions == 0


def summary(name: str, **parts: Any) -> None:
    print(f"\n[faults] {name}: " + " ".join(f"{k}={v}" for k, v in parts.items()))


# ----------------------------------------------------------------------------------------- (a) DynamoDB throttling
def run_lambda_workload(
    bodies: Sequence[str],
    *,
    boto_client: Callable[[str], Any],
    name: str,
    app: ModuleType,
    throttler: DynamoThrottler | None,
    settings: PipelineSettings,
    timeout_s: float = 60.0,
    containers: int = 1,
    batch_size: int = 10,
) -> tuple[SimulatedQueue, Runtime, list[str], Watermarks, list[DeadLetter]]:
    clock = FakeClock(follows_wall=True)
    queue = simulated_sqs(clock, batch_size=batch_size)
    idempotency, state = dynamo_tables(boto_client, name)
    watermarks = Watermarks()
    runtimes = []
    for _ in range(containers):  # one runtime (clients, pools) per simulated Lambda container
        client = boto_client("dynamodb")
        if throttler is not None:
            throttler.attach(client)
        runtime = lambda_runtime(
            clock=clock, queue=queue, idempotency=idempotency, state=state, dynamodb=client, settings=settings
        )
        watermarks.attach(runtime, app)
        runtimes.append(runtime)
    ids = queue.send(bodies)

    def invoker(runtime: Runtime) -> Callable[[dict[str, Any]], Any]:
        return lambda event: process_invocation(runtime, event, LambdaContext(timeout_s, clock=clock))

    drain(queue, [invoker(r) for r in runtimes])
    letters = [x for r in runtimes for x in r.dead_letters.letters]  # type: ignore[attr-defined]
    return queue, runtimes[0], ids, watermarks, letters


def test_dynamodb_throttling_loses_nothing_and_converges_to_the_clean_state(
    boto_client: Callable[[str], Any], unique_name: str, app: ModuleType, tmp_path: Path
) -> None:
    spike = make_spike(240, duplicate_rate=0.25, malformed=5, untrusted=3, seed=11)
    bodies = spike.bodies + poison_events(2, seed=11)
    random.Random(11).shuffle(bodies)
    settings = PipelineSettings(allowed_sources=(TRUSTED_PREFIX,), deadline_margin=2.0)
    throttler = DynamoThrottler(
        0.15, seed=11, operations=frozenset({"PutItem", "DeleteItem", "BatchGetItem", "BatchWriteItem"})
    )
    queue, runtime, ids, watermarks, letters = run_lambda_workload(
        bodies, boto_client=boto_client, name=unique_name, app=app, throttler=throttler, settings=settings
    )
    expected = Expected.of(ids, bodies, (TRUSTED_PREFIX,))
    ledger = app.read_ledger(str(tmp_path / "effects.db"))
    verdict = verify(
        expected,
        ledger,
        acked=queue.acked,
        redriven=queue.redriven,
        letters=letters,
        watermarks=watermarks,
        successors=queue.successors,
    )
    faulty_state = conversation_states(runtime, spike.conversations)

    app.configure(str(tmp_path / "clean.db"))  # the same inputs, no faults: the state to converge to
    _, clean_runtime, _, _, _ = run_lambda_workload(
        bodies, boto_client=boto_client, name=unique_name + "c", app=app, throttler=None, settings=settings
    )
    clean_state = conversation_states(clean_runtime, spike.conversations)

    summary(
        "dynamodb_throttling",
        injected=throttler.total,
        by_kind=dict(throttler.injected),
        calls=sum(throttler.calls.values()),
        deliveries=queue.stats.deliveries,
        redeliveries=queue.stats.redeliveries,
        **{"verdict": verdict.line()},
    )
    assert throttler.total > 50
    assert_exactly_once(verdict)
    assert verdict.dead_events == len(expected.poison) == 2
    assert verdict.dead_lettered == Counter(expected.rejected.values()) + Counter(max_receive_count=2)
    assert Counter(expected.rejected.values())["untrusted_source"] == 3
    assert faulty_state == clean_state
    assert all(faulty_state.values())
    # A double execution can only follow a COMPLETED write refused on every retry (see the test below).
    doubled = {k for row_id, k in ledger.attempt_rows if row_id > watermarks.get(k, row_id)}
    assert doubled <= throttler.throttled_completions


def test_a_refused_completion_does_not_let_a_later_resend_run_again(
    boto_client: Callable[[str], Any], unique_name: str, app: ModuleType, tmp_path: Path
) -> None:
    """The COMPLETED write is throttled twice in a row (after the SDK's own retries). Idempotency.complete retries
    it, so the key ends COMPLETED and a Genesys re-send after the lease is a duplicate, not a second run."""
    spike = make_spike(20, duplicate_rate=0.0, malformed=0, untrusted=0, seed=5)
    first, resend = spike.bodies[0], json.dumps(dict(json.loads(spike.bodies[0]), id=str(uuid.uuid4())))
    clock = FakeClock(follows_wall=True)
    queue = simulated_sqs(clock)
    idempotency, _ = dynamo_tables(boto_client, unique_name)
    client = boto_client("dynamodb")
    refusals = {"left": 2}

    def refuse_completion(model: Any, params: Mapping[str, Any], **_: Any) -> Any:
        if model.name != "BatchWriteItem" or refusals["left"] == 0:
            return None
        refusals["left"] -= 1
        from botocore.awsrequest import AWSResponse

        return AWSResponse("http://127.0.0.1/", 400, {}, None), {
            "Error": {"Code": "ProvisionedThroughputExceededException", "Message": "injected"}
        }

    client.meta.events.register("before-call.dynamodb", refuse_completion)
    runtime = lambda_runtime(
        clock=clock,
        queue=queue,
        idempotency=idempotency,
        state=StoreSpec("off"),
        dynamodb=client,
        settings=PipelineSettings(deadline_margin=1.0),
    )
    queue.send([first])
    drain(queue, [lambda event: process_invocation(runtime, event, LambdaContext(30.0, clock=clock))])
    clock.advance(3600)  # the re-send arrives an hour later (Genesys re-sends for up to four days)
    queue.send([resend])
    drain(queue, [lambda event: process_invocation(runtime, event, LambdaContext(30.0, clock=clock))])
    ledger = app.read_ledger(str(tmp_path / "effects.db"))
    summary("refused_completion", attempts=sum(ledger.attempts.values()), effects=sum(ledger.effects.values()))
    assert sum(ledger.attempts.values()) == 1


# ------------------------------------------------------------------------------------------------ (b) Genesys faults
def test_genesys_429_5xx_timeouts_and_lag_lose_nothing(app: ModuleType, tmp_path: Path) -> None:
    from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

    spike = make_spike(150, duplicate_rate=0.1, malformed=0, untrusted=0, seed=23)
    unknown = frozenset(sorted(spike.conversations)[:2])  # analytics never knows these
    options = SimulatorOptions(
        rate_limit_per_minute=4,
        rate_window_seconds=1.0,  # 429s really happen (a 1 s window; limits say 240/min)
        error_rate=0.25,
        error_status=503,
        slow_rate=0.15,
        slow_ms=700,
        latency_ms=5,
        lagging_fraction=0.3,
        lag_lookups=2,
        unknown_ids=unknown,
        seed=23,
    )
    with GenesysSimulator(options) as sim:
        genesys = sim.settings(
            read_timeout=0.3, connect_timeout=0.5, max_retries=1, backoff_base=0.02, backoff_cap=0.1, max_wait=0.3
        )
        # Real time here: the simulator's rate window is wall time, so redelivery must not skip ahead of it.
        queue = simulated_sqs(None, batch_size=10, visibility_timeout=0.3, max_receive_count=10)
        clock = FakeClock(follows_wall=True)
        every_kind = frozenset(f"conversation.{kind}" for kind in CONVERSATION_KINDS)
        settings = PipelineSettings(
            enrich_kinds=every_kind, lag_retries=2, lag_retry_delay=0.2, deadline_margin=1.0
        )  # every batch makes a bulk lookup, so the faults have traffic to land on
        runtime = lambda_runtime(
            clock=clock,
            queue=queue,
            idempotency=StoreSpec("memory"),
            state=StoreSpec("memory"),
            settings=settings,
            genesys=genesys,
        )
        watermarks = Watermarks()
        watermarks.attach(runtime, app)
        ids = queue.send(spike.bodies)
        try:
            drain(queue, [lambda event: process_invocation(runtime, event, LambdaContext(20.0, clock=clock))])
        finally:
            runtime.genesys.close()
        stats = sim.stats()
    expected = Expected.of(ids, spike.bodies)
    ledger = app.read_ledger(str(tmp_path / "effects.db"))
    letters = runtime.dead_letters.letters  # type: ignore[attr-defined]
    verdict = verify(
        expected, ledger, acked=queue.acked, redriven=queue.redriven, letters=letters, watermarks=watermarks
    )
    enrichable = {k for k, e in expected.events.items() if e.kind in settings.enrich_kinds}
    of_unknown = {k for k, e in expected.events.items() if e.conversation_id in unknown}
    client_stats = runtime.api_stats()
    summary(
        "genesys_faults",
        rate_limited_429=stats["rate_limited"],
        server_errors_5xx=stats["server_errors"],
        slow=stats["slow_responses"],
        client_timeouts=int(client_stats["transport_errors"]),
        client_gave_up_rate_limited=int(client_stats["gave_up_rate_limited"]),
        api_calls=stats["api_calls"],
        enrichable=len(enrichable),
        enriched=len(ledger.enriched & enrichable),
        redeliveries=queue.stats.redeliveries,
        visibility_changes=queue.stats.visibility_changes,
        requeued_after_429=queue.stats.requeued,
        budget=runtime.genesys.budget(),
        verdict=verdict.line(),
    )
    assert runtime.genesys.budget()["mode"] == "token"  # the adaptive limiter, with the limit the API published
    assert stats["rate_limited"] > 0
    assert stats["server_errors"] > 0
    assert stats["slow_responses"] > 0
    assert client_stats["transport_errors"] > 0  # slow answers that hit the client's read timeout
    assert_exactly_once(verdict, strict=True)
    # A 429 is never a reason to dead-letter: rate-limited records went back as new messages.
    assert queue.stats.requeued > 0
    assert verdict.dead_lettered == {}
    assert not ledger.enriched & of_unknown  # proceeded without enrichment once the lag retries ran out
    assert ledger.enriched & enrichable  # and the rest was enriched


# ------------------------------------------------------------------------------------------------ (c) SIGKILL
def start_worker(queue_db: Path, store_db: Path, effects_db: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("GCEVENTS_", "GENESYS_", "AWS_ENDPOINT"))},
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "GCEVENTS_IDEMPOTENCY_STORE": f"sqlite:{store_db}",
        "GCEVENTS_STATE_STORE": f"sqlite:{store_db}",
        "GCEVENTS_DLQ": f"sqlite:{store_db}",
        "GCEVENTS_HANDLERS": f"{APP}:router",
        "GCEVENTS_DEADLINE_MARGIN": "0.2",
        "GCEVENTS_LOG_LEVEL": "WARNING",
        "FAULT_EFFECTS_DB": str(effects_db),
        "FAULT_HANDLER_DELAY": "0.03",
    }
    args = [
        "worker",
        "--sqlite-queue",
        str(queue_db),
        "--batch-size",
        "10",
        "--batch-window",
        "0",
        "--wait",
        "0.2",
        "--visibility-timeout",
        "2",
        "--batch-time-limit",
        "1.5",
        "--concurrency",
        "2",
        "--max-receive-count",
        "10",
        "--exit-when-idle",
    ]
    code = "import sys; from gcevents.entrypoints.cli import main; sys.exit(main(sys.argv[1:]))"
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-c", code, *args], env=env, stdout=out, stderr=out, cwd=ROOT)


def sqlite_scalar(path: Path, sql: str) -> int:
    with closing(sqlite3.connect(path, timeout=30)) as conn:
        try:
            return int(conn.execute(sql).fetchone()[0])
        except sqlite3.OperationalError:  # the table does not exist yet
            return 0


def test_worker_killed_with_sigkill_mid_batch_loses_nothing(tmp_path: Path, app: ModuleType) -> None:
    from gcevents.adapters.sqlite import SqliteDatabase, SqliteDeadLetterSink, SqliteIdempotencyStore, SqliteQueue

    queue_db, store_db, effects_db, log = (tmp_path / n for n in ("queue.db", "store.db", "fx.db", "worker.log"))
    app.configure(str(effects_db))
    spike = make_spike(160, duplicate_rate=0.2, malformed=3, untrusted=0, seed=31)
    bodies = spike.bodies + poison_events(2, seed=31)
    random.Random(31).shuffle(bodies)
    ids = SqliteQueue(SqliteDatabase(str(queue_db))).send(bodies)

    kills = []
    for threshold in (25, 70):  # two crashes, each once the handler is well into the work
        worker = start_worker(queue_db, store_db, effects_db, log)
        try:
            wait_for(lambda t=threshold: sqlite_scalar(effects_db, "SELECT COUNT(*) FROM attempts") >= t, 30)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
        kills.append(
            {
                "attempts": sqlite_scalar(effects_db, "SELECT COUNT(*) FROM attempts"),
                "claims_in_progress": sqlite_scalar(
                    store_db, "SELECT COUNT(*) FROM idempotency WHERE status='IN_PROGRESS'"
                ),
                "in_flight": sqlite_scalar(
                    queue_db, f"SELECT COUNT(*) FROM queue_messages WHERE visible_at > {time.time()}"
                ),
            }
        )
    worker = start_worker(queue_db, store_db, effects_db, log)
    try:
        assert worker.wait(60) == 0, log.read_text()[-3000:]
    finally:
        if worker.poll() is None:
            worker.kill()

    store = SqliteDatabase(str(store_db))
    letters = [s.letter for s in SqliteDeadLetterSink(store).list(10_000)]
    redriven = {x.message_id or "": x.reason for x in letters if x.reason == "max_receive_count"}
    # A kill between writing a dead letter and deleting its message repeats the letter (never loses it).
    pipeline_letters = list({x.message_id: x for x in letters if x.reason != "max_receive_count"}.values())
    assert sqlite_scalar(queue_db, "SELECT COUNT(*) FROM queue_messages") == 0
    acked = set(ids) - set(redriven)  # the queue is empty: whatever was not redriven was deleted (acknowledged)
    expected = Expected.of(ids, bodies)
    ledger = app.read_ledger(str(effects_db))
    verdict = verify(expected, ledger, acked=acked, redriven=redriven, letters=pipeline_letters)
    done = SqliteIdempotencyStore(store).completed(sorted(expected.unique), int(time.time() * 1000))
    summary(
        "sigkill",
        kills=kills,
        attempts=sum(ledger.attempts.values()),
        worker_pids=len(ledger.pids),
        dead_letters_written=len(letters),
        verdict=verdict.line(),
    )
    assert all(k["claims_in_progress"] > 0 or k["in_flight"] > 0 for k in kills), kills  # the kills landed mid-batch
    assert len(ledger.pids) >= 2  # effects came from more than one worker process
    assert_exactly_once(verdict)
    assert verdict.dead_events == len(expected.poison) == 2
    assert done == expected.unique - expected.poison
    assert verdict.dead_lettered == Counter(expected.rejected.values()) + Counter(max_receive_count=2)


# ------------------------------------------------------------------------------------------------ (d) deadline
def test_lambda_deadline_mid_batch_hands_back_unstarted_records(
    boto_client: Callable[[str], Any], unique_name: str, app: ModuleType, tmp_path: Path
) -> None:
    effects_db = str(tmp_path / "effects.db")
    app.configure(effects_db, delay=0.25)
    rng = random.Random(41)
    events = [e for n in range(4) for e in conversation_lifecycle(f"c-deadline-{n}", 1_764_000_000_000, rng)]
    bodies = [json.dumps(e) for e in events]
    clock = FakeClock(follows_wall=True)
    queue = simulated_sqs(clock, batch_size=len(bodies))
    idempotency, state = dynamo_tables(boto_client, unique_name)
    runtime = lambda_runtime(
        clock=clock,
        queue=queue,
        idempotency=idempotency,
        state=state,
        dynamodb=boto_client("dynamodb"),
        settings=PipelineSettings(deadline_margin=0.5),
    )
    watermarks = Watermarks()
    watermarks.attach(runtime, app)
    ids = queue.send(bodies)
    expected = Expected.of(ids, bodies)
    responses: list[dict[str, Any]] = []

    def invoke(event: dict[str, Any]) -> dict[str, Any]:
        # 2 s with a 0.5 s margin: 1.5 s for 4 conversations (run in parallel) of 10 events taking 0.25 s each.
        response = process_invocation(runtime, event, LambdaContext(2.0, clock=clock))
        responses.append(response)
        if len(responses) == 1:  # the first invocation: exactly the unstarted records come back
            ledger = app.read_ledger(effects_db)
            failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
            for record in event["Records"]:
                key = expected.keys[record["messageId"]]
                assert (record["messageId"] in failed) == (ledger.attempts[key] == 0), record["messageId"]
        return response

    drain(queue, [invoke])
    ledger = app.read_ledger(effects_db)
    verdict = verify(expected, ledger, acked=queue.acked, redriven=queue.redriven, letters=[], watermarks=watermarks)
    handed_back = [len(r["batchItemFailures"]) for r in responses]
    summary("deadline", invocations=len(responses), handed_back=handed_back, verdict=verdict.line())
    assert handed_back[0] > 0
    assert handed_back[-1] == 0
    assert_exactly_once(verdict, strict=True)
    assert verdict.retried_executions == 0  # unstarted means not started: no handler ran twice
    assert all(conversation_states(runtime, {f"c-deadline-{n}" for n in range(4)}).values())


# ------------------------------------------------------------------------------------------------ (e) duplicate storms
def test_duplicate_storm_from_concurrent_containers_has_effects_exactly_once(
    boto_client: Callable[[str], Any], unique_name: str, app: ModuleType, tmp_path: Path
) -> None:
    rng = random.Random(53)
    events = [e for n in range(6) for e in conversation_lifecycle(f"c-storm-{n}", 1_764_000_000_000, rng)]
    bodies: list[str] = []
    for event in events:
        for copy in range(rng.randint(5, 20)):
            # Half are SQS re-deliveries of the same message body, half Genesys re-sends under a new envelope id.
            again = event if copy % 2 else dict(event, id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
            bodies.append(json.dumps(again))
    rng.shuffle(bodies)
    settings = PipelineSettings(deadline_margin=2.0)
    queue, runtime, ids, watermarks, letters = run_lambda_workload(
        bodies, boto_client=boto_client, name=unique_name, app=app, throttler=None, settings=settings, containers=4
    )
    expected = Expected.of(ids, bodies)
    ledger = app.read_ledger(str(tmp_path / "effects.db"))
    verdict = verify(
        expected, ledger, acked=queue.acked, redriven=queue.redriven, letters=letters, watermarks=watermarks
    )
    conversations = {f"c-storm-{n}" for n in range(6)}
    storm_state = conversation_states(runtime, conversations)

    app.configure(str(tmp_path / "clean.db"))
    clean = [json.dumps(e) for e in events]
    _, clean_runtime, _, _, _ = run_lambda_workload(
        clean, boto_client=boto_client, name=unique_name + "c", app=app, throttler=None, settings=settings
    )
    summary(
        "duplicate_storm",
        deliveries=len(bodies),
        unique=len(events),
        containers=4,
        redeliveries=queue.stats.redeliveries,
        attempts=sum(ledger.attempts.values()),
        verdict=verdict.line(),
    )
    assert_exactly_once(verdict, strict=True)
    assert set(ledger.attempts.values()) == {1}  # no failures injected: every event ran exactly once
    assert not verdict.dead_lettered
    assert storm_state == conversation_states(clean_runtime, conversations)
