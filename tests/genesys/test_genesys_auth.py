"""OAuth client credentials: single flight, renewal, secrets from Secrets Manager, no leaks.

Socket-free by default (the simulator in-process, a fake clock); a few run over real HTTP too (slow)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from genesys_kit import BOTH_TRANSPORTS, REAL_HTTP, FakeTime

from gcevents.adapters.genesys import (
    GenesysAuthError,
    GenesysClient,
    GenesysEnricher,
    GenesysSettings,
    Secret,
    clear_secret_cache,
)
from gcevents.adapters.genesys.auth import AccessToken, ClientCredentialsAuth
from gcevents.errors import ConfigError, TransientError
from gcevents.testing.genesys import GenesysSimulator


def _in_threads(count: int, work: Callable[[int], Any]) -> list[Any]:
    """Run `work` in `count` threads released at the same instant."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        barrier.wait()
        return work(index)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


@BOTH_TRANSPORTS
def test_token_fetched_once_for_fifty_concurrent_requests(
    simulator: GenesysSimulator, make_client: Callable[..., GenesysClient]
) -> None:
    client = make_client(simulator, max_concurrency=50)
    results = _in_threads(50, lambda i: client.conversation_details(f"conv-{i}"))
    assert all(r is not None for r in results)
    assert simulator.stats()["tokens_issued"] == 1
    assert client.stats.tokens_fetched == 1
    assert simulator.stats()["calls"]["GET /api/v2/analytics/conversations/{id}/details"] == 50


def test_token_renewed_once_after_401(simulator: GenesysSimulator, make_client: Callable[..., GenesysClient]) -> None:
    client = make_client(simulator)
    assert client.conversation("warm-up") is not None
    simulator.revoke_tokens()  # the server forgets the token (expiry, revocation)
    results = _in_threads(20, lambda i: client.conversation(f"conv-{i}"))
    assert all(r is not None for r in results)
    assert simulator.stats()["tokens_issued"] == 2  # exactly one re-fetch for twenty 401s
    assert client.stats.tokens_fetched == 2


def test_token_expiry_answers_401_and_client_recovers(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient]
) -> None:
    simulator = make_simulator(token_expires_in=0)  # every token is already expired on the server
    client = make_client(simulator)
    with pytest.raises(GenesysAuthError, match="401"):
        client.conversation("c-1")  # one renewal, still 401: an auth error, not an endless loop
    assert simulator.stats()["tokens_issued"] == 2


def test_client_renews_its_token_before_it_expires(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient], fake_time: FakeTime
) -> None:
    simulator = make_simulator(token_expires_in=100)  # renewal margin: min(setting, 10 % of the lifetime) = 10 s
    client = make_client(simulator)
    assert client.conversation("c-1") is not None
    fake_time.sleep(89)
    assert client.conversation("c-2") is not None
    assert simulator.stats()["tokens_issued"] == 1
    fake_time.sleep(2)  # inside the margin: replaced before use, so the server never answers 401
    assert client.conversation("c-3") is not None
    assert simulator.stats()["tokens_issued"] == 2
    assert simulator.stats()["unauthorized"] == 0


def test_token_renewed_before_it_expires() -> None:
    now = [1000.0]
    fetched: list[int] = []

    def fetch() -> AccessToken:
        fetched.append(1)
        return AccessToken(Secret(f"token-{len(fetched)}"), expires_at=now[0] + 100, renew_at=now[0] + 90)

    auth = ClientCredentialsAuth(fetch, clock=lambda: now[0])
    first = auth.current()
    now[0] += 89
    assert auth.current() is first
    now[0] += 2  # inside the renewal margin, still valid on the server
    assert auth.current().value.reveal() == "token-2"
    assert len(fetched) == 2
    assert "token-" not in repr(auth)


def test_failed_fetch_is_shared_with_queued_threads() -> None:
    calls: list[int] = []
    gate = threading.Event()

    def fetch() -> AccessToken:
        calls.append(1)
        gate.wait(1)
        raise TransientError("token endpoint down")

    auth = ClientCredentialsAuth(fetch)

    def attempt(_: int) -> str:
        try:
            auth.current()
        except TransientError as exc:
            return str(exc)
        return "ok"

    timer = threading.Timer(0.2, gate.set)
    timer.start()
    outcomes = _in_threads(10, attempt)
    timer.join()
    assert outcomes == ["token endpoint down"] * 10
    assert len(calls) < 10


def test_wrong_secret_is_an_auth_error_and_the_enricher_reports_failures(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    fast: dict[str, float],
    now: Callable[[], float],
) -> None:
    simulator = make_simulator(client_secret="the-right-one")
    wrong = simulator.settings(client_secret="nope", **fast)
    client = make_client(wrong, via=simulator)
    with pytest.raises(GenesysAuthError, match="invalid_client") as caught:
        client.conversation("c-1")
    assert "nope" not in str(caught.value)
    assert "the-right-one" not in repr(caught.value)
    result = GenesysEnricher(client).enrich(["a", "b"], deadline=now() + 5)
    assert set(result.failed) == {"a", "b"}
    assert all(isinstance(e, GenesysAuthError) for e in result.failed.values())


@BOTH_TRANSPORTS
def test_no_secret_or_token_in_logs_or_reprs(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    caplog: pytest.LogCaptureFixture,
    now: Callable[[], float],
) -> None:
    secret = "very-secret-client-secret-42"
    simulator = make_simulator(client_secret=secret, error_rate=0.3, seed=3)
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    client = make_client(simulator, max_retries=5)
    enricher = GenesysEnricher(client, chunk_size=3)
    result = enricher.enrich([f"c-{i}" for i in range(12)], deadline=now() + 10)
    simulator.revoke_tokens()
    client.conversation("c-1")
    simulator.update(client_secret="rotated")  # the next token fetch fails
    simulator.revoke_tokens()
    with pytest.raises(GenesysAuthError) as caught:
        client.conversation("c-2")

    forbidden = [secret, *simulator.issued_tokens()]
    assert len(forbidden) >= 3
    texts = [repr(client), repr(client.settings), str(client.settings), repr(client.stats), repr(enricher.client)]
    texts += [repr(caught.value), str(caught.value), repr(result), *map(repr, result.failed.values())]
    texts += [record.getMessage() + repr(record.__dict__) for record in caplog.records]
    assert caplog.records, "expected log lines to check"
    for text in texts:
        for value in forbidden:
            assert value not in text


# ------------------------------------------------------------------------------------------- Secrets Manager
@pytest.fixture
def fresh_secret_cache() -> Iterator[None]:
    clear_secret_cache()
    yield
    clear_secret_cache()


@REAL_HTTP  # moto serves Secrets Manager
@pytest.mark.usefixtures("fresh_secret_cache")
@pytest.mark.parametrize("as_json", [False, True])
def test_secret_from_secrets_manager_read_once(
    boto_client: Callable[[str], Any],
    unique_name: str,
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    fast: dict[str, float],
    as_json: bool,
) -> None:
    secretsmanager = boto_client("secretsmanager")
    value = "secret-in-secrets-manager"
    text = f'{{"client_secret": "{value}"}}' if as_json else value
    arn = secretsmanager.create_secret(Name=unique_name, SecretString=text)["ARN"]
    simulator = make_simulator(client_secret=value)
    settings = GenesysSettings(
        api_base_url=simulator.base_url,
        login_base_url=simulator.base_url,
        client_id=simulator.options.client_id,
        client_secret_arn=arn,
        **fast,  # type: ignore[arg-type]
    )
    first = make_client(settings)
    assert first.conversation("c-1") is not None
    secretsmanager.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    second = make_client(settings)  # a new client in the same container does not read it again
    assert second.conversation("c-2") is not None
    assert value not in repr(settings)


@REAL_HTTP  # moto serves Secrets Manager
@pytest.mark.usefixtures("fresh_secret_cache")
def test_rotated_secret_is_read_again_once(
    boto_client: Callable[[str], Any],
    unique_name: str,
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    fast: dict[str, float],
) -> None:
    secretsmanager = boto_client("secretsmanager")
    arn = secretsmanager.create_secret(Name=unique_name, SecretString="old-secret")["ARN"]
    simulator = make_simulator(client_secret="old-secret")
    settings = GenesysSettings(
        api_base_url=simulator.base_url,
        login_base_url=simulator.base_url,
        client_id=simulator.options.client_id,
        client_secret_arn=arn,
        **fast,  # type: ignore[arg-type]
    )
    client = make_client(settings)
    assert client.conversation("c-1") is not None
    secretsmanager.put_secret_value(SecretId=arn, SecretString="new-secret")
    simulator.update(client_secret="new-secret")
    simulator.revoke_tokens()
    assert client.conversation("c-2") is not None
    assert simulator.stats()["calls"]["POST /oauth/token"] == 3  # ok, rejected with the old secret, ok


@REAL_HTTP  # moto serves Secrets Manager
@pytest.mark.usefixtures("fresh_secret_cache", "aws")
def test_missing_secret_is_a_config_error(make_client: Callable[..., GenesysClient]) -> None:
    settings = GenesysSettings(
        api_base_url="http://127.0.0.1:9",
        login_base_url="http://127.0.0.1:9",
        client_id="x",
        client_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:does-not-exist",
    )
    with pytest.raises(ConfigError):
        make_client(settings).conversation("c-1")
