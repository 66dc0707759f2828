"""Several OAuth clients in one deployment: one lane per client id, each with its own bearer token and its own
pacer, and every request sent on the lane whose permit comes first.

Genesys counts requests per client-credentials *token* (`client.credentials.token.rate.per.minute`), and an org
may create many OAuth clients: N lanes give about N times one token's budget. With one client id there is one
lane and `pick` is free, so a single-client deployment behaves exactly as before lanes existed."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from gcevents.adapters.genesys.auth import ClientCredentialsAuth
from gcevents.adapters.genesys.limiter import Pacer


@dataclass(frozen=True, slots=True, eq=False)
class Lane:
    """One OAuth client: a 401 renews only this token, a 429 slows and holds only this pacer."""

    client_id: str
    auth: ClientCredentialsAuth
    limiter: Pacer

    def __repr__(self) -> str:  # the auth flow holds a token: name the client, nothing else
        return f"Lane(client_id={self.client_id!r})"


class Lanes:
    """The lanes of a client, and the choice of one per attempt. Thread-safe."""

    def __init__(self, lanes: Sequence[Lane]) -> None:
        if not lanes:
            raise ValueError("at least one lane")
        self.all = tuple(lanes)
        self._next = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.all)

    @property
    def first(self) -> Lane:
        return self.all[0]

    def pick(self) -> Lane:
        """The lane whose next permit is due soonest; among lanes equally ready (typically several with a permit
        free now), the next in turn, so idle budget is spread and no token is the only one that ever warms up.
        The choice is a hint, not a reservation: a thread that lost the race waits in that lane's queue."""
        if len(self.all) == 1:
            return self.all[0]
        with self._lock:
            start = self._next
            self._next = (start + 1) % len(self.all)
        order = self.all[start:] + self.all[:start]
        return min(order, key=lambda lane: lane.limiter.delay())  # min keeps the first of equals: the turn

    def soonest(self) -> float:
        """Seconds until some lane has a permit (0: one has it now)."""
        return min(lane.limiter.delay() for lane in self.all)

    def __repr__(self) -> str:
        return f"Lanes({[lane.client_id for lane in self.all]!r})"
