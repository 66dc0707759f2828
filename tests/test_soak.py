"""The soak: several `gcevents worker --queue-url` processes on one SQS queue (moto, with a DLQ redrive
policy) and one DynamoDB table, for about a minute and a half, under everything at once:

- continuous input with Genesys re-sends (same content, new envelope id) and in-queue duplicates (one text sent
  twice), plus a share of hostile bytes: invalid JSON, lone surrogates in JSON escapes, nesting 100,000 deep;
- SIGKILLs of workers mid-batch (each restarted at once), at least 20; one worker is never killed (its memory);
- injected ack and visibility failures in the workers' own SQS client (tests/fixtures/soak_app.py);
- Genesys 429, 5xx and 401 bursts from the simulator, served over HTTP;
- half the workers claim per key, half with transactions (GCEVENTS_CLAIM_MODE), on the same table.

Effects are recorded by tests/fixtures/soak_app.py into SQLite. The report (printed, and asserted) shows 0 lost,
0 effects applied twice, 0 overlapping executions, 0 poisoned records (a good event dead-lettered), no DLQ entry
without a reason, and the never-killed worker's RSS at start and end. `pytest -s tests/test_soak.py` prints it."""

from __future__ import annotations

import itertools
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from factories import wait_for
from gcevents.adapters.dynamodb import create_idempotency_table
from gcevents.adapters.sqs import create_queues
from gcevents.core.events import GenesysEvent, RawRecord, parse_record
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions
from gcevents.testing.workload import TRUSTED_PREFIX, conversation_lifecycle, make_spike

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FEED_SECONDS = 45.0
WORKERS = 4  # slot 0 is never killed
MIN_KILLS = 20
VISIBILITY = 3  # seconds: the lease, renewed every second by the heartbeat
MAX_RECEIVE_COUNT = 16  # the retry delays here are seconds, the fault bursts half of every 14 s
DRAIN_LIMIT = 120.0
SEED = 11
BOOTSTRAP = (
    "import sys; from tests.fixtures.soak_app import install_sqs_faults; install_sqs_faults(); "
    "from gcevents.entrypoints.cli import main; sys.exit(main(sys.argv[1:]))"
)


# ------------------------------------------------------------------------------------------------ input
@dataclass
class Input:
    bodies: list[str] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)


def soak_input(rng: random.Random) -> Input:
    spike = make_spike(1_250, duplicate_rate=0.15, malformed=20, untrusted=10, seed=SEED)
    out = Input(list(spike.bodies))
    out.counts.update(unique=spike.unique_events, resends=spike.duplicates, malformed=20, untrusted=10)
    twice = rng.sample(out.bodies, 60)  # in-queue duplicates: the same text as two messages
    out.bodies += twice
    out.counts["in_queue_duplicates"] = len(twice)
    hostile = list(_hostile(rng))
    out.bodies += hostile
    out.counts["hostile"] = len(hostile)
    rng.shuffle(out.bodies)
    return out


def _hostile(rng: random.Random) -> Iterator[str]:
    for n in range(25):  # invalid JSON
        yield rng.choice(['{"detail": {', "not json at all", '{"a": 1,}', "[" * 50, '{"detail": nul}']) + f" #{n}"
    for n in range(20):  # a lone surrogate in a JSON escape, in an otherwise good event
        event = conversation_lifecycle(f"surrogate-{n}", 1_764_000_000_000 + n, rng)[0]
        event["detail"]["eventBody"]["wrapupCode"] = "\ud800 lone"
        yield json.dumps(event)  # ASCII text: the surrogate travels as \ud800
    for n in range(5):  # nesting far beyond any parser's recursion limit
        depth = 100_000
        yield '{"n": ' + "[" * depth + str(n) + "]" * depth + "}"


# ------------------------------------------------------------------------------------------------ harness
@contextmanager
def moto_process() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    child = subprocess.Popen(
        [sys.executable, "-m", "gcevents.testing.moto", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _listening(port), 30, "moto did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        child.terminate()
        child.wait(10)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@dataclass
class Fleet:
    """The worker processes, by slot; kills and restarts are recorded."""

    env: dict[str, str]
    args: list[str]
    log: Path
    procs: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    killed: dict[int, float] = field(default_factory=dict)  # pid -> when SIGKILL was sent
    started: int = 0

    def start(self, slot: int) -> None:
        env = dict(self.env, GCEVENTS_CLAIM_MODE="transaction" if slot % 2 else "per_key")
        with self.log.open("ab") as out:
            self.procs[slot] = subprocess.Popen(
                [sys.executable, "-c", BOOTSTRAP, *self.args], env=env, stdout=out, stderr=out, cwd=ROOT
            )
        self.started += 1

    def kill(self, slot: int) -> None:
        proc = self.procs[slot]
        self.killed[proc.pid] = time.time()
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.start(slot)

    def stop(self) -> dict[int, int | None]:
        for proc in self.procs.values():
            proc.send_signal(signal.SIGTERM)
        codes: dict[int, int | None] = {}
        for slot, proc in self.procs.items():
            try:
                codes[slot] = proc.wait(40)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[slot] = None
        return codes


def worker_env(endpoint: str, urls: dict[str, str], table: str, sim: GenesysSimulator, tmp: Path) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("GCEVENTS_", "GENESYS_", "SOAK_"))}
    return {
        **inherited,
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]),
        "AWS_ENDPOINT_URL": endpoint,
        "GCEVENTS_IDEMPOTENCY_STORE": f"dynamodb:{table}",
        "GCEVENTS_STATE_STORE": "off",
        "GCEVENTS_DLQ": f"sqs:{urls['dlq_url']}",
        "GCEVENTS_HANDLERS": "tests.fixtures.soak_app:router",
        "GCEVENTS_ALLOWED_SOURCES": TRUSTED_PREFIX,
        "GCEVENTS_DEADLINE_MARGIN": "0.5",
        "GCEVENTS_CLOCK_SKEW_MARGIN": "0.5",
        "GCEVENTS_LAG_RETRY_DELAY": "0.5",
        "GCEVENTS_HANDLER_CONCURRENCY": "4",
        "GCEVENTS_CLAIM_CONCURRENCY": "4",
        "GCEVENTS_LOG_LEVEL": "WARNING",
        **sim.env(),
        "GENESYS_MAX_RETRIES": "1",
        "GENESYS_MAX_WAIT": "1",
        "GENESYS_READ_TIMEOUT": "2",
        "GENESYS_CONNECT_TIMEOUT": "1",
        "SOAK_EFFECTS_DB": str(tmp / "effects.db"),
        "SOAK_HANDLER_DELAY": "0.3",  # busy workers: most kills land mid-batch
        "SOAK_SQS_FAULT_RATE": "0.08",
        "SOAK_FAULTS_OFF": str(tmp / "faults-off"),
    }


WORKER_ARGS = [
    "--concurrency",
    "2",
    "--batch-size",
    "10",
    "--batch-window",
    "0.1",
    "--wait",
    "1",
    "--visibility-timeout",
    str(VISIBILITY),
    "--batch-time-limit",
    "20",
    "--retry-base-delay",
    "0.5",
    "--retry-max-delay",
    "3",
]


# ------------------------------------------------------------------------------------------------ drivers
def feed(endpoint: str, url: str, bodies: list[str], sent: dict[str, str], done: threading.Event) -> None:
    sqs = client("sqs", endpoint)
    per_tick = max(1, round(len(bodies) / FEED_SECONDS * 0.5))
    for start in range(0, len(bodies), per_tick):
        chunk = bodies[start : start + per_tick]
        for first in range(0, len(chunk), 10):
            part = chunk[first : first + 10]
            entries = [{"Id": str(n), "MessageBody": body} for n, body in enumerate(part)]
            response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not response.get("Failed"), response["Failed"]
            for ok in response["Successful"]:
                sent[ok["MessageId"]] = part[int(ok["Id"])]
        time.sleep(0.5)
    done.set()


def kill_workers(fleet: Fleet, done: threading.Event, rng: random.Random, effects_db: Path) -> None:
    """Every few seconds, SIGKILL a worker (never slot 0), preferring one with a handler running (up to 2 s of
    looking for one): a kill mid-batch is the one that tests leases and redelivery."""
    from tests.fixtures.soak_app import connect

    interval = FEED_SECONDS / (MIN_KILLS + 4)
    with closing(connect(str(effects_db))) as conn:
        while not done.wait(rng.uniform(0.6, 1.4) * interval):
            slots = {fleet.procs[slot].pid: slot for slot in range(1, WORKERS)}
            busy: list[int] = []
            give_up = time.monotonic() + 2.0
            while not busy and time.monotonic() < give_up:
                open_attempts = conn.execute("SELECT DISTINCT pid FROM attempts WHERE ended IS NULL").fetchall()
                busy = [slots[pid] for (pid,) in open_attempts if pid in slots]
                time.sleep(0.02)
            fleet.kill(rng.choice(busy) if busy else rng.randrange(1, WORKERS))


def genesys_bursts(sim: GenesysSimulator, done: threading.Event) -> None:
    calm = {"rate_limit_per_minute": None, "error_rate": 0.0}
    while not done.is_set():
        # 429 with Retry-After (Genesys sends no rate-limit headers a client could pace itself by).
        sim.update(rate_limit_per_minute=1, rate_window_seconds=10.0)
        done.wait(4)
        sim.update(rate_limit_per_minute=None, error_rate=0.7, error_status=503)
        done.wait(3)
        sim.update(**calm)
        for _ in range(3):  # every token revoked: 401, then a new token
            sim.revoke_tokens()
            done.wait(1)
        done.wait(4)
    sim.update(**calm)


def drained(sqs: Any, url: str) -> bool:
    names = [f"ApproximateNumberOfMessages{s}" for s in ("", "NotVisible", "Delayed")]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return all(attributes.get(name, "0") == "0" for name in names)


def read_dlq(sqs: Any, url: str) -> list[dict[str, Any]]:
    letters: list[dict[str, Any]] = []
    while True:
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=600,
            MessageAttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not got:
            return letters
        letters += got


# ------------------------------------------------------------------------------------------------ verdict
@dataclass
class Ledger:
    attempts: list[tuple[str, int, float, float | None, int]]  # key, pid, started, ended, receive_count
    effects: set[str]
    faults: Counter[str]


def read_ledger(path: Path) -> Ledger:
    from tests.fixtures.soak_app import connect

    with closing(connect(str(path))) as conn:
        attempts = conn.execute("SELECT key, pid, started, ended, receive_count FROM attempts ORDER BY id").fetchall()
        effects = {row[0] for row in conn.execute("SELECT key FROM effects")}
        faults = Counter(f"{op}/{kind}" for op, kind in conn.execute("SELECT operation, kind FROM faults"))
    return Ledger(attempts, effects, faults)


def doubles_and_overlaps(ledger: Ledger, killed: dict[int, float]) -> tuple[list[str], list[str]]:
    """A key whose effect ran to completion twice, the first time in a process that was never killed (so it went
    on to mark the key COMPLETED): applied twice. Two attempts of one key running at once (an attempt without an end
    ran until its process was killed): overlapping, what leases exist to prevent."""
    by_key: dict[str, list[tuple[int, float, float | None]]] = {}
    for key, pid, started, ended, _ in ledger.attempts:
        by_key.setdefault(key, []).append((pid, started, ended))
    doubles, overlaps = [], []
    for key, runs in by_key.items():
        done = [r for r in runs if r[2] is not None]
        if len(done) > 1 and done[0][0] not in killed:
            doubles.append(key)
        runs.sort(key=lambda r: r[1])
        for earlier, later in itertools.pairwise(runs):
            end = earlier[2] if earlier[2] is not None else killed.get(earlier[0], float("inf"))
            if later[1] < end:
                overlaps.append(key)
    return doubles, overlaps


def test_soak_workers_on_sqs_and_dynamodb_under_kills_faults_and_hostile_bytes(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    data = soak_input(rng)
    # The org publishes 300 a minute per token throughout; the bursts enforce far less for a few seconds.
    options = SimulatorOptions(rate_limit_per_minute=None, published_limit_per_minute=300, seed=SEED)
    with moto_process() as endpoint, GenesysSimulator(options) as sim:
        sqs, dynamodb = client("sqs", endpoint), client("dynamodb", endpoint)
        urls = create_queues(sqs, "soak", visibility_timeout=VISIBILITY, max_receive_count=MAX_RECEIVE_COUNT)
        create_idempotency_table(dynamodb, "soak-idempotency")
        fleet = Fleet(
            worker_env(endpoint, urls, "soak-idempotency", sim, tmp_path),
            ["worker", "--queue-url", urls["queue_url"], *WORKER_ARGS],
            tmp_path / "workers.log",
        )
        for slot in range(WORKERS):
            fleet.start(slot)
        survivor = fleet.procs[0].pid
        began = time.monotonic()
        sent: dict[str, str] = {}
        fed, stop_bursts = threading.Event(), threading.Event()
        drivers = [
            threading.Thread(target=feed, args=(endpoint, urls["queue_url"], data.bodies, sent, fed)),
            threading.Thread(target=kill_workers, args=(fleet, fed, random.Random(SEED + 1), tmp_path / "effects.db")),
            threading.Thread(target=genesys_bursts, args=(sim, stop_bursts)),
        ]
        for driver in drivers:
            driver.start()
        time.sleep(8)  # warm: imports done, clients and pools built, the first batches run
        rss_start = rss_kb(survivor)
        fed.wait(FEED_SECONDS * 3)
        stop_bursts.set()
        (tmp_path / "faults-off").touch()
        for driver in drivers:
            driver.join(60)
        fed_after = time.monotonic() - began
        drain_began = time.monotonic()
        streak = 0

        def settled() -> bool:
            nonlocal streak
            streak = streak + 1 if drained(sqs, urls["queue_url"]) else 0
            return streak >= 3

        try:
            wait_for(settled, DRAIN_LIMIT, "the queue did not drain")
        finally:
            drain_seconds = time.monotonic() - drain_began
            rss_end = rss_kb(survivor) if fleet.procs[0].poll() is None else -1
            codes = fleet.stop()
        letters = read_dlq(sqs, urls["dlq_url"])
        api = sim.stats()
    ledger = read_ledger(tmp_path / "effects.db")
    restarts = (tmp_path / "workers.log").read_text(errors="replace").count("poll iteration failed")

    # What each sent message must become: an effect (events), or a dead letter with its reason (rejections).
    good: dict[str, str] = {}  # message id -> content key
    rejected: dict[str, str] = {}  # message id -> reason
    for message_id, body in sent.items():
        parsed = parse_record(RawRecord(body, message_id), (TRUSTED_PREFIX,))
        if isinstance(parsed, GenesysEvent):
            good[message_id] = parsed.content_key
        else:
            rejected[message_id] = parsed.reason
    attrs = [{k: v.get("StringValue", "") for k, v in m.get("MessageAttributes", {}).items()} for m in letters]
    without_reason = [m["MessageId"] for m, a in zip(letters, attrs, strict=True) if not a.get("reason")]
    lettered = {a.get("originalMessageId", ""): a.get("reason", "") for a in attrs}
    poisoned = sorted(m for m in good if m in lettered)
    lost = sorted(set(good.values()) - ledger.effects)
    unlettered = sorted(m for m in rejected if m not in lettered)
    doubles, overlaps = doubles_and_overlaps(ledger, fleet.killed)
    mid_handler = {pid for _, pid, _, ended, _ in ledger.attempts if ended is None and pid in fleet.killed}
    completions = Counter(key for key, _, _, ended, _ in ledger.attempts if ended is not None)
    report = {
        "messages": len(sent),
        **dict(data.counts),
        "good_events": len(set(good.values())),
        "rejected_messages": len(rejected),
        "dead_letters": len(letters),
        "dead_letter_reasons": dict(Counter(a.get("reason", "") for a in attrs)),
        "kills": len(fleet.killed),
        "kills_mid_handler": len(mid_handler),
        "worker_starts": fleet.started,
        "exit_codes": codes,
        "injected_sqs_faults": dict(ledger.faults),
        "genesys": {k: api[k] for k in ("rate_limited", "server_errors", "unauthorized", "tokens_issued", "api_calls")},
        "handler_attempts": len(ledger.attempts),
        "reexecutions_absorbed": sum(n - 1 for n in completions.values()),
        "max_receive_count_seen": max((r[4] for r in ledger.attempts), default=0),
        "lost": len(lost),
        "double_effects": len(doubles),
        "overlapping_executions": len(overlaps),
        "poisoned": len(poisoned),
        "dlq_without_reason": len(without_reason),
        "rejections_not_lettered": len(unlettered),
        "poller_restarts": restarts,
        "rss_kb_start": rss_start,
        "rss_kb_end": rss_end,
        "feed_s": round(fed_after, 1),
        "drain_s": round(drain_seconds, 1),
        "total_s": round(time.monotonic() - began, 1),
    }
    print("\nsoak " + json.dumps(report))
    assert lost == [], lost[:5]
    assert doubles == [], doubles[:5]
    assert overlaps == [], overlaps[:5]
    assert poisoned == [], poisoned[:5]
    assert without_reason == []
    assert unlettered == [], [(m, rejected[m]) for m in unlettered[:5]]
    assert len(fleet.killed) >= MIN_KILLS
    assert len(mid_handler) >= MIN_KILLS // 2  # most kills landed while a handler ran
    assert ledger.faults["ack/call"] + ledger.faults["ack/entries"] > 0
    assert ledger.faults["visibility/call"] + ledger.faults["visibility/entries"] > 0
    assert api["rate_limited"] > 0
    assert api["server_errors"] > 0
    assert api["unauthorized"] > 0
    assert restarts > 0  # injected failures restarted poll iterations; no poller died
    assert all(code == 0 for code in codes.values()), codes  # stopped idle, nothing left behind
    # Flat memory: generous, as a first batch of a new kind or a bigger page can add a little.
    assert 0 < rss_end <= rss_start * 1.5 + 30_000, (rss_start, rss_end)
