"""The measurement asked for in issue 3: Genesys API calls per event for 1,000 events over 200 conversations.

Run with `-s` to see the numbers."""

from __future__ import annotations

from collections.abc import Callable

from genesys_kit import BOTH_TRANSPORTS

from gcevents.adapters.genesys import GenesysClient, GenesysEnricher
from gcevents.testing.genesys import GenesysSimulator

EVENTS = 1_000
CONVERSATIONS = 200


@BOTH_TRANSPORTS
def test_api_calls_per_event(
    simulator: GenesysSimulator, make_client: Callable[..., GenesysClient], now: Callable[[], float]
) -> None:
    client = make_client(simulator, rate_per_minute=300)  # production defaults: 300/min, chunks of 100
    enricher = GenesysEnricher(client)
    # Five events per conversation (start, acd, user, acw, end), as a batch delivers them.
    event_conversations = [f"conv-{i % CONVERSATIONS:04d}" for i in range(EVENTS)]

    result = enricher.enrich(event_conversations, now() + 30)

    assert len(result.details) == CONVERSATIONS
    assert not result.failed
    calls = client.stats.api_calls
    server_calls = simulator.stats()["api_calls"]
    assert calls == server_calls == 3  # one token request + two bulk lookups of 100 ids
    per_event = calls / EVENTS
    naive = EVENTS * 2  # the tutorial: a token and a lookup per event
    print(
        f"\n{EVENTS} events / {CONVERSATIONS} conversations: {calls} Genesys API calls "
        f"({client.stats.snapshot()}) = {per_event:.3f} calls/event (one-by-one with a token each: {naive})"
    )
    assert per_event == 0.003

    # A warm container (token cached): the next batch costs the bulk calls only.
    client.stats.reset()
    enricher.enrich([f"next-{i % CONVERSATIONS:04d}" for i in range(EVENTS)], now() + 30)
    assert client.stats.api_calls == 2  # 0.002 calls/event
