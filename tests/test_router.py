"""Topic patterns (`{id}` = one segment, `*` = anything), include(), and the handlers_for cache."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from gcevents.core.events import GenesysEvent
from gcevents.core.router import HandlerContext, Router, WorkItem, compile_pattern, topic_matches

END = "v2.detail.events.conversation.{id}.customer.end"


def noop(event: GenesysEvent, context: HandlerContext) -> None:
    return None


@pytest.mark.parametrize(
    ("pattern", "topic", "matches"),
    [
        (END, "v2.detail.events.conversation.abc-123.customer.end", True),
        (END, "v2.detail.events.conversation.abc.123.customer.end", False),  # {id} is exactly one segment
        (END, "v2.detail.events.conversation..customer.end", False),  # ... and not empty
        (END, "v2.detail.events.conversation.abc.customer.end.extra", False),  # anchored at the end
        (END, "xv2.detail.events.conversation.abc.customer.end", False),  # anchored at the start
        (END, "v2XdetailXeventsXconversation.abc.customer.end", False),  # dots are literal
        ("v2.detail.events.conversation.{conversationId}.acw", "v2.detail.events.conversation.c1.acw", True),
        ("v2.detail.events.conversation.*", "v2.detail.events.conversation.c1.customer.start", True),
        ("v2.detail.events.conversation.*", "v2.detail.events.agent.u1.state", False),
        ("*.customer.end", "v2.detail.events.conversation.c1.customer.end", True),
        ("*.customer.end", "v2.detail.events.conversation.c1.customer.start", False),
        ("*", "anything.at.all", True),
        ("v2.detail.events.agent.{id}.state", "v2.detail.events.agent.u-1.state", True),
        ("v2.users.{id}.presence", "v2.users.u-1.presence", True),
        ("v2.users.(id).presence", "v2.users.u-1.presence", False),  # regex characters are escaped
        ("v2.users.[a-z]+", "v2.users.abc", False),
        ("v2.users.[a-z]+", "v2.users.[a-z]+", True),
        # `*` matches a newline too (else such events would run no handler), `{id}` still one
        # segment: it may hold a newline but never a dot.
        ("*", "v2.detail.events.conversation.c\n1.customer.end", True),
        ("v2.detail.events.conversation.*", "v2.detail.events.conversation.c1.customer.end\n", True),
        (END, "v2.detail.events.conversation.c\n1.customer.end", True),
        (END, "v2.detail.events.conversation.c\n.1.customer.end", False),
        (END, "v2.detail.events.conversation.c1.customer.end\n", False),  # \Z, not $: no trailing newline
    ],
)
def test_patterns(pattern: str, topic: str, matches: bool) -> None:
    assert topic_matches(pattern, topic) is matches


def test_compile_pattern_is_cached() -> None:
    assert compile_pattern(END) is compile_pattern(END)


def test_on_registers_for_every_pattern_in_order() -> None:
    router = Router()
    calls: list[str] = []

    @router.on(END, "*.acw")
    def first(event: GenesysEvent, context: HandlerContext) -> None:
        calls.append("first")

    router.add("*", noop)
    assert router.handlers_for("v2.detail.events.conversation.c.customer.end") == (first, noop)
    assert router.handlers_for("v2.detail.events.conversation.c.acw") == (first, noop)
    assert router.handlers_for("v2.detail.events.agent.u.state") == (noop,)
    assert len(router) == 3  # two registrations of `first` + noop


def test_no_handlers_is_an_empty_tuple() -> None:
    assert Router().handlers_for("v2.anything") == ()


def test_include_merges_handlers_and_batch_handlers() -> None:
    class Batch:
        def handle_batch(self, items: Sequence[WorkItem]) -> Mapping[str, Exception]:
            return {}

    user = Router()
    user.add(END, noop)
    batch = Batch()
    user.add_batch(batch, ["*.acw"])
    main = Router()
    main.include(user)
    assert main.handlers_for("v2.detail.events.conversation.c.customer.end") == (noop,)
    assert main.batch_handlers() == [(("*.acw",), batch)]
    assert len(main) == 2


def test_handlers_for_caches_and_add_invalidates() -> None:
    router = Router()
    router.add(END, noop)
    topic = "v2.detail.events.conversation.c.customer.end"
    first = router.handlers_for(topic)
    assert router.handlers_for(topic) is first  # served from the cache

    def later(event: GenesysEvent, context: HandlerContext) -> None:
        return None

    router.add("*", later)  # a new registration must be seen for topics cached before it
    assert router.handlers_for(topic) == (noop, later)


def test_include_invalidates_the_cache_too() -> None:
    router = Router()
    topic = "v2.detail.events.conversation.c.customer.end"
    assert router.handlers_for(topic) == ()
    other = Router()
    other.add(END, noop)
    router.include(other)
    assert router.handlers_for(topic) == (noop,)


def test_cache_is_bounded() -> None:
    router = Router()
    router.add("*", noop)
    for i in range(10_050):
        router.handlers_for(f"v2.detail.events.conversation.c{i}.customer.end")
    assert len(router._cache) == 10_000
    assert router.handlers_for("v2.detail.events.conversation.new.customer.end") == (noop,)


def test_users_are_told_that_handlers_run_on_threads() -> None:
    """Handlers run on 8 threads: the guide and the docstrings say they must be thread-safe."""
    from pathlib import Path

    guide = (Path(__file__).resolve().parent.parent / "docs" / "handlers.md").read_text(encoding="utf-8")
    for text in (guide, Router.__doc__ or "", HandlerContext.__doc__ or ""):
        assert "thread-safe" in text


def test_handlers_of_different_conversations_do_run_at_the_same_time() -> None:
    """What the documentation warns about: two conversations' handlers inside each other's critical section."""
    import json
    import threading
    import time as clock

    from factories import make_event
    from gcevents.core.events import RawRecord
    from gcevents.core.idempotency import Idempotency
    from gcevents.core.pipeline import Pipeline, PipelineSettings
    from gcevents.testing.fakes import MemoryDeadLetterSink, MemoryIdempotencyStore

    both_inside = threading.Barrier(2, timeout=10)  # broken (and the test failed) if they ran one after another
    router = Router()
    router.add("*", lambda event, ctx: both_inside.wait())
    pipeline = Pipeline(
        idempotency=Idempotency(MemoryIdempotencyStore(), concurrency=2),
        dead_letters=MemoryDeadLetterSink(),
        router=router,
        settings=PipelineSettings(handler_concurrency=8, deadline_margin=0.0),
    )
    records = [RawRecord(json.dumps(make_event("customer.start", cid))) for cid in ("c-1", "c-2")]
    report = pipeline.run(records, clock.time() + 60)
    assert report.counts()["processed"] == 2
