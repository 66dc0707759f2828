"""GCEVENTS_SINKS and its companions: the syntax, clear errors, and no URL or secret in any message."""

from __future__ import annotations

import pytest

from gcevents.config import Config
from gcevents.core.records import COMPLETED, UPDATED
from gcevents.entrypoints.runtime import build_runtime
from gcevents.errors import ConfigError

SECRET_ENV = {"GCEVENTS_WEBHOOK_SECRET": "whsec-x"}


def outputs(env: dict[str, str]):  # type: ignore[no-untyped-def]
    return Config.from_env({"GCEVENTS_STATE_STORE": "memory", **env}).outputs


def test_no_sinks_no_outputs() -> None:
    config = outputs({})
    assert config.sinks == ()
    assert not config.derived


def test_a_webhook_without_selector_takes_the_derived_records_only() -> None:
    (spec,) = outputs({"GCEVENTS_SINKS": "webhook:https://crm.example.com/hook", **SECRET_ENV}).sinks
    assert (spec.kind, spec.derived, spec.patterns) == ("webhook", frozenset({COMPLETED, UPDATED}), ())


def test_several_sinks_with_selectors() -> None:
    text = (
        "webhook:https://crm.example.com/hook|completed ;\n"
        " eventbridge:gcevents-out|derived,v2.detail.events.conversation.{id}.acw ;"
        "firehose:genesys-lake|v2.*;"
    )
    webhook, bus, lake = outputs({"GCEVENTS_SINKS": text, **SECRET_ENV}).sinks
    assert webhook.derived == {COMPLETED}
    assert (bus.kind, bus.target, bus.derived) == ("eventbridge", "gcevents-out", {COMPLETED, UPDATED})
    assert bus.patterns == ("v2.detail.events.conversation.{id}.acw",)
    assert (lake.kind, lake.target, lake.derived, lake.patterns) == ("firehose", "genesys-lake", frozenset(), ("v2.*",))
    assert len({webhook.sink_id, bus.sink_id, lake.sink_id}) == 3


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("smtp:someone@example.com", "expected webhook:URL"),
        ("webhook:http://crm.example.com/T0K3N", "loopback"),
        ("webhook:ftp://crm.example.com/T0K3N", "https"),
        ("webhook:https://user:T0K3N@crm.example.com/", "credentials"),
        ("webhook:https://crm.example.com/T0K3N|everything please", "selector"),
        ("eventbridge:bad bus", "event bus"),
        ("firehose:" + "x" * 65, "delivery stream"),
        ("firehose:a;firehose:a", "same destination"),
    ],
)
def test_bad_specs_are_rejected_clearly_without_echoing_urls(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as raised:
        outputs({"GCEVENTS_SINKS": text, **SECRET_ENV})
    message = str(raised.value)
    assert "GCEVENTS_SINKS" in message
    assert says in message
    assert "T0K3N" not in message


def test_http_is_allowed_to_loopback_only() -> None:
    for host in ("127.0.0.1:8080", "localhost", "[::1]:9000"):
        assert outputs({"GCEVENTS_SINKS": f"webhook:http://{host}/in", **SECRET_ENV}).sinks


def test_a_webhook_needs_exactly_one_secret_source() -> None:
    with pytest.raises(ConfigError, match="GCEVENTS_WEBHOOK_SECRET"):
        outputs({"GCEVENTS_SINKS": "webhook:https://crm.example.com/"})
    both = {"GCEVENTS_WEBHOOK_SECRET": "x", "GCEVENTS_WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:r:1:secret:x"}
    with pytest.raises(ConfigError, match="not both"):
        outputs({"GCEVENTS_SINKS": "webhook:https://crm.example.com/", **both})


def test_the_secret_never_shows_in_the_config_repr() -> None:
    config = outputs({"GCEVENTS_SINKS": "webhook:https://crm.example.com/T0K3N", "GCEVENTS_WEBHOOK_SECRET": "hunter2"})
    assert "hunter2" not in repr(config)
    assert "T0K3N" not in repr(config)


def test_derived_records_need_the_state_store() -> None:
    config = Config.from_env({"GCEVENTS_STATE_STORE": "off", "GCEVENTS_IDEMPOTENCY_STORE": "memory",
                              "GCEVENTS_DLQ": "memory", "GCEVENTS_SINKS": "firehose:lake"})  # fmt: skip
    with pytest.raises(ConfigError, match="STATE_STORE"):
        build_runtime(config)


def test_the_runtime_wires_routes_in_order() -> None:
    env = {"GCEVENTS_IDEMPOTENCY_STORE": "memory", "GCEVENTS_STATE_STORE": "memory", "GCEVENTS_DLQ": "memory",
           "GCEVENTS_SINKS": "webhook:http://127.0.0.1:9/x|derived,v2.*", **SECRET_ENV}  # fmt: skip
    runtime = build_runtime(Config.from_env(env))
    assert runtime.outputs is not None
    assert runtime.outputs.conversations is not None
    assert runtime.outputs.raw is not None
    handlers = [h for _, h in runtime.pipeline.router.batch_handlers()]
    assert handlers.index(runtime.projection) < handlers.index(runtime.outputs.raw)  # type: ignore[arg-type]
