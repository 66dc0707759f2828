"""`gcevents connect` against the Genesys API simulator: create + enable, then no-op; a dry-run diff; 409 recovery;
a 403 that names the missing permission; inputs validated before any call; the secret never printed."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from gcevents.core import topics
from gcevents.entrypoints import cli
from gcevents.ops.connect import INTEGRATION_TYPE, ConnectRequest
from gcevents.testing.genesys import GenesysSimulator, SimulatorOptions

# A real HTTP simulator answers every call (about 12 s for the file): the integration tier, not the unit tier.
pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
ARGS = ["connect", "--aws-account-id", ACCOUNT, "--aws-region", "eu-west-1", "--suffix", "gcevents-prod"]
WRITES = (
    "POST /api/v2/integrations",
    "PUT /api/v2/integrations/{id}/config/current",
    "PATCH /api/v2/integrations/{id}",
)


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[GenesysSimulator]:
    with GenesysSimulator(SimulatorOptions(rate_limit_per_minute=None)) as simulator:
        for name, value in simulator.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("GENESYS_CLIENT_SECRET_ARN", raising=False)
        yield simulator


def run(capsys: pytest.CaptureFixture[str], simulator: GenesysSimulator, *extra: str) -> tuple[int, str, str]:
    code = cli.main([*ARGS, *extra])
    out, err = capsys.readouterr()
    secret = simulator.options.client_secret
    assert secret not in out
    assert secret not in err
    return code, out, err


def writes(simulator: GenesysSimulator) -> Counter[str]:
    return Counter({route: n for route, n in simulator.stats()["calls"].items() if route in WRITES})


def ours(simulator: GenesysSimulator) -> list[dict[str, Any]]:
    return [
        i
        for i in simulator.integrations()
        if i["integrationType"]["id"] == INTEGRATION_TYPE
        and i["configCurrent"]["properties"].get("eventSourceSuffix") == "gcevents-prod"
    ]


def test_creates_and_enables_then_writes_nothing(
    simulator: GenesysSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    # Enough other integrations that the list spans two pages, and one of ours for another suffix.
    for n in range(120):
        simulator.add_integration("purecloud-data-actions", f"aaa data actions {n:03d}")
    other = simulator.add_integration(INTEGRATION_TYPE, "aaa staging", {"eventSourceSuffix": "gcevents-staging"})

    code, out, _ = run(capsys, simulator)
    assert code == 0
    assert "create" in out
    (integration,) = ours(simulator)
    assert integration["intendedState"] == "ENABLED"
    assert integration["configCurrent"]["properties"] == {
        "awsAccountId": ACCOUNT,
        "awsAccountRegion": "eu-west-1",
        "eventSourceSuffix": "gcevents-prod",
        "eventFilter": list(topics.DEFAULT_TOPICS),
    }
    assert writes(simulator) == Counter(dict.fromkeys(WRITES, 1))

    simulator.reset_stats()
    code, out, _ = run(capsys, simulator, "--json")
    assert code == 0
    result = json.loads(out)
    assert result["changed"] is False
    assert result["created"] is False
    assert result["integrationId"] == integration["id"]
    assert writes(simulator) == Counter()  # idempotent: the second run only reads
    assert simulator.stats()["calls"]["GET /api/v2/integrations"] == 2  # both pages were read
    assert len(ours(simulator)) == 1
    staging = next(i for i in simulator.integrations() if i["id"] == other)
    assert staging["intendedState"] == "DISABLED"  # another suffix is another integration: untouched


def test_dry_run_shows_the_diff_after_a_topic_change(
    simulator: GenesysSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, simulator)[0] == 0
    version = ours(simulator)[0]["configCurrent"]["version"]
    simulator.reset_stats()
    end, acw = topics.conversation_topic("customer.end"), topics.conversation_topic("acw")
    agent = topics.agent_topic("state")

    code, out, _ = run(capsys, simulator, "--dry-run", "--topic", end, "--topic", acw, "--topic", agent)
    assert code == 0
    assert "would update" in out
    assert f"+ {agent}" in out
    assert f"- {topics.conversation_topic('wrapup')}" in out
    assert f"- {end}" not in out
    assert "would send: PUT /api/v2/integrations/{id}/config/current" in out
    assert writes(simulator) == Counter()
    assert ours(simulator)[0]["configCurrent"]["version"] == version

    assert run(capsys, simulator, "--topic", end, "--topic", acw, "--topic", agent)[0] == 0
    assert ours(simulator)[0]["configCurrent"]["properties"]["eventFilter"] == [end, acw, agent]


def test_recovers_from_a_version_conflict(simulator: GenesysSimulator, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, simulator)[0] == 0
    simulator.update(config_conflicts=2)  # two saves by someone else land just before ours
    simulator.reset_stats()

    code, out, _ = run(capsys, simulator, "--json", "--topic", topics.conversation_topic("customer.end"))
    assert code == 0
    result = json.loads(out)
    assert result["conflicts"] == 2
    assert simulator.stats()["calls"]["PUT /api/v2/integrations/{id}/config/current"] == 3  # 409, 409, 200
    (integration,) = ours(simulator)
    assert integration["configCurrent"]["properties"]["eventFilter"] == [topics.conversation_topic("customer.end")]


def test_a_concurrent_edit_that_already_holds_our_values_is_not_overwritten(simulator: GenesysSimulator) -> None:
    from gcevents.ops.connect import ConnectResult, _Api, _put_config

    integration_id = simulator.add_integration(INTEGRATION_TYPE, "x", {"eventSourceSuffix": "s"})
    wanted = ConnectRequest(ACCOUNT, "eu-west-1", "s").properties()
    stale = simulator.integrations()[0]["configCurrent"]
    simulator.edit_integration_config(integration_id, **wanted)  # another run of connect got there first
    with cli_client(simulator) as client:
        result = ConnectResult(integration_id, "x")
        simulator.update(config_conflicts=0)
        _put_config(_Api(client), result, stale, wanted, 3, lambda _: None)
    assert result.conflicts == 1
    assert simulator.stats()["calls"]["PUT /api/v2/integrations/{id}/config/current"] == 1


def cli_client(simulator: GenesysSimulator) -> Any:
    from gcevents.adapters.genesys import GenesysClient

    return GenesysClient(simulator.settings())


@pytest.mark.parametrize(
    ("missing", "step"),
    [
        ("integrations:integration:add", "POST /api/v2/integrations"),
        ("integrations:integration:view", "GET /api/v2/integrations"),
        ("integrations:integration:edit", "PUT /api/v2/integrations/"),
    ],
)
def test_a_403_names_the_missing_permission(
    simulator: GenesysSimulator, capsys: pytest.CaptureFixture[str], missing: str, step: str
) -> None:
    simulator.update(missing_permissions=frozenset({missing}))
    code, _out, err = run(capsys, simulator)
    assert code != 0
    assert missing in err
    assert step in err
    assert "403" in err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--aws-account-id", "12345", "12 digits"),
        ("--aws-region", "EU_WEST", "AWS region"),
        ("--suffix", "x" * 65, "64 characters"),
        ("--suffix", "bad suffix!", "64 characters"),
    ],
)
def test_inputs_are_validated_before_any_call(
    simulator: GenesysSimulator, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    args = list(ARGS)
    args[args.index(flag) + 1] = value
    assert cli.main(args) == 2  # usage: our own options
    assert message in capsys.readouterr().err
    assert simulator.stats()["api_calls"] == 0


def test_a_wrong_secret_is_an_error_that_does_not_print_it(
    simulator: GenesysSimulator, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "not-the-secret-4711")
    assert cli.main(ARGS) == 78  # wrong credentials: a configuration error
    out, err = capsys.readouterr()
    assert "not-the-secret-4711" not in out + err
    assert "rejected client" in err


def test_topics_command_prints_the_one_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["topics"]) == 0
    assert capsys.readouterr().out.split() == list(topics.DEFAULT_TOPICS)
    assert cli.main(["topics", "--all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == list(topics.KNOWN_TOPICS)
    assert cli.main(["topics", "--sam"]) == 0
    assert capsys.readouterr().out.strip() == "TopicPatterns=" + ",".join(topics.DEFAULT_TOPICS)


def test_the_parser_and_the_topic_list_agree() -> None:
    from gcevents.core.events import classify_topic

    for pattern in topics.KNOWN_TOPICS:
        kind, entity = classify_topic(pattern.replace("{id}", "c-1"))
        assert kind == topics.kind_of_pattern(pattern) != "other"
        assert entity == "c-1"


def test_prints_the_partner_event_source_by_its_real_name(
    simulator: GenesysSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """The token can read its org (GET /api/v2/organizations/me): the name printed is the one to deploy with,
    `EventBusName=` as it is, not a pattern with `<orgId>` left for the reader to fill in."""
    org = simulator.options.org_id
    code, out, _ = run(capsys, simulator)
    assert code == 0
    assert f"partner event source: aws.partner/genesys.com/cloud/{org}/gcevents-prod " in out
    assert "<orgId>" not in out
    code, out, _ = run(capsys, simulator, "--json")
    assert json.loads(out)["eventSourceName"] == f"aws.partner/genesys.com/cloud/{org}/gcevents-prod"
    assert json.loads(out)["orgId"] == org


def test_an_org_that_cannot_be_read_leaves_the_pattern_and_says_why(
    simulator: GenesysSimulator, capsys: pytest.CaptureFixture[str]
) -> None:
    simulator.update(org_status=403)
    code, out, err = run(capsys, simulator)
    assert code == 0  # the integration is what connect is for; the name is a courtesy
    assert "partner event source: aws.partner/genesys.com/cloud/<orgId>/gcevents-prod" in out
    assert "GET /api/v2/organizations/me" in err
