"""The shared benchmark rig: one workload, one job, one AWS (moto behind a metering, latency-adding front, in its
own process), one Genesys simulator (in the parent process), and each variant in a fresh child process whose CPU
time is the variant's own.

The job every design does (docs/benchmarks.md): keep one state item per conversation from every conversation event,
and for `customer.end` and `acw` fetch the analytics details and perform a side effect (a CRM update) exactly once.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import random
import resource
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .prices import Bill, cost_per_million, sqs_requests_for_queue

# Never reach real AWS, whatever the caller's environment holds.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
REGION = "us-east-1"
ROOT = Path(__file__).resolve().parent.parent
EFFECT_KINDS = ("customer.end", "acw")  # enriched, with a side effect; every other event only feeds the state
# Calls a container makes once, not per event: the client-credentials token and the limits API read of the adaptive
# pacing (the simulator's route names). Counted apart from the per-event API calls.
PER_CONTAINER_ROUTES = ("POST /oauth/token", "GET /api/v2/organizations/limits/")
LIFECYCLE_EVENTS = 10  # events of one conversation (`gcevents.testing.workload.conversation_lifecycle`)


@dataclass(frozen=True, slots=True)
class Params:
    events: int = 1_100
    conversations: int = 0  # 0: complete lifecycles, unique events / 10 conversations
    duplicate_rate: float = 0.10
    batch_sizes: tuple[int, ...] = (10, 100, 1000)
    latency_ms: float = 100.0  # Genesys, per API answer
    aws_rtt_ms: float = 5.0  # per AWS request, a wait in the emulator's front (no client CPU)
    rate_per_minute: int = 6_000
    max_receive_count: int = 5
    visibility_timeout: float = 1.0  # seconds before a failed record is received again (scaled down from 30 s+)
    lambda_async_retries: int = 2  # EventBridge -> Lambda is async: Lambda retries a failed event twice
    seed: int = 7
    claim_mode: str = "per_key"  # gcevents' GCEVENTS_CLAIM_MODE
    # When the event list's conversations end (epoch ms; `make_workload`): fixed once per run, so every design's
    # process rebuilds the same list. Default: when the parameters are made, i.e. at the run's start.
    start_ms: int = field(default_factory=lambda: int(time.time() * 1000))


# ------------------------------------------------------------------------------------------------ workload
@dataclass(slots=True)
class Workload:
    """SQS bodies (EventBridge envelopes as text) in delivery order, each with a message id and the identity of
    the Genesys event it carries (re-sends share the identity, never the envelope id)."""

    bodies: list[str]
    message_ids: list[str]
    envelope_ids: list[str]
    identity: dict[str, str]  # message id or envelope id -> identity (hash of `detail`)
    unique: dict[str, str]  # identity -> the first body carrying it
    effect_identities: set[str]  # identities of the events that get a side effect
    duplicates: int
    conversations: int

    @property
    def total(self) -> int:
        return len(self.bodies)

    @property
    def unique_events(self) -> int:
        return len(self.unique)


def is_effect_topic(topic: str) -> bool:
    return topic.endswith(tuple(f".{kind}" for kind in EFFECT_KINDS))


def _identity(event: dict[str, Any]) -> str:
    canonical = json.dumps(event["detail"], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


FRESH_WINDOW_MS = 300_000  # conversations of the event list start within this before the run


def make_workload(
    events: int,
    conversations: int = 0,
    duplicate_rate: float = 0.10,
    *,
    seed: int = 7,
    start_ms: int | None = None,
) -> Workload:
    """A spike as `gcevents.testing.workload.make_spike` builds it (lifecycle events, re-sends with new envelope ids,
    shuffled) over `conversations` conversations (0: complete lifecycles; fewer events per conversation when more
    conversations are asked for: a spike window that sees a slice of each lifecycle).

    Conversations start in the 5 minutes before `start_ms` (default: now), so the events are as fresh as streaming
    traffic's: gcevents treats once-per-session events older than GCEVENTS_FACT_KEYS_AFTER (10 minutes) as late
    (a re-send days later, a replay) and claims their fact keys, which a list dated last year would make of all."""
    from gcevents.testing.workload import conversation_lifecycle

    rng = random.Random(seed)
    began = start_ms if start_ms is not None else int(time.time() * 1000)
    n_unique = round(events / (1 + duplicate_rate))
    conversations = conversations or max(1, -(-n_unique // LIFECYCLE_EVENTS))
    per_conversation = n_unique / conversations
    unique: list[dict[str, Any]] = []
    for index in range(conversations):
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        lifecycle = conversation_lifecycle(cid, began - rng.randrange(0, FRESH_WINDOW_MS), rng)
        want = round(per_conversation * (index + 1)) - round(per_conversation * index)
        want = max(1, min(len(lifecycle), want))
        offset = rng.randrange(0, len(lifecycle) - want + 1)
        unique.extend(lifecycle[offset : offset + want])
    unique = unique[:n_unique]
    resent = [
        dict(rng.choice(unique), id=str(uuid.UUID(int=rng.getrandbits(128), version=4)))
        for _ in range(events - len(unique))
    ]
    stream = unique + resent
    rng.shuffle(stream)
    bodies = [json.dumps(e, separators=(",", ":")) for e in stream]
    message_ids = [f"m-{i:06d}" for i in range(len(stream))]
    identity: dict[str, str] = {}
    first: dict[str, str] = {}
    effects: set[str] = set()
    for mid, event, body in zip(message_ids, stream, bodies, strict=True):
        key = identity[mid] = identity[event["id"]] = _identity(event)
        first.setdefault(key, body)
        if is_effect_topic(event["detail"]["topicName"]):
            effects.add(key)
    return Workload(
        bodies=bodies,
        message_ids=message_ids,
        envelope_ids=[e["id"] for e in stream],
        identity=identity,
        unique=first,
        effect_identities=effects,
        duplicates=len(stream) - len(first),
        conversations=len({e["detail"]["eventBody"]["conversationId"] for e in unique}),
    )


# ------------------------------------------------------------------------------------------------ effects
class EffectLog:
    """What each design did, per delivery: its side effect (`record`, right after it succeeded) and, for the designs
    that write state per event, that event's state write (`record_state`). gcevents' state is checked at the end
    instead (`reflected`): its projection folds events into one write per conversation."""

    def __init__(self, workload: Workload) -> None:
        self._identity = workload.identity
        self._lock = threading.Lock()
        self.effects: Counter[str] = Counter()  # identity -> side effects
        self.state: set[str] = set()  # identities whose state write happened (or that the final state reflects)

    def record(self, delivery_id: str) -> None:
        with self._lock:
            self.effects[self._identity[delivery_id]] += 1

    def record_state(self, delivery_id: str) -> None:
        with self._lock:
            self.state.add(self._identity[delivery_id])

    def reflected(self, identities: set[str]) -> None:
        with self._lock:
            self.state |= identities


@dataclass(slots=True)
class Accounting:
    lost: int  # unique events whose side effect or state never happened
    double_effects: int  # side effects beyond the first per event
    correct: int  # unique events with exactly their effect: neither lost nor repeated


def account(workload: Workload, log: EffectLog) -> Accounting:
    lost = {i for i in workload.effect_identities if not log.effects[i]}
    lost |= {i for i in workload.unique if i not in log.state}
    doubled = {i for i, n in log.effects.items() if n > 1}
    return Accounting(
        lost=len(lost),
        double_effects=sum(n - 1 for n in log.effects.values() if n > 1),
        correct=workload.unique_events - len(lost | doubled),
    )


# ------------------------------------------------------------------------------------------- SQS redelivery
def event_source_mapping(workload: Workload, params: Params, batch_size: int, name: str) -> Any:
    """The part of an SQS standard queue + event source mapping the SQS designs see, in the variant's process:
    batches of visible messages, failed ones (batchItemFailures) visible again `visibility_timeout` s after their
    invocation, redrive to a DLQ after maxReceiveCount receives. Records carry no receipt handle."""
    from gcevents.testing.queue import SimulatedQueue

    queue = SimulatedQueue(
        name=name,
        visibility_timeout=params.visibility_timeout,
        max_receive_count=params.max_receive_count,
        batch_size=batch_size,
        lambda_receipts=False,
    )
    queue.send(workload.bodies, message_ids=workload.message_ids)
    return queue


@dataclass(slots=True)
class Invocations:
    count: int = 0
    whole_batch_failures: int = 0  # raised: SQS redelivers the whole batch
    seconds: list[float] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)


def invoke_until_empty(queue: Any, handler: Callable[[dict[str, Any], Any], Any], retry_after: float) -> Invocations:
    """Invoke `handler(event, context)` with the queue's batches until it is empty; a raised invocation fails
    the whole batch, as in Lambda."""
    done = Invocations()
    while (event := queue.next_batch()) is not None:
        t0 = time.perf_counter()
        try:
            response: Any = handler(event, FakeContext())
        except Exception as exc:
            response = exc
            done.whole_batch_failures += 1
        done.seconds.append(time.perf_counter() - t0)
        done.batch_sizes.append(len(event["Records"]))
        done.count += 1
        queue.settle(event, response, retry_after=retry_after)
    return done


@dataclass(slots=True)
class FakeContext:
    """The parts of the Lambda context object handlers read."""

    timeout_s: float = 60.0
    function_name: str = "bench"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_s - (time.monotonic() - self._started)) * 1000)


# ---------------------------------------------------------------------------------------------- environment
@dataclass(slots=True)
class BenchEnv:
    """What a variant needs, in its own process: the AWS endpoint, the simulator's settings, the parameters, and a
    prefix for its tables and queues (the meter adds up the tables with it)."""

    endpoint: str
    genesys: dict[str, str]
    params: Params
    batch_size: int
    prefix: str
    profile: str | None = None  # py-spy output path (`--profile`)

    def client(self, service: str, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        options = {"max_pool_connections": 32, **config}
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION, config=Config(**options))

    def table_name(self, purpose: str) -> str:
        return f"{self.prefix}-{purpose}"

    def genesys_settings(self) -> Any:
        from gcevents.adapters.genesys.settings import GenesysSettings

        return GenesysSettings.for_base_url(
            self.genesys["GENESYS_API_BASE_URL"],
            client_id=self.genesys["GENESYS_CLIENT_ID"],
            client_secret=self.genesys["GENESYS_CLIENT_SECRET"],
        )

    def meter(self) -> dict[str, Any]:
        """DynamoDB requests and units of this variant's tables so far (requests to the meter are not counted)."""
        with urllib.request.urlopen(f"{self.endpoint}/_bench/meter", timeout=30) as answer:
            tables = json.loads(answer.read())
        total: dict[str, Any] = {"requests": Counter(), "wcu": 0.0, "rcu": 0.0, "by_table": Counter()}
        total["server_cpu"] = tables.pop("_server_cpu_seconds", 0.0)
        for name, usage in tables.items():
            if name.startswith(self.prefix):
                total["requests"].update(usage["requests"])
                total["wcu"] += usage["wcu"]
                total["rcu"] += usage["rcu"]
                purpose = name.removeprefix(f"{self.prefix}-")  # the table's purpose: idempotency, state, ...
                total["by_table"].update({f"{purpose}.wcu": usage["wcu"], f"{purpose}.rcu": usage["rcu"]})
        return total


_CONTROL_PLANE = frozenset({"CreateTable", "DescribeTable", "DescribeTimeToLive", "UpdateTimeToLive", "Scan"})


@contextlib.contextmanager
def measured(env: BenchEnv) -> Iterator[dict[str, Any]]:
    """Wall time, process CPU time (every thread of this process) and the meter over the block; with `env.profile`,
    py-spy samples the block (raw folded stacks, on-CPU threads only: `bench/profile.py` reads them)."""
    out: dict[str, Any] = {}
    before = env.meter()
    spy = _py_spy(env.profile)
    wall0, cpu0, times0 = time.perf_counter(), time.process_time(), os.times()
    try:
        yield out
    finally:
        out["wall"] = time.perf_counter() - wall0
        out["cpu"] = time.process_time() - cpu0
        times = os.times()
        out["cpu_system"] = times.system - times0.system  # of `cpu`: the kernel's share (syscalls, wake-ups)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        after = env.meter()
        requests = after["requests"] - before["requests"]
        out["dynamodb"] = {k: v for k, v in requests.items() if k not in _CONTROL_PLANE}
        out["wcu"] = after["wcu"] - before["wcu"]
        out["emulator_cpu"] = after["server_cpu"] - before["server_cpu"]
        out["rcu"] = after["rcu"] - before["rcu"]
        out["units_by_table"] = dict(after["by_table"] - before["by_table"])


def _py_spy(path: str | None) -> subprocess.Popen[bytes] | None:
    if not path:
        return None
    spy = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "py-spy"),
            "record",
            "--pid",
            str(os.getpid()),
            "--rate",
            "500",
            "--nonblocking",
            "--gil",
            "--threads",
            "--format",
            "raw",
            "--output",
            path,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached before the block starts
    return spy


@contextlib.contextmanager
def aws_server(rtt_ms: float) -> Iterator[str]:
    """The metering moto server (`bench.capacity`) in its own process, as AWS is outside the Lambda."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.capacity", str(port), str(rtt_ms)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("moto server process did not start") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(timeout=10)


@contextlib.contextmanager
def genesys_simulator(params: Params) -> Iterator[Any]:
    from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

    options = SimulatorOptions(
        latency_ms=params.latency_ms, rate_limit_per_minute=params.rate_per_minute, rate_window_seconds=60.0
    )
    simulator = GenesysSimulator(options).start()
    try:
        yield simulator
    finally:
        simulator.close()


# ------------------------------------------------------------------------------------------------ results
@dataclass(slots=True)
class VariantResult:
    name: str
    label: str
    batch_size: int | None  # None: one event per invocation
    events: int
    unique_events: int
    wall_seconds: float
    cpu_seconds: float
    cpu_system_seconds: float
    invocation_seconds: list[float]
    dynamodb: dict[str, int]
    write_units: float
    read_units: float
    sqs_requests: int
    emulator_cpu_seconds: float
    accounting: Accounting
    duplicates_skipped: int
    dead_lettered: int
    rss_mb: float
    genesys: dict[str, Any] = field(default_factory=dict)  # filled in by the parent (the simulator lives there)
    notes: list[str] = field(default_factory=list)
    units_by_table: dict[str, float] = field(default_factory=dict)  # "<purpose>.wcu" / ".rcu" -> units

    @classmethod
    def measured_run(cls, m: Mapping[str, Any], workload: Workload, **fields: Any) -> VariantResult:
        """A result with what `measured` counted (wall, CPU, DynamoDB requests and units, emulator CPU) and the
        workload's sizes filled in; the design's own fields as keywords."""
        return cls(
            events=workload.total,
            unique_events=workload.unique_events,
            wall_seconds=m["wall"],
            cpu_seconds=m["cpu"],
            cpu_system_seconds=m["cpu_system"],
            dynamodb=m["dynamodb"],
            write_units=m["wcu"],
            read_units=m["rcu"],
            emulator_cpu_seconds=m["emulator_cpu"],
            rss_mb=0.0,
            units_by_table=m["units_by_table"],
            **fields,
        )

    def bill(self) -> Bill:
        return cost_per_million(
            events=self.events,
            invocation_seconds=self.invocation_seconds,
            write_units=self.write_units,
            read_units=self.read_units,
            sqs_requests=self.sqs_requests,
        )

    def metrics(self) -> dict[str, Any]:
        calls = self.genesys.get("calls", {})
        per_container = sum(n for route, n in calls.items() if route.startswith(PER_CONTAINER_ROUTES))
        api_calls = sum(calls.values()) - per_container
        dynamo = sum(self.dynamodb.values())
        seconds = sorted(self.invocation_seconds)
        bill = self.bill()
        a = self.accounting
        return {
            "label": self.label,
            "batch_size": self.batch_size,
            "events": self.events,
            "unique_events": self.unique_events,
            "wall_seconds": round(self.wall_seconds, 3),
            "correct_effects_per_second": round(a.correct / self.wall_seconds, 1) if self.wall_seconds else None,
            "cpu_ms_per_event": round(self.cpu_seconds * 1000 / self.events, 3),
            "cpu_system_share": round(self.cpu_system_seconds / self.cpu_seconds, 2) if self.cpu_seconds else None,
            "invocations": len(self.invocation_seconds),
            "invocation_ms_p50": round(_percentile(seconds, 50) * 1000, 1),
            "invocation_ms_p99": round(_percentile(seconds, 99) * 1000, 1),
            "genesys_api_calls": api_calls,
            "genesys_per_container_calls": per_container,
            "genesys_calls_per_event": round(api_calls / self.events, 4),
            "genesys_rate_limited": int(self.genesys.get("rate_limited", 0)),
            "dynamodb_requests": dynamo,
            "dynamodb_by_operation": dict(sorted(self.dynamodb.items())),
            "dynamodb_requests_per_unique_event": round(dynamo / self.unique_events, 3),
            "write_units_per_unique_event": round(self.write_units / self.unique_events, 3),
            "read_units_per_unique_event": round(self.read_units / self.unique_events, 3),
            "units_per_unique_event_by_table": {
                k: round(v / self.unique_events, 3) for k, v in sorted(self.units_by_table.items())
            },
            "sqs_requests": self.sqs_requests,
            "emulator_cpu_ms_per_aws_request": round(self.emulator_cpu_seconds * 1000 / dynamo, 2) if dynamo else None,
            "dollars_per_million_events": round(bill.total, 3),
            "bill": {k: round(getattr(bill, k), 4) for k in ("lambda_duration", "lambda_requests", "dynamodb", "sqs")},
            "correct": a.correct,
            "lost": a.lost,
            "double_effects": a.double_effects,
            "duplicates_skipped": self.duplicates_skipped,
            "dead_lettered": self.dead_lettered,
            "rss_mb": round(self.rss_mb, 1),
            "notes": self.notes,
        }


def _percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[min(98, max(0, int(pct) - 1))]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def queue_sqs_requests(invocations: Invocations, extra: int = 0) -> int:
    """SQS requests of the queue between EventBridge and the function (see `prices.sqs_requests_for_queue`) plus
    the ones the design itself sent (dead letters, delays)."""
    first_deliveries = sum(invocations.batch_sizes)
    return sqs_requests_for_queue(first_deliveries, invocations.batch_sizes) + extra


# ------------------------------------------------------------------------------------------- child process
@dataclass(frozen=True, slots=True)
class Job:
    variant: str
    params: Params
    batch_size: int
    endpoint: str
    genesys: dict[str, str]
    profile: str | None = None


def _child(job: Job) -> VariantResult:
    """In a fresh interpreter: build the workload (deterministic), run one variant, return its result."""
    import importlib

    os.environ.update(AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    module = importlib.import_module(f"bench.{VARIANT_MODULES[job.variant]}")
    p = job.params
    workload = make_workload(p.events, p.conversations, p.duplicate_rate, seed=p.seed, start_ms=p.start_ms)
    prefix = f"bench-{job.variant}{job.batch_size}-{uuid.uuid4().hex[:8]}"
    env = BenchEnv(job.endpoint, job.genesys, p, job.batch_size, prefix, job.profile)
    result: VariantResult = module.run(env, workload)
    result.rss_mb = peak_rss_mb()
    return result


VARIANT_MODULES = {"a": "tutorial", "b": "powertools_variant", "c": "gcevents_variant"}


def run_in_child(job: Job, simulator: Any) -> VariantResult:
    """One variant in a new process (spawned: nothing of this one is inherited), the simulator's counts around it."""
    simulator.reset_stats()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        result = pool.submit(_child, job).result()
    result.genesys = simulator.stats()
    return result
