"""Issue 21.1: one OAuth client of several whose credentials Genesys rejects. With GENESYS_CLIENT_ID=a,b and b's
secret rotated on the Genesys side, 10 of 80 enriched events were dead-lettered and a worker made 68 refused token
requests in 240 s: a lane was picked per attempt with no exclusion of one whose credentials were rejected.

Now the attempt is retried at once on another lane, the rejected lane leaves the rotation (tried again after a
growing backoff), and only when every lane is rejected do calls fail, as transient. Socket-free, on one FakeTime."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from genesys_kit import FakeTime

from factories import make_event
from gcevents.adapters.genesys import GenesysAuthError, GenesysClient, GenesysEnricher
from gcevents.core.events import RawRecord
from gcevents.core.idempotency import Idempotency
from gcevents.core.pipeline import Pipeline, PipelineSettings
from gcevents.core.router import HandlerContext, Router
from gcevents.errors import TransientError
from gcevents.ops.local import run_records
from gcevents.testing.fakes import MemoryDeadLetterSink, MemoryIdempotencyStore
from gcevents.testing.genesys import GenesysSimulator

GOOD = (("client-1", "secret-of-client-1-0123456789"),)
ROTATED = (("client-1", "rotated-away-0123456789"),)


def _refused(simulator: GenesysSimulator) -> int:
    return int(simulator.stats()["unauthorized"])  # refused token requests (and API 401s: none here)


def test_a_rejected_client_fails_over_and_leaves_the_rotation(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
    fake_time: FakeTime,
    caplog: pytest.LogCaptureFixture,
) -> None:
    simulator = make_simulator(extra_clients=GOOD)
    client = make_client(simulator)
    simulator.update(extra_clients=ROTATED)  # client-1's secret rotated on the Genesys side
    caplog.set_level(logging.INFO)
    for index in range(40):  # every call answered: none waits for client-1 to be fixed
        assert client.conversation_details(f"c-{index}") is not None
    result = GenesysEnricher(client).enrich([f"e-{n}" for n in range(10)], deadline=fake_time.time() + 30)
    assert not result.failed
    assert _refused(simulator) <= 3  # the first discovery only (the limits read may meet it too)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert "client-1" in errors[0].getMessage() + str(errors[0].__dict__.get("clientId"))
    texts = [r.getMessage() + repr(r.__dict__) for r in caplog.records]
    assert not [t for t in texts if "rotated-away" in t or "secret-of-client-1" in t]
    assert client.stats.snapshot()["clients_rejected"] == 1

    refused = _refused(simulator)
    fake_time.sleep(30)  # well within the backoff: client-1 is not asked again
    for index in range(10):
        client.conversation_details(f"d-{index}")
    assert _refused(simulator) == refused

    fake_time.sleep(20 * 60)  # the backoff is over: tried again, still rejected, out again for longer
    for index in range(10):
        client.conversation_details(f"f-{index}")
    assert _refused(simulator) == refused + 1

    simulator.update(extra_clients=GOOD)  # the secret is fixed: back in the rotation at its next try
    fake_time.sleep(60 * 60)
    for index in range(10):
        client.conversation_details(f"g-{index}")
    assert client.stats.by_client()["client-1"]["tokens_fetched"] >= 1


def test_only_every_client_rejected_fails_and_then_as_transient(
    make_simulator: Callable[..., GenesysSimulator],
    make_client: Callable[..., GenesysClient],
) -> None:
    simulator = make_simulator(extra_clients=GOOD)
    client = make_client(simulator)
    simulator.update(client_secret="rotated-too-0123456789", extra_clients=ROTATED)
    with pytest.raises(TransientError) as caught:
        client.conversation_details("c-1")
    assert not isinstance(caught.value, GenesysAuthError)  # retried later, not a configuration error
    assert caught.value.retry_after is not None
    assert caught.value.retry_after >= 60
    refused = _refused(simulator)
    for index in range(10):
        with pytest.raises(TransientError):
            client.conversation_details(f"c-{index}")
    assert _refused(simulator) == refused  # out of the rotation: no token request until the backoff ends


def test_one_client_rejected_is_still_an_auth_error(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient]
) -> None:
    """A single client has nothing to fail over to: its rejection stays the clear error it was."""
    simulator = make_simulator()
    client = make_client(simulator)
    simulator.update(client_secret="rotated-0123456789")
    with pytest.raises(GenesysAuthError, match="invalid_client"):
        client.conversation_details("c-1")


def test_the_issue_run_one_revoked_client_of_two_dead_letters_nothing(
    make_simulator: Callable[..., GenesysSimulator], make_client: Callable[..., GenesysClient]
) -> None:
    """As reported: 80 enriched events, client-1's secret rotated on the Genesys side. Before, 10 of 80 were
    dead-lettered `retries_exhausted`; now every one is processed with its analytics, none left retrying."""
    simulator = make_simulator(extra_clients=GOOD)
    client = make_client(simulator)
    simulator.update(extra_clients=ROTATED)
    enriched: list[str] = []
    router = Router()

    def handle(event: object, ctx: HandlerContext) -> None:
        if ctx.enrichment is not None:
            enriched.append(ctx.idempotency_key)

    router.add("v2.detail.events.conversation.{id}.customer.end", handle)
    sink = MemoryDeadLetterSink()
    pipeline = Pipeline(
        idempotency=Idempotency(MemoryIdempotencyStore()),
        dead_letters=sink,
        router=router,
        enricher=GenesysEnricher(client),
        settings=PipelineSettings(handler_concurrency=2),
    )
    records = [RawRecord(json.dumps(make_event("customer.end", f"c-{n}")), f"m-{n}") for n in range(80)]
    outcomes, reasons = run_records(pipeline, sink, records, batch_size=10, max_attempts=3, max_wait=0.0)
    assert outcomes == {"processed": 80}
    assert not reasons
    assert not sink.letters
    assert len(enriched) == 80
    assert _refused(simulator) == 1
