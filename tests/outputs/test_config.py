"""GCEVENTS_SINKS and its companions: the syntax, clear errors, and no URL or secret in any message."""

from __future__ import annotations

import pytest

from gcevents.config import Config
from gcevents.core.documents import COMPLETED, UPDATED
from gcevents.entrypoints.runtime import build_runtime
from gcevents.errors import ConfigError

SECRET_ENV = {"GCEVENTS_WEBHOOK_SECRET": "whsec-x"}
LOOPBACK_ENV = {**SECRET_ENV, "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true"}


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


def test_http_is_allowed_to_loopback_only_behind_the_switch() -> None:
    """Issue 21.6: plain http to any loopback port was accepted in any deployment (in Lambda the runtime API
    listens on loopback). It now needs GCEVENTS_WEBHOOK_ALLOW_LOOPBACK=true, which tests and the demo set."""
    for host in ("127.0.0.1:8080", "localhost", "[::1]:9000", "127.0.0.2:9001", "api.localhost"):
        assert outputs({"GCEVENTS_SINKS": f"webhook:http://{host}/in", **LOOPBACK_ENV}).sinks
        for scheme in ("http", "https"):
            with pytest.raises(ConfigError, match="GCEVENTS_WEBHOOK_ALLOW_LOOPBACK") as raised:
                outputs({"GCEVENTS_SINKS": f"webhook:{scheme}://{host}/in/T0K3N", **SECRET_ENV})
            assert "T0K3N" not in str(raised.value)


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",
        "169.254.170.2",
        "[fd00:ec2::254]",
        "[::ffff:169.254.169.254]",
        "[fe80::1]",
        "metadata.google.internal",
        "METADATA.GOOGLE.INTERNAL.",
        "metadata.goog",
        "instance-data.ec2.internal",
        "0.0.0.0",
        "[::]",
        "100.100.100.200",
        "[64:ff9b::a9fe:a9fe]",
    ],
)
def test_metadata_link_local_and_unspecified_targets_are_refused(host: str) -> None:
    """Issue 21.6: `https://169.254.169.254/latest/meta-data/` and the like were accepted as webhook targets."""
    with pytest.raises(ConfigError) as raised:
        outputs({"GCEVENTS_SINKS": f"webhook:https://{host}/latest/meta-data/T0K3N", **LOOPBACK_ENV})
    message = str(raised.value)
    assert "GCEVENTS_SINKS" in message
    assert "T0K3N" not in message


def test_private_addresses_are_allowed() -> None:
    """A CRM in a VPC is legitimate."""
    for host in ("10.0.12.7", "172.16.0.9", "192.168.1.20", "[fd12:3456::1]", "crm.internal.example"):
        assert outputs({"GCEVENTS_SINKS": f"webhook:https://{host}/hook", **SECRET_ENV}).sinks


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
    config = Config.from_env(
        {
            "GCEVENTS_STATE_STORE": "off",
            "GCEVENTS_IDEMPOTENCY_STORE": "memory",
            "GCEVENTS_DLQ": "memory",
            "GCEVENTS_SINKS": "firehose:lake",
        }
    )
    with pytest.raises(ConfigError, match="STATE_STORE"):
        build_runtime(config)


def test_the_runtime_wires_routes_in_order() -> None:
    env = {
        "GCEVENTS_IDEMPOTENCY_STORE": "memory",
        "GCEVENTS_STATE_STORE": "memory",
        "GCEVENTS_DLQ": "memory",
        "GCEVENTS_SINKS": "webhook:http://127.0.0.1:9/x|derived,v2.*",
        **LOOPBACK_ENV,
    }
    runtime = build_runtime(Config.from_env(env))
    assert runtime.outputs is not None
    assert runtime.outputs.conversations is not None
    assert runtime.outputs.raw is not None
    handlers = [h for _, h in runtime.pipeline.router.batch_handlers()]
    assert handlers.index(runtime.projection) < handlers.index(runtime.outputs.raw)  # type: ignore[arg-type]
