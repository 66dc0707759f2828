"""Several OAuth clients in one deployment: one lane per client id, each with its own bearer token and its own
pacer, and every request sent on the lane whose permit comes first.

Genesys counts requests per client-credentials *token* (`client.credentials.token.rate.per.minute`), and an org
may create many OAuth clients: N lanes give about N times one token's budget. With one client id there is one
lane and `pick` is free, so a single-client deployment behaves exactly as before lanes existed.

A lane whose credentials the token endpoint rejects (a secret rotated on the Genesys side) leaves the rotation: the
other lanes carry the load, and the rejected one is tried again after a growing backoff (secrets get fixed)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from gcevents.adapters.genesys.auth import ClientCredentialsAuth
from gcevents.adapters.genesys.limiter import Pacer
from gcevents.errors import TransientError

log = logging.getLogger(__name__)

# A rejected client is tried again after 2 minutes, then 4, 8, at most 15: an operator fixing the secret sees it
# taken back within minutes, and a client that stays wrong costs a few token requests an hour.
REJECTED_RETRY_BASE = 120.0
REJECTED_RETRY_CAP = 900.0


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

    def __init__(self, lanes: Sequence[Lane], *, clock: Callable[[], float] = time.monotonic) -> None:
        if not lanes:
            raise ValueError("at least one lane")
        self.all = tuple(lanes)
        self._next = 0
        self._lock = threading.Lock()
        self._clock = clock
        self._rejected: dict[str, tuple[float, int]] = {}  # client id -> (monotonic time of its next try, times)

    def __len__(self) -> int:
        return len(self.all)

    @property
    def first(self) -> Lane:
        return self.all[0]

    def pick(self) -> Lane:
        """The lane whose next permit is due soonest; among lanes equally ready (typically several with a permit
        free now), the next in turn, so idle budget is spread and no token is the only one that ever warms up.
        The choice is a hint, not a reservation: a thread that lost the race waits in that lane's queue.
        Rejected lanes are left out until their next try; raises TransientError when every lane is out."""
        if len(self.all) == 1:
            return self.all[0]
        with self._lock:
            start = self._next
            self._next = (start + 1) % len(self.all)
        order = self._usable(self.all[start:] + self.all[:start])
        return min(order, key=lambda lane: lane.limiter.delay())  # min keeps the first of equals: the turn

    def soonest(self) -> float:
        """Seconds until some lane in the rotation has a permit (0: one has it now)."""
        lanes = self.all if len(self.all) == 1 else self._usable(self.all)
        return min(lane.limiter.delay() for lane in lanes)

    def _usable(self, lanes: tuple[Lane, ...]) -> tuple[Lane, ...]:
        if not self._rejected:
            return lanes
        now = self._clock()
        with self._lock:
            usable = tuple(lane for lane in lanes if self._rejected.get(lane.client_id, (now, 0))[0] <= now)
            if usable:
                return usable
            wait = min(until for until, _ in self._rejected.values()) - now
        clients = ", ".join(repr(lane.client_id) for lane in self.all)
        raise TransientError(
            f"Genesys: every OAuth client's credentials were rejected ({clients}); next try in {wait:.0f} s",
            retry_after=wait,
        )

    def reject(self, lane: Lane) -> bool:
        """The token endpoint rejected `lane`'s credentials: it leaves the rotation until its next try. False when
        there is no other lane to carry on (one client: its error stays the caller's). Logs once per rejection:
        ERROR when the lane leaves, WARNING when a later try is rejected again."""
        if len(self.all) == 1:
            return False
        now = self._clock()
        with self._lock:
            until, times = self._rejected.get(lane.client_id, (0.0, 0))
            if until > now:
                return True  # another thread met the same rejection: already out
            times += 1
            wait = min(REJECTED_RETRY_CAP, REJECTED_RETRY_BASE * 2.0 ** min(times - 1, 8))
            self._rejected[lane.client_id] = (now + wait, times)
        extra = {"clientId": lane.client_id, "retryInSeconds": wait, "rejections": times}
        if times == 1:
            log.error("genesys rejected an OAuth client's credentials; it leaves the rotation", extra=extra)
        else:
            log.warning("genesys still rejects an OAuth client's credentials", extra=extra)
        return True

    def accepted(self, lane: Lane) -> None:
        """`lane` got an answer with its token: back in the rotation for good (its secret was fixed)."""
        if lane.client_id not in self._rejected:  # the hot path: a dict lookup, no lock
            return
        with self._lock:
            known = self._rejected.pop(lane.client_id, None)
        if known is not None:
            log.info("genesys accepts an OAuth client's credentials again", extra={"clientId": lane.client_id})

    def __repr__(self) -> str:
        return f"Lanes({[lane.client_id for lane in self.all]!r})"
