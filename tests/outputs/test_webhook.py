"""The webhook sink through httpx.MockTransport (no sockets): signing, status handling, Retry-After, timeouts,
the concurrency cap, the circuit breaker, sanitised excerpts and the deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import httpx
import pytest

from gcevents.adapters.sinks.signing import HEADER, header_value, verify
from gcevents.adapters.sinks.webhook import CircuitBreaker, WebhookSink, sanitise
from gcevents.errors import PermanentError, RateLimitedError, TransientError
from gcevents.secret import Secret

from .kit import outbound_record

SECRET = "whsec-test-0123456789"
URL = "https://hooks.example.com/in/T0K3N?sig=abc"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def sink(handler: Callable[[httpx.Request], httpx.Response], clock: Clock | None = None, **kw: object) -> WebhookSink:
    clock = clock or Clock()
    breaker = kw.pop("breaker", None) or CircuitBreaker(5, 30.0, clock=clock)
    return WebhookSink(
        URL,
        lambda: Secret(SECRET),
        transport=httpx.MockTransport(handler),
        sleep=clock.sleep,
        clock=clock,
        breaker=breaker,
        **kw,  # type: ignore[arg-type]
    )


def test_posts_signed_json_with_the_idempotency_key() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    clock = Clock()
    assert sink(handler, clock).deliver([outbound_record()], clock.now + 30) == {}
    (request,) = seen
    assert request.method == "POST"
    assert request.headers["Idempotency-Key"] == "c1:v1"
    assert request.headers["X-Gcevents-Event-Type"] == "conversation.completed"
    assert request.headers["Content-Type"] == "application/json"
    assert verify(SECRET, request.content, request.headers[HEADER], now=clock.now)
    assert not verify("other", request.content, request.headers[HEADER], now=clock.now)
    assert not verify(SECRET, request.content + b" ", request.headers[HEADER], now=clock.now)


def test_verify_refuses_old_timestamps_and_accepts_rotation() -> None:
    body = b"{}"
    old = header_value(SECRET, body, timestamp=1_000)
    assert not verify(SECRET, body, old, now=1_000 + 301)
    assert verify(SECRET, body, old, now=1_000 + 299)
    rotated = old + ",v1=" + "0" * 64
    assert verify(SECRET, body, rotated, now=1_000)
    assert not verify(SECRET, body, "garbage", now=1_000)


def test_5xx_then_success_is_retried_inline_with_backoff() -> None:
    answers = iter([httpx.Response(503), httpx.Response(500), httpx.Response(200)])
    clock = Clock()
    assert sink(lambda r: next(answers), clock).deliver([outbound_record()], clock.now + 30) == {}
    assert len(clock.slept) == 2


def test_a_long_retry_after_hands_the_record_back_with_the_delay() -> None:
    clock = Clock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "120"}, text='{"message":"slow down"}')

    (error,) = sink(handler, clock).deliver([outbound_record()], clock.now + 30).values()
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 120
    assert len(calls) == 1
    assert clock.slept == []


def test_a_short_retry_after_is_honoured_inline() -> None:
    answers = iter([httpx.Response(429, headers={"Retry-After": "1"}), httpx.Response(200)])
    clock = Clock()
    assert sink(lambda r: next(answers), clock).deliver([outbound_record()], clock.now + 30) == {}
    assert clock.slept[0] >= 1.0


def test_timeouts_are_transient() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    clock = Clock()
    (error,) = sink(handler, clock, max_retries=1).deliver([outbound_record()], clock.now + 30).values()
    assert isinstance(error, TransientError)
    assert "timed out" in str(error)


def test_other_4xx_is_permanent_with_a_sanitised_excerpt() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        echoed = f'{{"error":"bad","secret":"{SECRET}","got":"{request.headers[HEADER]}","auth":"Bearer abc.def"}}'
        return httpx.Response(422, text=echoed + "\n\x1b[31m" + "x" * 1000)

    clock = Clock()
    (error,) = sink(handler, clock).deliver([outbound_record()], clock.now + 30).values()
    assert isinstance(error, PermanentError)
    assert error.reason == "sink_rejected"
    text = str(error)
    assert "422" in text
    assert "webhook:hooks.example.com" in text
    assert SECRET not in text
    assert "T0K3N" not in text
    assert "sig=abc" not in text
    assert "v1=" not in text or "v1=***" in text
    assert "abc.def" not in text
    assert "\x1b" not in text
    assert len(text) < 400


def test_redirects_are_not_followed() -> None:
    clock = Clock()
    handler = lambda r: httpx.Response(302, headers={"Location": "https://elsewhere.example/"})  # noqa: E731
    (error,) = sink(handler, clock).deliver([outbound_record()], clock.now + 30).values()
    assert isinstance(error, PermanentError)


def test_the_breaker_opens_and_hands_records_back_without_calling() -> None:
    clock = Clock()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(503)

    breaker = CircuitBreaker(3, 30.0, clock=clock)
    webhook = sink(handler, clock, breaker=breaker, max_retries=0)
    for n in range(3):
        webhook.deliver([outbound_record(f"c{n}:v")], clock.now + 30)
    assert len(calls) == 3
    assert breaker.is_open
    errors = webhook.deliver([outbound_record(f"c{n}:v") for n in range(5)], clock.now + 30)
    assert len(calls) == 3  # nothing was sent while open
    assert {e.retry_after for e in errors.values() if isinstance(e, TransientError)} == {30.0}
    clock.now += 31  # half-open: one failure reopens for twice as long
    webhook.deliver([outbound_record("probe:v")], clock.now + 30)
    assert breaker.blocked_for() == 60.0
    clock.now += 61
    answers = iter([httpx.Response(200)])
    webhook_ok = sink(lambda r: next(answers), clock, breaker=breaker)
    assert webhook_ok.deliver([outbound_record("ok:v")], clock.now + 30) == {}
    assert not breaker.is_open


def test_no_request_starts_without_time_before_the_deadline() -> None:
    clock = Clock()
    calls = []
    webhook = sink(lambda r: calls.append(1) or httpx.Response(200), clock)
    (error,) = webhook.deliver([outbound_record()], clock.now + 0.5).values()
    assert isinstance(error, TransientError)
    assert calls == []


def test_concurrency_is_capped_per_destination() -> None:
    lock = threading.Lock()
    in_flight = [0, 0]  # now, max

    def handler(request: httpx.Request) -> httpx.Response:
        with lock:
            in_flight[0] += 1
            in_flight[1] = max(in_flight[1], in_flight[0])
        time.sleep(0.01)
        with lock:
            in_flight[0] -= 1
        return httpx.Response(200)

    webhook = WebhookSink(URL, lambda: Secret(SECRET), concurrency=3, transport=httpx.MockTransport(handler))
    assert webhook.deliver([outbound_record(f"c{n}:v") for n in range(20)], time.time() + 60) == {}
    assert 1 <= in_flight[1] <= 3


def test_the_sink_never_shows_its_url_or_secret() -> None:
    webhook = sink(lambda r: httpx.Response(200))
    assert "T0K3N" not in repr(webhook)
    assert webhook.name == "webhook:hooks.example.com"


def test_a_secret_that_cannot_be_read_hands_everything_back() -> None:
    def broken() -> Secret:
        raise TransientError("secretsmanager: ThrottlingException")

    webhook = WebhookSink(URL, broken, transport=httpx.MockTransport(lambda r: httpx.Response(200)))
    errors = webhook.deliver([outbound_record("a:1"), outbound_record("b:1")], time.time() + 60)
    assert set(errors) == {"a:1", "b:1"}


@pytest.mark.parametrize(
    ("said", "hidden"),
    [("token=abc123 rest", "abc123"), ('{"password": "hunter2"}', "hunter2"), ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz")],
)
def test_sanitise_masks_what_looks_like_credentials(said: str, hidden: str) -> None:
    assert hidden not in sanitise(said)


def test_the_receiver_code_in_the_docs_verifies_our_signature() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "outputs.md").read_text()
    block = text.split("```python\n", 1)[1].split("# In your handler", 1)[0]
    namespace: dict[str, object] = {}
    exec(block, namespace)  # the documented function, as a receiver would paste it
    verify_doc = namespace["verify"]
    body = b'{"id":"c1:0123456789abcdef"}'
    assert verify_doc(SECRET, body, header_value(SECRET, body))  # type: ignore[operator]
    assert not verify_doc(SECRET, body + b"x", header_value(SECRET, body))  # type: ignore[operator]
    assert not verify_doc(SECRET, body, header_value(SECRET, body, timestamp=1))  # type: ignore[operator]
