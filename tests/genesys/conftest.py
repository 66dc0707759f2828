"""Fixtures for the Genesys client tests: the simulator and clients with fast backoff, socket-free by default.

`mode` is "mock" unless a test parametrises it (see genesys_kit): then the simulator is served in-process via
`httpx.MockTransport` and everything runs on one FakeTime. In "http" mode the simulator listens on 127.0.0.1
and time is real."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from genesys_kit import FakeTime

from gcevents.adapters.genesys import GenesysClient, GenesysSettings
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

# Retries and backoff in milliseconds, so the real-HTTP tests stay fast; behaviour is the same as in production.
FAST = {"backoff_base": 0.005, "backoff_cap": 0.02, "rate_per_minute": 60_000}


@pytest.fixture
def mode(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "mock"))


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def now(mode: str, fake_time: FakeTime) -> Callable[[], float]:
    """The wall clock of the test's world (deadlines are epoch seconds)."""
    return fake_time.time if mode == "mock" else time.time


@pytest.fixture
def fast() -> dict[str, float]:
    """Settings overrides for fast retries (for tests that build GenesysSettings themselves)."""
    return dict(FAST)


@pytest.fixture
def make_simulator(mode: str, fake_time: FakeTime) -> Iterator[Callable[..., GenesysSimulator]]:
    started: list[GenesysSimulator] = []

    def make(**options: Any) -> GenesysSimulator:
        if mode == "mock":
            simulator = GenesysSimulator(SimulatorOptions(**options), clock=fake_time.monotonic, sleep=fake_time.sleep)
            simulator.transport()  # served in-process from now on: `base_url` and `settings()` point there
        else:
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
def make_client(mode: str, fake_time: FakeTime) -> Iterator[Callable[..., GenesysClient]]:
    """`make(simulator, **settings overrides)`, or `make(settings, via=simulator)` for hand-made settings (the
    simulator whose transport serves them in mock mode)."""
    clients: list[GenesysClient] = []

    def make(
        target: GenesysSimulator | GenesysSettings, *, via: GenesysSimulator | None = None, **overrides: Any
    ) -> GenesysClient:
        simulator = target if isinstance(target, GenesysSimulator) else via
        if mode == "mock":
            assert simulator is not None, "mock mode needs the simulator that serves these settings"
            transport = simulator.transport()
        settings = target.settings(**{**FAST, **overrides}) if isinstance(target, GenesysSimulator) else target
        if mode == "mock":
            client = GenesysClient(
                settings,
                transport=transport,
                clock=fake_time.time,
                monotonic=fake_time.monotonic,
                sleep=fake_time.sleep,
                rng=random.Random(0),
            )
        else:
            client = GenesysClient(settings)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def http_to(mode: str) -> Iterator[Callable[[GenesysSimulator], httpx.Client]]:
    """A plain httpx client for a simulator (no gcevents client in between), in either mode."""
    opened: list[httpx.Client] = []

    def make(simulator: GenesysSimulator) -> httpx.Client:
        transport = simulator.transport() if mode == "mock" else None
        http = httpx.Client(base_url=simulator.base_url, transport=transport)
        opened.append(http)
        return http

    yield make
    for http in opened:
        http.close()
