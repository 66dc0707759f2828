"""The event builders of the tests are the public ones (`gcevents.testing.events`): users' tests, the workload and
ours build the same envelopes. `make_event` is `event`, by the name these tests grew up with. Below them, the small
helpers several test files share (one definition each)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from gcevents.core.topics import CONVERSATION_KINDS
from gcevents.testing.events import (
    ALLOWED_PREFIX,
    BASE_MS,
    ORG_ID,
    QUEUE_ARN,
    SOURCE,
    event,
    resend,
    sqs_batch,
    sqs_record,
    topic_for,
)

make_event = event

__all__ = [
    "ALLOWED_PREFIX",
    "BASE_MS",
    "CONVERSATION_KINDS",
    "ORG_ID",
    "QUEUE_ARN",
    "SOURCE",
    "Crash",
    "Highest",
    "make_event",
    "resend",
    "sqs_batch",
    "sqs_record",
    "topic_for",
    "wait_for",
]


class Highest(random.Random):
    """Jitter that always draws the top of its range: backoff delays are then their ceilings."""

    def uniform(self, a: float, b: float) -> float:
        return b


class Crash(BaseException):
    """The process dies mid-handler (a Lambda timeout, an OOM kill): nothing after it runs, nothing is released,
    acknowledged or made visible again."""


def wait_for(condition: Callable[[], bool], timeout: float, what: str = "condition not reached in time") -> None:
    """Poll `condition` until it holds; AssertionError(`what`) after `timeout` seconds."""
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError(what)
        time.sleep(0.02)
