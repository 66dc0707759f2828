"""One contract suite for every IdempotencyStore (memory, SQLite, DynamoDB on moto) plus the algorithm's invariants."""

from __future__ import annotations

import multiprocessing
import sqlite3
import tempfile
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from gcevents.adapters.dynamodb import DynamoDbIdempotencyStore, create_idempotency_table
from gcevents.adapters.sqlite import SqliteDatabase, SqliteIdempotencyStore
from gcevents.core.idempotency import Idempotency
from gcevents.ports import Claim, ClaimResult, ClaimStatus, Failure, FailureRecords, IdempotencyStore
from gcevents.testing.fakes import FakeClock, MemoryIdempotencyStore

NOW = 1_700_000_000_000  # ms
LEASE = NOW + 60_000
EXPIRES = NOW + 5 * 86_400_000


@pytest.fixture(params=["memory", "sqlite", "dynamodb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> IdempotencyStore:
    if request.param == "memory":
        return MemoryIdempotencyStore()
    if request.param == "sqlite":
        return SqliteIdempotencyStore(SqliteDatabase(tmp_path / "idem.db"))
    boto_client = request.getfixturevalue("boto_client")
    table = request.getfixturevalue("unique_name")
    client = boto_client("dynamodb")
    assert create_idempotency_table(client, table) is True
    assert create_idempotency_table(client, table) is False  # idempotent
    return DynamoDbIdempotencyStore(client, table)


def claim(store: IdempotencyStore, key: str, token: str, lease: int = LEASE, now: int = NOW) -> ClaimResult:
    return store.claim(key, token, lease, now)


# ------------------------------------------------------------------------------------------------ contract
def test_claim_new_key(store: IdempotencyStore) -> None:
    assert claim(store, "k", "t1").status is ClaimStatus.CLAIMED


def test_second_claim_with_a_live_lease_is_in_progress(store: IdempotencyStore) -> None:
    claim(store, "k", "t1")
    result = claim(store, "k", "t2", lease=LEASE + 999, now=NOW + 1)
    assert result == ClaimResult(ClaimStatus.IN_PROGRESS, LEASE)
    assert claim(store, "k", "t3", now=LEASE).status is ClaimStatus.IN_PROGRESS  # the lease's last ms is still live


def test_claim_repeated_with_its_own_token_is_still_claimed(store: IdempotencyStore) -> None:
    """The SDK retries a timed-out write whose first attempt landed: that lease is the caller's own."""
    claim(store, "k", "t1")
    assert claim(store, "k", "t1", now=NOW + 1).status is ClaimStatus.CLAIMED
    assert claim(store, "k", "t2", now=NOW + 2) == ClaimResult(ClaimStatus.IN_PROGRESS, LEASE)
    store.complete([Claim("k", "t1")], EXPIRES)
    assert claim(store, "k", "t1", now=NOW + 3).status is ClaimStatus.COMPLETED  # done is done, whoever asks


def test_expired_lease_is_reclaimable(store: IdempotencyStore) -> None:
    claim(store, "k", "t1")
    assert claim(store, "k", "t2", lease=LEASE + 60_000, now=LEASE + 1).status is ClaimStatus.CLAIMED
    # The new holder's lease now counts, not the old one.
    assert claim(store, "k", "t3", now=LEASE + 2) == ClaimResult(ClaimStatus.IN_PROGRESS, LEASE + 60_000)


def test_complete_then_claim_is_completed(store: IdempotencyStore) -> None:
    claim(store, "k", "t1")
    store.complete([Claim("k", "t1")], EXPIRES)
    assert claim(store, "k", "t2", now=NOW + 10).status is ClaimStatus.COMPLETED
    # Completion outlives the lease: only the expiry matters.
    assert claim(store, "k", "t3", lease=EXPIRES, now=LEASE + 1).status is ClaimStatus.COMPLETED


def test_completed_finds_completed_keys_in_batches(store: IdempotencyStore) -> None:
    keys = [f"key-{i:03d}" for i in range(230)]
    done = keys[::3]
    for key in done:
        claim(store, key, "t-" + key)
    store.complete([Claim(k, "t-" + k) for k in done], EXPIRES)
    claim(store, "key-001", "in-progress")  # claimed but not completed: not reported
    assert store.completed(keys, NOW + 1) == set(done)
    assert store.completed(keys + done, NOW + 1) == set(done)  # duplicates in the request are harmless
    assert store.completed([], NOW) == set()
    assert store.completed(keys, EXPIRES + 1) == set()  # expired completions are not completed


def test_expired_completion_is_claimable_again(store: IdempotencyStore) -> None:
    claim(store, "k", "t1")
    store.complete([Claim("k", "t1")], EXPIRES)
    assert claim(store, "k", "t2", lease=EXPIRES + 60_000, now=EXPIRES + 1).status is ClaimStatus.CLAIMED
    assert claim(store, "k", "t3", now=EXPIRES + 2) == ClaimResult(ClaimStatus.IN_PROGRESS, EXPIRES + 60_000)


def test_release_only_with_the_right_token(store: IdempotencyStore) -> None:
    claim(store, "k", "t1")
    store.release(Claim("k", "wrong"))
    assert claim(store, "k", "t2", now=NOW + 1).status is ClaimStatus.IN_PROGRESS
    store.release(Claim("k", "t1"))
    assert claim(store, "k", "t3", now=NOW + 2).status is ClaimStatus.CLAIMED


def test_release_of_a_retaken_key_does_nothing(store: IdempotencyStore) -> None:
    claim(store, "k", "old")
    assert claim(store, "k", "new", lease=LEASE + 60_000, now=LEASE + 1).status is ClaimStatus.CLAIMED
    store.release(Claim("k", "old"))  # the old holder's late release
    assert claim(store, "k", "third", now=LEASE + 2) == ClaimResult(ClaimStatus.IN_PROGRESS, LEASE + 60_000)


def test_release_after_complete_keeps_the_completion(store: IdempotencyStore) -> None:
    claim(store, "k", "t1")
    store.complete([Claim("k", "t1")], EXPIRES)
    store.release(Claim("k", "t1"))
    assert claim(store, "k", "t2", now=NOW + 1).status is ClaimStatus.COMPLETED


def test_release_of_a_missing_key_is_harmless(store: IdempotencyStore) -> None:
    store.release(Claim("never-claimed", "t"))
    assert claim(store, "never-claimed", "t2").status is ClaimStatus.CLAIMED


def test_renew_moves_the_lease_of_our_own_claim(store: IdempotencyStore) -> None:
    claim(store, "k", "t1")
    assert store.renew(Claim("k", "t1"), LEASE + 60_000) is True
    # Past the first lease the key is still held: the renewal counts, not the claim's lease.
    assert claim(store, "k", "t2", now=LEASE + 1) == ClaimResult(ClaimStatus.IN_PROGRESS, LEASE + 60_000)
    assert claim(store, "k", "t3", now=LEASE + 60_001).status is ClaimStatus.CLAIMED


def test_renew_of_a_lapsed_but_untaken_lease_is_still_ours(store: IdempotencyStore) -> None:
    """A late heartbeat (a pause, a slow store) finds the lease lapsed: nobody took it, so the token still holds."""
    claim(store, "k", "t1")
    assert store.renew(Claim("k", "t1"), LEASE + 60_000) is True
    assert claim(store, "k", "t2", now=LEASE + 30_000).status is ClaimStatus.IN_PROGRESS


def test_renew_needs_the_token_and_a_live_claim(store: IdempotencyStore) -> None:
    claim(store, "k", "t1")
    assert store.renew(Claim("k", "wrong"), LEASE + 60_000) is False
    # The wrong token moved nothing: the key is claimable once the first lease ends.
    assert claim(store, "k", "t2", lease=LEASE + 60_000, now=LEASE + 1).status is ClaimStatus.CLAIMED
    assert store.renew(Claim("k", "t1"), LEASE + 120_000) is False  # re-taken after our lease lapsed
    assert claim(store, "k", "t3", now=LEASE + 2) == ClaimResult(ClaimStatus.IN_PROGRESS, LEASE + 60_000)


def test_renew_never_revives_a_completed_or_released_key(store: IdempotencyStore) -> None:
    claim(store, "done", "t1")
    store.complete([Claim("done", "t1")], EXPIRES)
    assert store.renew(Claim("done", "t1"), LEASE + 60_000) is False
    assert claim(store, "done", "t2", now=NOW + 1).status is ClaimStatus.COMPLETED
    claim(store, "gone", "t1")
    store.release(Claim("gone", "t1"))
    assert store.renew(Claim("gone", "t1"), LEASE + 60_000) is False
    assert store.renew(Claim("never", "t1"), LEASE + 60_000) is False
    assert claim(store, "gone", "t2", now=NOW + 1).status is ClaimStatus.CLAIMED
    assert claim(store, "never", "t2", now=NOW + 1).status is ClaimStatus.CLAIMED
    claim(store, "failed", "t1")
    store.release(Claim("failed", "t1"), FAILURE)
    assert store.renew(Claim("failed", "t1"), LEASE + 60_000) is False
    assert claim(store, "failed", "t2", now=NOW + 1).status is ClaimStatus.CLAIMED  # a failure record stays claimable


# ------------------------------------------------------------------- failure records
FAILURE = Failure("enrichment_failed: TransientError: Genesys analytics_details_bulk: HTTP 503", 3, NOW, EXPIRES)


def test_a_release_with_a_failure_leaves_a_claimable_record_that_says_why(store: IdempotencyStore) -> None:
    assert isinstance(store, FailureRecords)
    claim(store, "k", "t1")
    claim(store, "done", "t2")
    store.complete([Claim("done", "t2")], EXPIRES)
    store.release(Claim("k", "t1"), FAILURE)
    assert store.failures(["k", "done", "missing"]) == {"k": FAILURE}
    assert store.completed(["k"], NOW + 1) == set()  # FAILED is not done
    assert claim(store, "k", "t3", now=NOW + 1).status is ClaimStatus.CLAIMED  # claimable like a missing item
    assert store.failures(["k"]) == {}  # held again: the record is a lease now
    store.release(Claim("k", "t3"))  # a release without a failure deletes, as before
    assert store.failures(["k"]) == {}
    assert claim(store, "k", "t4", now=NOW + 2).status is ClaimStatus.CLAIMED


def test_a_release_with_a_failure_changes_only_our_own_claim(store: IdempotencyStore) -> None:
    assert isinstance(store, FailureRecords)
    claim(store, "k", "t1")
    store.release(Claim("k", "wrong"), FAILURE)
    assert claim(store, "k", "t2", now=NOW + 1) == ClaimResult(ClaimStatus.IN_PROGRESS, LEASE)
    store.complete([Claim("k", "t1")], EXPIRES)
    store.release(Claim("k", "t1"), FAILURE)  # late, after completing: the completion stays
    assert claim(store, "k", "t3", now=NOW + 2).status is ClaimStatus.COMPLETED
    assert store.failures(["k"]) == {}


def test_a_failure_message_no_store_can_encode_is_kept_escaped(store: IdempotencyStore) -> None:
    assert isinstance(store, FailureRecords)
    claim(store, "k", "t1")
    store.release(Claim("k", "t1"), Failure("handler_failed: ValueError: bad \ud800 \x1b[2J", 1, NOW, EXPIRES))
    (kept,) = store.failures(["k"]).values()
    assert kept.error.startswith("handler_failed: ValueError: bad ")
    assert "\x1b[2J" in kept.error


def test_twenty_threads_claim_one_key_exactly_one_wins(store: IdempotencyStore) -> None:
    barrier = threading.Barrier(20)

    def attempt(i: int) -> ClaimStatus:
        barrier.wait()
        return claim(store, "hot-key", f"token-{i}").status

    with ThreadPoolExecutor(max_workers=20) as pool:
        statuses = list(pool.map(attempt, range(20)))
    assert statuses.count(ClaimStatus.CLAIMED) == 1
    assert statuses.count(ClaimStatus.IN_PROGRESS) == 19


def test_idempotency_claim_all_over_the_store(store: IdempotencyStore) -> None:
    clock = FakeClock(NOW / 1000)
    idem = Idempotency(store, clock=clock, ttl_seconds=3600, concurrency=4)
    keys = [f"k{i}" for i in range(120)]
    first = idem.claim_all(keys, lease_until=clock.now() + 30)
    claims = []
    for key in keys:
        outcome = first[key]
        assert not isinstance(outcome, Exception)
        assert outcome[1].status is ClaimStatus.CLAIMED
        claims.append(outcome[0])
    assert len({c.token for c in claims}) == len(claims)  # a fresh token per attempt
    idem.complete(claims[:100])
    assert idem.release(claims[100:]) == []
    clock.advance(1)
    second = idem.claim_all(keys, lease_until=clock.now() + 30)
    statuses = [o[1].status for o in second.values() if not isinstance(o, Exception)]
    assert statuses == [ClaimStatus.COMPLETED] * 100 + [ClaimStatus.CLAIMED] * 20
    clock.advance(3601)  # the completions expired
    third = idem.claim_all(keys[:100], lease_until=clock.now() + 30)
    assert {o[1].status for o in third.values() if not isinstance(o, Exception)} == {ClaimStatus.CLAIMED}


def test_claim_all_turns_store_errors_into_per_key_exceptions() -> None:
    class Broken(MemoryIdempotencyStore):
        def completed(self, keys: Any, now_ms: int) -> set[str]:
            raise RuntimeError("batch read down")

        def claim(self, key: str, token: str, lease_until_ms: int, now_ms: int) -> ClaimResult:
            if key == "bad":
                raise RuntimeError("throttled")
            return super().claim(key, token, lease_until_ms, now_ms)

    idem = Idempotency(Broken(), clock=FakeClock(), concurrency=2)
    result = idem.claim_all(["good", "bad"], lease_until=FakeClock().now() + 10)
    assert isinstance(result["bad"], RuntimeError)
    assert not isinstance(result["good"], Exception)
    assert result["good"][1].status is ClaimStatus.CLAIMED


# ------------------------------------------------------------------------------------------ multi-process
def _claim_in_process(path: str, token: str, start: Any, results: Any) -> None:
    store = SqliteIdempotencyStore(SqliteDatabase(path))
    start.wait()
    results.put((token, store.claim("shared-key", token, LEASE, NOW).status.value))


@pytest.mark.slow  # four processes
def test_sqlite_four_processes_exactly_one_winner(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.db")
    SqliteIdempotencyStore(SqliteDatabase(path))  # schema and WAL mode before the race
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    results = ctx.Queue()
    processes = [ctx.Process(target=_claim_in_process, args=(path, f"p{i}", start, results)) for i in range(4)]
    for process in processes:
        process.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in processes]
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0
    statuses = [status for _, status in outcomes]
    assert statuses.count("CLAIMED") == 1
    assert statuses.count("IN_PROGRESS") == 3


# --------------------------------------------------------------------------------------- algorithm invariants
KEYS = ("a", "b", "c")
TTL_S = 50
LEASE_S = st.integers(min_value=1, max_value=30)


class IdempotencyMachine(RuleBasedStateMachine):
    """Interleavings of claim / complete / release / time passing by several workers over a few keys.

    Model: every claim granted and not yet completed or released (live while its lease has not ended), and
    each key's completion expiry. Safety: a CLAIMED answer never coexists with another live claim or an
    unexpired completion; late releases (stale tokens, after completing) change nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = FakeClock(1_700_000_000.0)
        self.idem = Idempotency(self.make_store(), clock=self.clock, ttl_seconds=TTL_S, concurrency=1)
        self.claims: list[tuple[Claim, int]] = []  # granted, still held: (claim, lease_until_ms)
        self.finished: list[Claim] = []  # completed or released already
        self.completed_until: dict[str, int] = {}
        self.failed: dict[str, str] = {}  # key -> the error its last release recorded, until claimed again
        self.holder: dict[str, str] = {}  # key -> token of the IN_PROGRESS record the store holds for it

    def make_store(self) -> IdempotencyStore:
        return MemoryIdempotencyStore()

    def now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    def live(self, key: str) -> list[tuple[Claim, int]]:
        return [(c, lease) for c, lease in self.claims if c.key == key and lease >= self.now_ms()]

    def is_completed(self, key: str) -> bool:
        return self.completed_until.get(key, -1) >= self.now_ms()

    @rule(key=st.sampled_from(KEYS), lease_s=LEASE_S)
    def claim(self, key: str, lease_s: int) -> None:
        lease_until = self.clock.now() + lease_s
        outcome = self.idem.claim_all([key], lease_until)[key]
        assert not isinstance(outcome, Exception)
        granted, result = outcome
        live = self.live(key)
        if result.status is ClaimStatus.CLAIMED:
            assert not self.is_completed(key), "claimed a key whose completion has not expired"
            assert not live, f"two live claims for {key}"
            self.claims.append((granted, int(lease_until * 1000)))
            self.failed.pop(key, None)
            self.holder[key] = granted.token
        elif result.status is ClaimStatus.COMPLETED:
            assert self.is_completed(key)
        else:
            assert live
            assert not self.is_completed(key)
            assert result.lease_until_ms in {lease for _, lease in live}

    @precondition(lambda self: bool(self.claims))
    @rule(data=st.data())
    def complete(self, data: st.DataObject) -> None:
        held = data.draw(st.sampled_from(self.claims))
        self.idem.complete([held[0]])
        self.claims.remove(held)
        self.finished.append(held[0])
        self.completed_until[held[0].key] = self.now_ms() + TTL_S * 1000
        self.failed.pop(held[0].key, None)
        self.holder.pop(held[0].key, None)

    @precondition(lambda self: bool(self.claims))
    @rule(data=st.data(), error=st.none() | st.sampled_from(["handler_failed: boom", "enrichment_failed: 503"]))
    def release(self, data: st.DataObject, error: str | None) -> None:
        """Released after a failure (`error`: a FAILED record) or without one (deleted)."""
        held = data.draw(st.sampled_from(self.claims))
        why = {held[0].key: (error, 2)} if error is not None else None
        assert self.idem.release([held[0]], why) == []
        self.claims.remove(held)
        self.finished.append(held[0])
        if self.holder.get(held[0].key) == held[0].token:  # still ours in the store (even if the lease ended)
            del self.holder[held[0].key]
            if error is not None:
                self.failed[held[0].key] = error

    @precondition(lambda self: bool(self.finished))
    @rule(data=st.data())
    def late_release(self, data: st.DataObject) -> None:
        """A worker releases a claim it already completed or released (a retry path gone wrong)."""
        late = data.draw(st.sampled_from(self.finished))
        assert self.idem.release([late], {late.key: ("late", 9)}) == []

    @rule(seconds=st.integers(min_value=1, max_value=40))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)

    @invariant()
    def completed_keys_are_reported(self) -> None:
        expected = {k for k, until in self.completed_until.items() if until > self.now_ms()}
        assert self.idem.store.completed(list(KEYS), self.now_ms()) == expected

    @invariant()
    def failure_records_are_the_last_failed_releases(self) -> None:
        store = self.idem.store
        assert isinstance(store, FailureRecords)
        assert {k: f.error for k, f in store.failures(list(KEYS)).items()} == self.failed


TestIdempotencyOnMemory = IdempotencyMachine.TestCase
TestIdempotencyOnMemory.settings = settings(max_examples=150, stateful_step_count=30, deadline=None)

_SQLITE_DIR = tempfile.TemporaryDirectory(prefix="gcevents-idem-")


class SqliteIdempotencyMachine(IdempotencyMachine):
    def make_store(self) -> IdempotencyStore:
        return SqliteIdempotencyStore(SqliteDatabase(Path(_SQLITE_DIR.name) / f"{uuid.uuid4().hex}.db"))


TestIdempotencyOnSqlite = SqliteIdempotencyMachine.TestCase
TestIdempotencyOnSqlite.settings = settings(
    max_examples=8, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def test_sqlite_purges_what_no_one_can_need_on_open_and_then_periodically(tmp_path: Path) -> None:
    """The SQLite idempotency table purges what has expired, on its interval, and keeps the rest."""
    path = tmp_path / "purge.db"
    store = SqliteIdempotencyStore(SqliteDatabase(path), purge_interval_s=60)
    for key in ("lease-ended", "lease-live", "done-expired", "done-valid", "failed-old", "failed-kept"):
        claim(store, key, "t-" + key, lease=NOW + (1 if key == "lease-ended" else 600_000))
    store.complete([Claim("done-expired", "t-done-expired")], NOW + 10)
    store.complete([Claim("done-valid", "t-done-valid")], EXPIRES)
    store.release(Claim("failed-old", "t-failed-old"), Failure("x", 1, NOW, NOW + 10))
    store.release(Claim("failed-kept", "t-failed-kept"), Failure("y", 1, NOW, EXPIRES))

    def keys() -> set[str]:
        with sqlite3.connect(path) as conn:
            return {row[0] for row in conn.execute("SELECT pk FROM idempotency")}

    reopened = SqliteIdempotencyStore(SqliteDatabase(path), purge_interval_s=60)
    claim(reopened, "new", "t", now=NOW + 1000)  # the first claim after opening purges, on the claimant's clock
    assert keys() == {"lease-live", "done-valid", "failed-kept", "new"}
    claim(reopened, "other", "t", lease=NOW + 5000, now=NOW + 2000)
    claim(reopened, "later", "t", lease=NOW + 90_000, now=NOW + 30_000)  # within the interval: no purge yet
    assert "new" in keys()
    claim(reopened, "last", "t", lease=NOW + 200_000, now=NOW + 62_000)  # an interval later: purged again
    assert keys() == {"lease-live", "done-valid", "failed-kept", "later", "last"}


def test_sqlite_errors_are_translated(tmp_path: Path) -> None:
    from gcevents.errors import StoreUnavailableError

    with pytest.raises(StoreUnavailableError):
        SqliteIdempotencyStore(SqliteDatabase(tmp_path))  # a directory, not a database file
