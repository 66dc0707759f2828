"""Rotating the webhook signing secret on the sending side: during the overlap every delivery carries a `v1=` per
secret (and a Standard Webhooks signature per secret), so a receiver that knows only the old secret and one that
knows only the new one both verify every delivery; the Idempotency-Key is the signed body's `id`."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from factories import make_event, sqs_batch
from gcevents.adapters.sinks.signing import (
    HEADER,
    STANDARD_SIGNATURE,
    secrets_of,
    standard_signature,
    verify,
    verify_standard,
)
from gcevents.adapters.sinks.webhook import WebhookSink
from gcevents.config import Config
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.errors import ConfigError
from gcevents.ports import OutboundRecord
from gcevents.secret import Secret
from gcevents.testing.sinks import WebhookReceiver

OLD = "whsec-old-0123456789"
NEW = "whsec-new-9876543210"
ROTATING = json.dumps([OLD, NEW])


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, WebhookReceiver]]:
    with WebhookReceiver(OLD) as old, WebhookReceiver(NEW) as new:
        yield old, new


def test_receivers_with_only_the_old_or_only_the_new_secret_verify_every_delivery(
    receivers: tuple[WebhookReceiver, WebhookReceiver], tmp_path: object
) -> None:
    old, new = receivers
    raw = "v2.detail.events.conversation.{id}.customer.end"
    config = Config.from_env(
        {
            "GCEVENTS_DB": f"{tmp_path}/g.db",
            "GCEVENTS_SINKS": f"webhook:{old.url}|derived,{raw}; webhook:{new.url}|derived,{raw}",
            "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
            "GCEVENTS_WEBHOOK_SECRET": ROTATING,
        }
    )
    runtime = build_runtime(config)
    events = [
        make_event(kind, f"c-{n}", event_time=1_000_000 + n * 10_000 + step)
        for n in range(5)
        for step, kind in enumerate(("customer.start", "customer.end"))
    ]
    assert process_invocation(runtime, sqs_batch(events), None) == {"batchItemFailures": []}
    for receiver in (old, new):
        assert receiver.bad_signatures == 0
        assert receiver.bad_standard_signatures == 0
        assert receiver.requests == len(receiver.snapshot()) == 10  # 5 completed + 5 raw, each verified
        assert all(r.key == r.document["id"] for r in receiver.snapshot())  # the key is signed, as the body's id


def test_each_delivery_carries_one_signature_per_secret_and_nothing_secret_in_an_error() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(400, text=f"bad: {request.headers[HEADER]} {request.headers[STANDARD_SIGNATURE]}")

    sink = WebhookSink("https://hooks.example.com/in", lambda: Secret(ROTATING), transport=httpx.MockTransport(handler))
    record = OutboundRecord("c1:v1", "conversation.completed", b'{"id":"c1:v1"}', None, "c1")
    (error,) = sink.deliver([record], deadline=1e12).values()
    (request,) = seen
    assert request.headers[HEADER].count("v1=") == 2
    assert len(request.headers[STANDARD_SIGNATURE].split()) == 2
    assert request.headers["webhook-id"] == request.headers["Idempotency-Key"] == "c1:v1"
    for secret in (OLD, NEW):
        assert verify(secret, request.content, request.headers[HEADER])
        assert verify_standard(secret, request.content, request.headers)
    assert not verify("other", request.content, request.headers[HEADER])
    assert not verify_standard("other", request.content, request.headers)
    for secret in (OLD, NEW, request.headers[HEADER], *request.headers[STANDARD_SIGNATURE].split()):
        assert secret not in str(error)


def test_the_standard_webhooks_signature_matches_the_specification_vector() -> None:
    # The example of the Standard Webhooks specification (a `whsec_` secret is base64 after the prefix).
    secret, message_id, timestamp, body = (
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        1614265330,
        b'{"test": 2432232314}',
    )
    assert standard_signature(secret, message_id, timestamp, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_one_secret_is_taken_as_given() -> None:
    assert secrets_of("plain,with,commas") == ("plain,with,commas",)
    assert secrets_of(ROTATING) == (OLD, NEW)


@pytest.mark.parametrize("value", ['["only-[', "[]", '["a", "a"]', '["a", ""]', '["a","b","c","d"]', "[1]"])
def test_a_bad_rotation_list_stops_the_start_without_echoing_it(value: str) -> None:
    with pytest.raises(ConfigError, match="GCEVENTS_WEBHOOK_SECRET") as caught:
        Config.from_env({"GCEVENTS_SINKS": "webhook:https://x.example.com/", "GCEVENTS_WEBHOOK_SECRET": value})
    assert value not in str(caught.value)
