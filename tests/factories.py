"""The event builders of the tests are the public ones (`gcevents.testing.events`): users' tests, the workload and
ours build the same envelopes. `make_event` is `event`, by the name these tests grew up with."""

from __future__ import annotations

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
    "make_event",
    "resend",
    "sqs_batch",
    "sqs_record",
    "topic_for",
]
