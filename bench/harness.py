"""The shared benchmark rig: one workload, one moto server, one Genesys simulator, and the bookkeeping that
turns what each variant did into comparable numbers (effects per unique event, requests, latencies)."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import os
import random
import statistics
import threading
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gcevents.testing.queue import SimulatedQueue
from gcevents.testing.workload import conversation_lifecycle

# Never reach real AWS, whatever the caller's environment holds.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
REGION = "us-east-1"


# ------------------------------------------------------------------------------------------------ workload
@dataclass(frozen=True, slots=True)
class Params:
    events: int = 10_000
    conversations: int = 2_000
    duplicate_rate: float = 0.10
    batch_size: int = 500
    latency_ms: float = 5.0
    rate_per_minute: int = 6_000
    max_receive_count: int = 5
    visibility_timeout: float = 1.0  # seconds before a failed record is received again (scaled down from 30 s+)
    lambda_async_retries: int = 2  # EventBridge -> Lambda is async: Lambda retries a failed event twice
    seed: int = 7
    per_event_events: int = 1_500  # (a) and (b) run on this prefix of the stream (0: all); see docs/benchmarks.md
    memory_events: int = 200  # prefix for the separate tracemalloc pass (0: no memory pass)
    moto_process: bool = False  # moto in its own process: its CPU no longer competes for our GIL
    aws_rtt_ms: float = 0.0  # added per AWS request (a sleep, so concurrent requests overlap as on a network)
    claim_mode: str = "per_key"  # gcevents' GCEVENTS_CLAIM_MODE: per_key or transaction


@dataclass(slots=True)
class Workload:
    """SQS bodies (EventBridge envelopes as text) in delivery order, each with a message id and the identity of
    the Genesys event it carries (re-sends share the identity, never the envelope id)."""

    bodies: list[str]
    message_ids: list[str]
    envelope_ids: list[str]
    identity: dict[str, str]  # message id or envelope id -> identity (hash of `detail`)
    unique_events: int
    duplicates: int
    conversations: int

    @property
    def total(self) -> int:
        return len(self.bodies)

    def prefix(self, count: int) -> Workload:
        """The first `count` deliveries of the same stream. A re-send whose original lies beyond the prefix is a
        unique event here, so `duplicates` counts only the re-sends of events also in the prefix."""
        if count <= 0 or count >= self.total:
            return self
        message_ids, envelope_ids = self.message_ids[:count], self.envelope_ids[:count]
        identities = [self.identity[m] for m in message_ids]
        unique = len(set(identities))
        conversations = {json.loads(b)["detail"]["eventBody"]["conversationId"] for b in self.bodies[:count]}
        return Workload(
            bodies=self.bodies[:count],
            message_ids=message_ids,
            envelope_ids=envelope_ids,
            identity={k: self.identity[k] for k in message_ids + envelope_ids},
            unique_events=unique,
            duplicates=count - unique,
            conversations=len(conversations),
        )


def _identity(event: dict[str, Any]) -> str:
    canonical = json.dumps(event["detail"], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def make_workload(
    events: int, conversations: int, duplicate_rate: float = 0.10, *, seed: int = 7, start_ms: int = 1_764_000_000_000
) -> Workload:
    """A spike as `gcevents.testing.workload.make_spike` builds it (lifecycle events, re-sends with new envelope ids,
    shuffled), but spread over `conversations` conversations: a spike window sees a slice of each lifecycle."""
    rng = random.Random(seed)
    n_unique = round(events / (1 + duplicate_rate))
    per_conversation = n_unique / max(1, conversations)
    unique: list[dict[str, Any]] = []
    for index in range(conversations):
        cid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        lifecycle = conversation_lifecycle(cid, start_ms + rng.randrange(0, 3_600_000), rng)
        # Spread the remainder evenly so the total comes out exactly at n_unique.
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
    envelope_ids = [e["id"] for e in stream]
    identity: dict[str, str] = {}
    for mid, event in zip(message_ids, stream, strict=True):
        identity[mid] = identity[event["id"]] = _identity(event)
    return Workload(
        bodies=bodies,
        message_ids=message_ids,
        envelope_ids=envelope_ids,
        identity=identity,
        unique_events=len({_identity(e) for e in unique}),
        duplicates=len(resent),
        conversations=len({e["detail"]["eventBody"]["conversationId"] for e in unique}),
    )


# ------------------------------------------------------------------------------------------------ effects
class EffectLog:
    """The side effect each variant performs once per event (e.g. a CRM update), counted per delivery.

    `record(delivery_id)` is called by the variant right after its effect succeeded."""

    def __init__(self, workload: Workload) -> None:
        self._identity = workload.identity
        self._lock = threading.Lock()
        self.by_delivery: Counter[str] = Counter()
        self.by_identity: Counter[str] = Counter()

    def record(self, delivery_id: str) -> None:
        with self._lock:
            self.by_delivery[delivery_id] += 1
            self.by_identity[self._identity[delivery_id]] += 1

    def double_effects(self) -> int:
        return sum(n - 1 for n in self.by_identity.values() if n > 1)


@dataclass(slots=True)
class Accounting:
    processed: int = 0  # this delivery did the effect
    duplicates: int = 0  # acknowledged without an effect of its own; its event's effect happened elsewhere
    lost: int = 0  # acknowledged, and its event's effect never happened
    dead_lettered: int = 0  # handed to a dead-letter queue (recoverable)

    @property
    def total(self) -> int:
        return self.processed + self.duplicates + self.lost + self.dead_lettered


def account(deliveries: list[str], dead_lettered: set[str], effects: EffectLog, identity: dict[str, str]) -> Accounting:
    """Every input delivery ends in exactly one bucket; `deliveries` are the ids the effect log was fed."""
    result = Accounting()
    for delivery in deliveries:
        if effects.by_delivery[delivery]:
            result.processed += 1
        elif delivery in dead_lettered:
            result.dead_lettered += 1
        elif effects.by_identity[identity[delivery]]:
            result.duplicates += 1
        else:
            result.lost += 1
    return result


# ------------------------------------------------------------------------------------------- request counts
class RequestCounter:
    """Counts HTTP requests a boto3 client sends (retries included), per operation, via botocore's events."""

    def __init__(self, rtt_ms: float = 0.0) -> None:
        self._lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()
        self._rtt = rtt_ms / 1000

    def attach(self, client: Any) -> Any:
        service = client.meta.service_model.service_name

        def count(request: Any, **kwargs: Any) -> None:
            # event_name is "before-send.<service>.<Operation>"
            operation = str(kwargs.get("event_name", "")).rsplit(".", 1)[-1]
            with self._lock:
                self.by_operation[operation] += 1
            if self._rtt:
                time.sleep(self._rtt)  # moto answers in-process: model the network round trip to AWS

        client.meta.events.register(f"before-send.{service}", count)
        return client

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.by_operation.values())


# ------------------------------------------------------------------------------------------- SQS redelivery
def event_source_mapping(workload: Workload, params: Params, name: str) -> SimulatedQueue:
    """The part of an SQS standard queue + event source mapping the SQS variants see: batches of visible
    messages, failed ones (batchItemFailures) visible again `visibility_timeout` s after their invocation failed,
    redrive to a DLQ after maxReceiveCount receives. In-process, so its own cost does not blur the numbers.
    Records carry no receipt handle: the runtime's SQS client is moto, which does not know this queue."""
    queue = SimulatedQueue(
        name=name,
        visibility_timeout=params.visibility_timeout,
        max_receive_count=params.max_receive_count,
        batch_size=params.batch_size,
        lambda_receipts=False,
    )
    queue.send(workload.bodies, message_ids=workload.message_ids)
    return queue


@dataclass(slots=True)
class Invocations:
    count: int = 0
    whole_batch_failures: int = 0  # raised: SQS redelivers the whole batch
    latencies_ms: list[float] = field(default_factory=list)


def invoke_until_empty(
    queue: SimulatedQueue, handler: Callable[[dict[str, Any], Any], Any], retry_after: float
) -> Invocations:
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
        done.latencies_ms.append((time.perf_counter() - t0) * 1000)
        done.count += 1
        queue.settle(event, response, retry_after=retry_after)
    return done


@dataclass(slots=True)
class FakeContext:
    """The parts of the Lambda context object handlers read."""

    timeout_s: float = 60.0
    function_name: str = "bench"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        return int((self.timeout_s - (time.monotonic() - self._started)) * 1000)


# ---------------------------------------------------------------------------------------------- environment
@dataclass(slots=True)
class BenchEnv:
    """One moto server and one Genesys simulator, shared by the variants (fresh tables each)."""

    endpoint: str
    simulator: Any  # gcevents.adapters.genesys.GenesysSimulator
    params: Params

    def client(self, service: str, counter: RequestCounter | None = None, **config: Any) -> Any:
        import boto3
        from botocore.config import Config

        client = boto3.client(
            service, endpoint_url=self.endpoint, region_name=REGION, config=Config(**config) if config else None
        )
        return counter.attach(client) if counter else client

    def table_name(self, variant: str, purpose: str) -> str:
        return f"bench-{variant}-{purpose}-{uuid.uuid4().hex[:8]}"


@contextmanager
def bench_env(params: Params) -> Iterator[BenchEnv]:
    from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

    os.environ.update(AWS_ENV)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    # werkzeug logs every request to stderr: millions of lines and a real cost inside the measurement.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with _moto(params.moto_process) as endpoint:
        options = SimulatorOptions(
            latency_ms=params.latency_ms, rate_limit_per_minute=params.rate_per_minute, rate_window_seconds=60.0
        )
        simulator = GenesysSimulator(options).start()
        try:
            yield BenchEnv(endpoint=endpoint, simulator=simulator, params=params)
        finally:
            simulator.close()


@contextmanager
def _moto(separate_process: bool) -> Iterator[str]:
    from gcevents.testing.moto import ServerThread

    if not separate_process:
        server = ServerThread()
        try:
            yield server.endpoint
        finally:
            server.stop()
        return
    import socket
    import subprocess
    import sys

    with socket.socket() as probe:  # a free port for the child
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    child = subprocess.Popen(
        [sys.executable, "-m", "gcevents.testing.moto", str(port)],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    raise RuntimeError("moto server process did not start") from None
                time.sleep(0.1)
        yield endpoint
    finally:
        child.terminate()
        child.wait(timeout=10)


# ------------------------------------------------------------------------------------------------ results
@dataclass(slots=True)
class VariantResult:
    name: str
    label: str
    events: int
    unique_events: int
    wall_seconds: float
    invocations: int
    batch_latencies_ms: list[float]
    genesys: dict[str, Any]
    dynamodb_requests: dict[str, int]
    other_aws_requests: dict[str, int]
    accounting: Accounting
    double_effects: int
    peak_memory_mb: float
    deliveries: int  # records handed to the handler, redeliveries included
    notes: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        calls = int(self.genesys.get("api_calls", 0))
        dynamo = sum(self.dynamodb_requests.values())
        latencies = sorted(self.batch_latencies_ms)
        return {
            "label": self.label,
            "events": self.events,
            "unique_events": self.unique_events,
            "wall_seconds": round(self.wall_seconds, 3),
            "events_per_second": round(self.events / self.wall_seconds, 1) if self.wall_seconds else None,
            "invocations": self.invocations,
            "deliveries": self.deliveries,
            "genesys_calls": calls,
            "genesys_calls_per_event": round(calls / self.events, 4),
            "genesys_rate_limited": int(self.genesys.get("rate_limited", 0)),
            "genesys_minutes_at_300_per_min": round(calls / 300, 2),
            "dynamodb_requests": dynamo,
            "dynamodb_requests_per_event": round(dynamo / self.events, 3),
            "dynamodb_requests_per_unique_event": round(dynamo / self.unique_events, 3),
            "dynamodb_by_operation": dict(sorted(self.dynamodb_requests.items())),
            "other_aws_requests": dict(sorted(self.other_aws_requests.items())),
            "batch_latency_ms_p50": round(percentile(latencies, 50), 2),
            "batch_latency_ms_p99": round(percentile(latencies, 99), 2),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "processed": self.accounting.processed,
            "duplicates": self.accounting.duplicates,
            "lost": self.accounting.lost,
            "dead_lettered": self.accounting.dead_lettered,
            "accounted": self.accounting.total,
            "double_effects": self.double_effects,
            "notes": self.notes,
        }


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[min(98, max(0, int(pct) - 1))]


@contextmanager
def measure_memory(enabled: bool) -> Iterator[Callable[[], float]]:
    """tracemalloc peak (MB) over the block. It covers the whole process: the in-process moto server and the
    simulator allocate too, the same for every variant."""
    peak = [0.0]
    if enabled:
        gc.collect()  # garbage of the previous pass must not count against this one
        tracemalloc.start()
        tracemalloc.reset_peak()
    try:
        yield lambda: peak[0]
    finally:
        if enabled:
            peak[0] = tracemalloc.get_traced_memory()[1] / 1e6
            tracemalloc.stop()
