"""Fixtures for the Genesys client tests: a real simulator on 127.0.0.1 and clients with fast backoff."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gcevents.adapters.genesys import GenesysClient, GenesysSettings
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

# Retries and backoff in milliseconds, so the suite stays fast; behaviour is the same as in production.
FAST = {"backoff_base": 0.005, "backoff_cap": 0.02, "rate_per_minute": 60_000}


@pytest.fixture
def fast() -> dict[str, float]:
    """Settings overrides for fast retries (for tests that build GenesysSettings themselves)."""
    return dict(FAST)


@pytest.fixture
def make_simulator() -> Iterator[Callable[..., GenesysSimulator]]:
    started: list[GenesysSimulator] = []

    def make(**options: Any) -> GenesysSimulator:
        simulator = GenesysSimulator(SimulatorOptions(**options)).start()
        started.append(simulator)
        return simulator

    yield make
    for simulator in started:
        simulator.close()


@pytest.fixture
def simulator(make_simulator: Callable[..., GenesysSimulator]) -> GenesysSimulator:
    return make_simulator()


@pytest.fixture
def make_client() -> Iterator[Callable[..., GenesysClient]]:
    clients: list[GenesysClient] = []

    def make(target: GenesysSimulator | GenesysSettings, **overrides: Any) -> GenesysClient:
        settings = target.settings(**{**FAST, **overrides}) if isinstance(target, GenesysSimulator) else target
        client = GenesysClient(settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
