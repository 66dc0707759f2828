"""GCEVENTS_ATTRIBUTES: what gcevents keeps and forwards of participant attributes (docs/data-protection.md).

The end-to-end tests run the Lambda path with a webhook sink on a real loopback receiver, then `gcevents state get`,
and look for the caller data in everything gcevents wrote: the state, the webhook bodies, the logs, the metrics."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from factories import make_event, sqs_batch
from gcevents import AttributesEvent, Router, typed_handler
from gcevents.config import Config
from gcevents.core.attributes import HASH_PREFIX, AttributePolicy
from gcevents.entrypoints import cli
from gcevents.entrypoints.lambda_handler import process_invocation
from gcevents.entrypoints.runtime import build_runtime
from gcevents.errors import ConfigError
from gcevents.testing.sinks import WebhookReceiver

SECRET = "whsec-attributes"
HASH_KEY = "attribute-hash-key-0123"
CARD = "4111111111111111"
EMAIL = "jane.doe@example.com"
TIER = "platinum-tier"
ATTRIBUTES = {"accountNumber": CARD, "email": EMAIL, "customerTier": TIER}
RAW_ROUTE = "v2.detail.events.conversation.{id}.attributes"


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(SECRET) as server:
        yield server


Outcome = tuple[str, dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]


@pytest.fixture
def run(
    tmp_path: Path,
    receiver: WebhookReceiver,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., Outcome]:
    return lambda **env: _run(tmp_path, receiver, capsys, caplog, monkeypatch, **env)


def _run(
    tmp_path: Path,
    receiver: WebhookReceiver,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    **env: str,
) -> Outcome:
    """(everything printed or logged, `gcevents state get --json`, webhook bodies, what the user's handler saw)."""
    db = str(tmp_path / "g.db")
    variables = {
        "GCEVENTS_DB": db,
        "GCEVENTS_SINKS": f"webhook:{receiver.url}|derived,{RAW_ROUTE}",
        "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
        "GCEVENTS_WEBHOOK_SECRET": SECRET,
        **env,
    }
    seen: list[dict[str, Any]] = []
    router = Router()

    @router.on(RAW_ROUTE)
    @typed_handler
    def keep(event: AttributesEvent, ctx: Any) -> None:
        seen.append(dict(event.attributes))

    caplog.set_level(logging.DEBUG)
    runtime = build_runtime(Config.from_env(variables), router=router)
    events = [
        make_event("customer.start", "c-1", event_time=1_000_000),
        make_event("attributes", "c-1", event_time=1_500_000, attributes=ATTRIBUTES),
        make_event("customer.end", "c-1", event_time=2_000_000),
    ]
    response = process_invocation(runtime, sqs_batch(events), None)
    assert response == {"batchItemFailures": []}
    processing = capsys.readouterr()
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["state", "get", "c-1", "--json"]) == 0
    shown = capsys.readouterr()
    state = json.loads(shown.out)
    logged = "".join(json.dumps(r.__dict__, default=str) for r in caplog.records)
    printed = processing.out + processing.err + shown.out + shown.err + caplog.text + logged
    bodies = [dict(r.document) for r in receiver.snapshot()]
    assert receiver.bad_signatures == 0
    return printed, state, bodies, seen


def of_type(bodies: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [b for b in bodies if b["type"] == kind]


def test_default_policy_keeps_names_and_no_value_anywhere(run: Callable[..., Outcome]) -> None:
    printed, state, bodies, seen = run()
    everything = printed + json.dumps(state) + json.dumps(bodies)
    for value in (CARD, EMAIL, TIER):
        assert value not in everything
    assert state["attributes"] == {"accountNumber": None, "customerTier": None, "email": None}
    (completed,) = of_type(bodies, "conversation.completed")
    assert completed["conversation"]["attributes"] == state["attributes"]
    (raw,) = of_type(bodies, "genesys.event")
    assert raw["event"]["detail"]["eventBody"]["attributes"] == state["attributes"]
    assert seen == [ATTRIBUTES]  # the user's handler still gets every value


def test_allow_and_hash_forward_only_what_they_name(run: Callable[..., Outcome]) -> None:
    printed, state, bodies, seen = run(
        GCEVENTS_ATTRIBUTES="allow:customerTier; hash:accountNumber", GCEVENTS_ATTRIBUTES_HASH_KEY=HASH_KEY
    )
    digest = HASH_PREFIX + hmac.new(HASH_KEY.encode(), CARD.encode(), hashlib.sha256).hexdigest()
    everything = printed + json.dumps(state) + json.dumps(bodies)
    assert CARD not in everything
    assert EMAIL not in everything
    assert "email" not in json.dumps(bodies)
    expected = {"accountNumber": digest, "customerTier": TIER}
    assert state["attributes"] == expected
    (completed,) = of_type(bodies, "conversation.completed")
    assert completed["conversation"]["attributes"] == expected
    (raw,) = of_type(bodies, "genesys.event")
    assert raw["event"]["detail"]["eventBody"]["attributes"] == expected
    assert HASH_KEY not in everything
    assert seen == [ATTRIBUTES]


def test_none_keeps_no_attributes() -> None:
    assert AttributePolicy.parse("none").apply(ATTRIBUTES) == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("names", {"accountNumber": None, "email": None, "customerTier": None}),
        ("allow:customerTier", {"customerTier": TIER}),
        ("names;allow:customerTier", {"accountNumber": None, "email": None, "customerTier": TIER}),
        ("allow:*", ATTRIBUTES),
        ("allow:* ; hash:email", {"accountNumber": CARD, "customerTier": TIER, "email": "h"}),
    ],
)
def test_parse_and_apply(text: str, expected: dict[str, Any]) -> None:
    policy = AttributePolicy.parse(text).with_key(lambda: b"k")
    kept = policy.apply(ATTRIBUTES)
    assert {k: ("h" if isinstance(v, str) and v.startswith(HASH_PREFIX) else v) for k, v in kept.items()} == expected
    assert AttributePolicy.parse(str(policy)) == policy


@pytest.mark.parametrize("text", ["all", "none;names", "allow:", "hash:a;allow:a", "allow=a", "names:x"])
def test_bad_policies_are_config_errors_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError, match="GCEVENTS_ATTRIBUTES"):
        Config.from_env({"GCEVENTS_ATTRIBUTES": text})


def test_hash_needs_exactly_one_key() -> None:
    with pytest.raises(ConfigError, match="GCEVENTS_ATTRIBUTES_HASH_KEY"):
        Config.from_env({"GCEVENTS_ATTRIBUTES": "hash:email"})
    with pytest.raises(ConfigError, match="not both"):
        Config.from_env(
            {
                "GCEVENTS_ATTRIBUTES": "hash:email",
                "GCEVENTS_ATTRIBUTES_HASH_KEY": "k",
                "GCEVENTS_ATTRIBUTES_HASH_KEY_ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:k",
            }
        )
    config = Config.from_env({"GCEVENTS_ATTRIBUTES": "hash:email", "GCEVENTS_ATTRIBUTES_HASH_KEY": HASH_KEY})
    assert HASH_KEY not in repr(config)


names = st.text(min_size=1, max_size=8).filter(lambda name: name != "*")  # `*` is the wildcard: tested apart


@given(
    attributes=st.dictionaries(names, st.text(min_size=12, max_size=20), max_size=6),
    allowed=st.sets(names, max_size=3),
    hashed=st.sets(names, max_size=3),
    keep_names=st.booleans(),
)
def test_no_value_leaves_unless_its_name_is_allowed(
    attributes: dict[str, str], allowed: set[str], hashed: set[str], keep_names: bool
) -> None:
    policy = AttributePolicy(keep_names, frozenset(allowed), frozenset(hashed - allowed), lambda: b"key")
    kept = policy.apply(attributes)
    assert set(kept) <= set(attributes)
    for name, value in attributes.items():
        if name in allowed:
            assert kept[name] == value
        elif name in hashed:
            assert kept[name].startswith(HASH_PREFIX)
            assert value not in kept[name]
        elif keep_names:
            assert kept[name] is None  # a value not allowed never leaves
        else:
            assert name not in kept


def test_the_documented_default_is_the_safe_policy() -> None:
    from gcevents import variables as v
    from gcevents.core.attributes import DEFAULT_POLICY

    assert AttributePolicy.parse(v.GCEVENTS_ATTRIBUTES.default) == DEFAULT_POLICY == Config().attributes
    assert Config.from_env({}).attributes == DEFAULT_POLICY


def test_the_wildcard_takes_every_name_not_listed_elsewhere() -> None:
    attributes = {"queueName": "Sales", "accountNumber": "4111111111111111", "email": "a@example.com"}
    hash_all = AttributePolicy.parse("allow:queueName;hash:*").with_key(lambda: b"key").apply(attributes)
    assert hash_all["queueName"] == "Sales"
    assert all(hash_all[n].startswith(HASH_PREFIX) for n in ("accountNumber", "email"))
    allow_all = AttributePolicy.parse("allow:*").apply(attributes)
    assert allow_all == attributes
