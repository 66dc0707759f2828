"""`GenesysSimulator`: the simulated API in a background thread on a real socket, or in-process as an httpx
transport, with the seams tests need (options changed mid-run, tokens revoked, integrations seeded, conversations
registered) and the settings or environment a client needs to use it."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gcevents.adapters.genesys.settings import GenesysSettings
from gcevents.testing.genesys.api import SimulatedApi, TimedOut, encode
from gcevents.testing.genesys.integrations import add_integration
from gcevents.testing.genesys.server import SimulatorServer
from gcevents.testing.genesys.state import SimulatorOptions, SimulatorState, client_of

if TYPE_CHECKING:
    import httpx

IN_PROCESS_URL = "http://genesys-simulator.invalid"  # base URL of the in-process transport (never resolved)


class GenesysSimulator:
    """The simulator in a background thread. `with GenesysSimulator(options) as sim: sim.base_url`."""

    def __init__(
        self,
        options: SimulatorOptions | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """`clock` (monotonic seconds: token expiry, rate windows) and `sleep` (latency, slow answers) are seams:
        with `transport()` and a fake clock, a test runs without sockets or waiting."""
        self._state = SimulatorState(options or SimulatorOptions())
        self._api = SimulatedApi(self._state, clock=clock, sleep=sleep)
        self._server: SimulatorServer | None = None
        self._thread: threading.Thread | None = None
        self._in_process = False

    @property
    def options(self) -> SimulatorOptions:
        return self._state.options

    def start(self) -> GenesysSimulator:
        if self._server is None:
            options = self._state.options
            self._server = SimulatorServer((options.host, options.port), self._api)
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="genesys-simulator",
                daemon=True,
            )
            self._thread.start()
        return self

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server, self._thread = None, None

    def __enter__(self) -> GenesysSimulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def base_url(self) -> str:
        """The server's URL once started; IN_PROCESS_URL once `transport()` was asked for."""
        if self._server is not None:
            host, port = self._server.server_address[:2]
            return f"http://{host!s}:{port}"
        if self._in_process:
            return IN_PROCESS_URL
        raise RuntimeError("the simulator is not running (start() it, or use transport())")

    def transport(self) -> httpx.MockTransport:
        """The same simulator without a socket: an httpx transport that answers in the calling thread (use it
        with `base_url` / `settings()`). A slow answer longer than the request's read timeout raises
        httpx.ReadTimeout after sleeping that long, as a socket would."""
        import httpx

        def answer(request: httpx.Request) -> httpx.Response:
            timeout = request.extensions.get("timeout") or {}
            headers = {name.lower(): value for name, value in request.headers.items()}
            try:
                result = self._api.handle(
                    request.method,
                    request.url.raw_path.decode("ascii"),
                    headers,
                    request.read(),
                    read_timeout=timeout.get("read"),
                )
            except TimedOut as exc:
                raise httpx.ReadTimeout("simulated slow answer", request=request) from exc
            payload, response_headers = encode(result)
            return httpx.Response(result.status, headers=response_headers, content=payload)

        self._in_process = True
        return httpx.MockTransport(answer)

    def stats(self) -> dict[str, Any]:
        """Calls per route, tokens issued, 429s and 5xx sent (the same document as GET /stats)."""
        return self._state.snapshot()

    def reset_stats(self) -> None:
        self._state.reset()

    def update(self, **changes: Any) -> None:
        """Change options while running (e.g. turn faults on mid-test)."""
        with self._state.lock:
            self._state.options = dataclasses.replace(self._state.options, **changes)
            if "config_conflicts" in changes:
                self._state.conflicts_left = changes["config_conflicts"]

    def add_integration(self, type_id: str, name: str, properties: dict[str, Any] | None = None) -> str:
        """Seed an integration (disabled, config version 1), e.g. to make the list span pages; returns its id."""
        with self._state.lock:
            return str(add_integration(self._state, type_id, name, properties)["id"])

    def integrations(self) -> list[dict[str, Any]]:
        """Every integration with its current config under `configCurrent` (a copy)."""
        with self._state.lock:
            return [
                {**json.loads(json.dumps(entity)), "configCurrent": json.loads(json.dumps(self._state.configs[iid]))}
                for iid, entity in self._state.integrations.items()
            ]

    def edit_integration_config(self, integration_id: str, **properties: Any) -> None:
        """Another admin saves the config: properties change and the version moves on."""
        with self._state.lock:
            config = self._state.configs[integration_id]
            config["properties"].update(properties)
            config["version"] += 1

    def register_conversations(self, documents: Any) -> None:
        """Analytics conversation documents (e.g. `testing.workload`'s, which agree with its events): the details
        query and jobs page over them, and lookups of their ids answer them."""
        self._state.analytics.register(documents)

    def revoke_tokens(self, client_id: str | None = None) -> None:
        """Invalidate every issued token (or every token of `client_id`), as an expiry or a revocation would: the
        next calls with them get 401."""
        state = self._state
        with state.lock:
            revoked = [t for t in state.tokens if client_id is None or client_of(state.token_names[t]) == client_id]
            for token in revoked:
                del state.tokens[token]
                state.windows.pop(token, None)
            if client_id is None:
                state.windows.clear()

    def issued_tokens(self) -> list[str]:
        """Every token issued so far, revoked ones included (for leak checks in tests)."""
        with self._state.lock:
            return list(self._state.issued)

    def settings(self, **overrides: Any) -> GenesysSettings:
        """Client settings pointing at this simulator with its credentials (all its clients, if it has several)."""
        options = self._state.options
        credentials: dict[str, Any] = {"client_id": options.client_id, "client_secret": self._secret_text()}
        if options.extra_clients:
            credentials["client_ids"] = (options.client_id, *(cid for cid, _ in options.extra_clients))
        return GenesysSettings.for_base_url(self.base_url, **{**credentials, **overrides})

    def _secret_text(self) -> str:
        """The secret as a deployment holds it: one client's, or the JSON map of several."""
        options = self._state.options
        if not options.extra_clients:
            return options.client_secret
        return json.dumps({options.client_id: options.client_secret, **dict(options.extra_clients)})

    def env(self) -> dict[str, str]:
        """The environment an entry point needs to use this simulator."""
        options = self._state.options
        return {
            "GENESYS_CLIENT_ID": ",".join((options.client_id, *(cid for cid, _ in options.extra_clients))),
            "GENESYS_CLIENT_SECRET": self._secret_text(),
            "GENESYS_API_BASE_URL": self.base_url,
            "GENESYS_LOGIN_BASE_URL": self.base_url,
        }
