"""The handler's tests, with gcevents' test kit: real-shaped events, the real pipeline on in-memory stores, and
httpx's MockTransport as the CRM. No AWS, no network."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from crm_wrapup import handlers
from gcevents import PermanentError, TransientError
from gcevents.testing import context, event, parse, resend, run

HANDLERS = "crm_wrapup.handlers:router"  # what GCEVENTS_HANDLERS says in production


class FakeCrm:
    """The CRM's webhook: answers the statuses queued in `answers` first, then 200, and keeps one wrap-up per
    Idempotency-Key, as an idempotent API does. Thread-safe: the pipeline calls handlers from several threads."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.wrapups: dict[str, Any] = {}  # Idempotency-Key -> the wrap-up recorded
        self.lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
            status = self.answers.pop(0) if self.answers else 200
            if status < 300:
                self.wrapups.setdefault(request.headers["Idempotency-Key"], json.loads(request.content))
        return httpx.Response(status, headers={"Retry-After": "30"} if status == 429 else {})


@pytest.fixture
def crm() -> Iterator[FakeCrm]:
    fake = FakeCrm()
    handlers.use_crm(handlers.Crm(httpx.Client(transport=httpx.MockTransport(fake)), "https://crm.test/wrapups"))
    yield fake
    handlers.use_crm(None)


def test_a_wrapup_is_posted_once(crm: FakeCrm) -> None:
    acw = event("acw", "c-1", wrapupCode="Sale")
    result = run("crm_wrapup.handlers:router", [acw, acw, resend(acw)])  # a duplicate delivery, a Genesys re-send
    assert result.counts == {"processed": 1, "duplicate": 2}
    assert len(result.calls["post_wrapup"]) == 1  # each call: the event, the context, the error raised if any
    assert len(crm.requests) == 1


def test_each_wrapup_reaches_the_crm_once_however_often_it_arrives(crm: FakeCrm) -> None:
    sale = event("acw", "c-1", wrapupCode="Sale", userId="agent-7", wrapupDurationMs=42_000)
    refund = event("acw", "c-2", wrapupCode="Refund")
    # SQS delivers at least once; Genesys re-sends under a new envelope id: neither may reach the CRM twice.
    result = run(
        HANDLERS,
        [sale, refund, sale, resend(sale), resend(refund)],
        enrichment={"c-1": {"conversationEnd": "2024-05-29T16:40:00Z"}},
    )
    assert result.counts == {"processed": 2, "duplicate": 3}
    assert len(crm.requests) == 2
    posted = crm.wrapups[parse(sale).content_key]
    assert posted["wrapupCode"] == "Sale"
    assert posted["agentId"] == "agent-7"
    assert posted["wrapupSeconds"] == 42
    assert posted["endedAt"] == "2024-05-29T16:40:00Z"
    assert crm.wrapups[parse(refund).content_key]["endedAt"] is None  # analytics had nothing yet


def test_an_outage_is_retried_under_the_same_key_and_recorded_once(crm: FakeCrm) -> None:
    crm.answers = [503]
    acw = event("acw", "c-1")
    result = run(HANDLERS, [acw], attempts=2)
    assert [(o.outcome, o.attempts) for o in result.outcomes] == [("processed", 2)]
    keys = [r.headers["Idempotency-Key"] for r in crm.requests]
    assert keys == [parse(acw).content_key] * 2  # ctx.idempotency_key: the content key, the same on a retry
    assert len(crm.wrapups) == 1


def test_a_timeout_after_the_crm_recorded_it_posts_again_harmlessly(crm: FakeCrm) -> None:
    """The worst case of at-least-once: the CRM recorded the wrap-up, the answer was lost. The retry carries the
    same Idempotency-Key, so the CRM still holds one wrap-up."""
    lost = {"first": True}

    def slow_crm(request: httpx.Request) -> httpx.Response:
        crm(request)
        if lost.pop("first", False):
            raise httpx.ReadTimeout("no answer", request=request)
        return httpx.Response(200)

    handlers.use_crm(handlers.Crm(httpx.Client(transport=httpx.MockTransport(slow_crm)), "https://crm.test/w"))
    result = run(HANDLERS, [event("acw", "c-1")], attempts=2)
    assert result.outcomes[0].outcome == "processed"
    assert len(crm.requests) == 2
    assert len(crm.wrapups) == 1


def test_a_rejected_wrapup_is_dead_lettered_for_a_later_redrive(crm: FakeCrm) -> None:
    crm.answers = [400]
    result = run(HANDLERS, [event("acw", "c-1"), event("acw", "c-2")])
    assert [(o.outcome, o.reason) for o in result.outcomes] in (
        [("dead_lettered", "crm_rejected"), ("processed", None)],
        [("processed", None), ("dead_lettered", "crm_rejected")],  # the two conversations ran in parallel
    )
    assert [letter.reason for letter in result.dead_letters] == ["crm_rejected"]


def test_throttling_asks_for_the_crms_delay_and_nothing_without_a_code_is_posted(crm: FakeCrm) -> None:
    crm.answers = [429]
    acw = event("acw", "c-1")
    with pytest.raises(TransientError) as raised:
        handlers.post_wrapup(parse(acw), context(acw))
    assert raised.value.retry_after == 30
    crm.answers = [422]
    with pytest.raises(PermanentError):
        handlers.post_wrapup(parse(acw), context(acw))
    no_code = event("acw", "c-2", wrapupCode=None)
    handlers.post_wrapup(parse(no_code), context(no_code))
    assert len(crm.requests) == 2


def test_conversations_are_posted_in_parallel_each_once(crm: FakeCrm) -> None:
    events = [event("acw", f"c-{n}") for n in range(40)]
    result = run(HANDLERS, events + [resend(e) for e in events], batch_size=40)
    assert result.counts == {"processed": 40, "duplicate": 40}
    assert len(crm.wrapups) == len(crm.requests) == 40


def test_settings_come_from_the_environment_or_the_handler_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_WEBHOOK_URL", "https://crm.test/a")
    monkeypatch.setenv("CRM_TOKEN", "t-1")
    assert handlers._settings() == ("https://crm.test/a", "t-1")
    monkeypatch.delenv("CRM_WEBHOOK_URL")
    monkeypatch.setenv("HANDLER_SECRET_ARN", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:crm-AbCdEf")
    secrets = SimpleNamespace(
        get_secret_value=lambda SecretId: {"SecretString": '{"url": "https://crm.test/b", "token": "t-2"}'}
    )
    monkeypatch.setitem(sys.modules, "boto3", SimpleNamespace(client=lambda service: secrets))
    assert handlers._settings() == ("https://crm.test/b", "t-2")
