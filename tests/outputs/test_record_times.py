"""Every time in every derived record and state view has one shape: ISO-8601 UTC with milliseconds
("2026-12-07T10:11:31.309Z"), whatever the event times' milliseconds (".000" included) and however analytics wrote its
own; and every record validates against its schema, whose time pattern says the same."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gcevents.core.outputs import DERIVED
from gcevents.core.state import stored_view
from gcevents.testing.sinks import RecordingSink

from .kit import lifecycles, make_kit
from .test_schema import validator

ONE_SHAPE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d")


def times(value: Any) -> Iterator[str]:
    if isinstance(value, str) and LOOKS_LIKE_TIME.match(value):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from times(item)
    elif isinstance(value, list):
        for item in value:
            yield from times(item)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conversations=st.integers(1, 6), seed=st.integers(0, 10_000), whole_seconds=st.booleans())
def test_every_record_time_has_one_shape(conversations: int, seed: int, whole_seconds: bool) -> None:
    flows = lifecycles(conversations, seed=seed)
    events = [e for flow in flows.values() for e in flow]
    if whole_seconds:  # ".000": isoformat() used to drop the fraction altogether
        for e in events:
            body = e["detail"]["eventBody"]
            body["eventTime"] = body["eventTime"] // 1000 * 1000
    sink = RecordingSink()
    kit = make_kit([(sink, DERIVED, ())])
    kit.run(events)
    documents = sink.documents()
    assert documents
    schema = validator("conversation.completed.v1.json")
    for document in documents:
        schema.validate(document)
        assert [t for t in times(document) if not ONE_SHAPE.match(t)] == []
    for item in kit.state.list(limit=100):
        assert [t for t in times(stored_view(item)) if not ONE_SHAPE.match(t)] == []


def test_analytics_times_take_the_one_shape() -> None:
    from gcevents.core.documents import derive

    state = {
        "enrichment": {
            "value": {"conversationStart": "2026-12-07T10:11:31Z", "conversationEnd": "2026-12-07T10:12:00.5Z"}
        }
    }
    analytics = derive("c-1", state)["analytics"]
    assert analytics == {"conversationStart": "2026-12-07T10:11:31.000Z", "conversationEnd": "2026-12-07T10:12:00.500Z"}
