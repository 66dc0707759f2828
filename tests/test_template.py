"""template.yaml: the production topology's invariants, checked offline (and cfn-lint, when installed)."""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gcevents.ops import plan as planner

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


# --------------------------------------------------------------------------------------- loading
class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags (!Ref, !Sub, ...) into their long form."""


def _construct(tag: str, node: yaml.Node, loader: CfnLoader) -> dict[str, Any]:
    name = "Ref" if tag == "Ref" else f"Fn::{tag}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if tag == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


for _tag in (
    "Ref",
    "Sub",
    "GetAtt",
    "If",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "Join",
    "Select",
    "Split",
    "ImportValue",
    "GetAZs",
    "Base64",
    "Cidr",
    "Condition",
):
    CfnLoader.add_constructor(f"!{_tag}", lambda loader, node, t=_tag: _construct(t, node, loader))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # a SafeLoader subclass


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def default(template: dict[str, Any], parameter: str) -> Any:
    return template["Parameters"][parameter]["Default"]


def resolve(template: dict[str, Any], node: Any) -> Any:
    """Evaluate Ref-to-parameter and FindInMap with the parameters' defaults (enough for the checks here)."""
    if isinstance(node, dict) and "Ref" in node and node["Ref"] in template["Parameters"]:
        return default(template, node["Ref"])
    if isinstance(node, dict) and "Fn::FindInMap" in node:
        name, top, second = (resolve(template, part) for part in node["Fn::FindInMap"])
        return template["Mappings"][name][str(top)][str(second)]
    return node


def single(items: dict[str, dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1, sorted(items)
    return next(iter(items.values()))


def is_ref_to(node: Any, logical_id: str) -> bool:
    return node == {"Ref": logical_id}


def getatt(node: Any) -> list[str] | None:
    return node.get("Fn::GetAtt") if isinstance(node, dict) else None


# --------------------------------------------------------------------------------------- topology
def test_is_a_sam_template(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"


def test_event_source_mapping_batches_with_partial_failures(template: dict[str, Any]) -> None:
    esm = single(resources_of(template, "AWS::Lambda::EventSourceMapping"))["Properties"]
    assert esm["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert getatt(esm["EventSourceArn"]) == ["Queue", "Arn"]
    assert is_ref_to(esm["FunctionName"], "Function")
    batch = resolve(template, esm["BatchSize"])
    window = resolve(template, esm["MaximumBatchingWindowInSeconds"])
    condition, provisioned, standard = esm["ScalingConfig"]["Fn::If"]
    assert (condition, provisioned) == ("IsProvisioned", {"Ref": "AWS::NoValue"})
    concurrency = resolve(template, standard["MaximumConcurrency"])
    assert 1 <= batch <= 10_000
    assert 0 <= window <= 300
    assert batch <= 10 or window >= 1, "BatchSize > 10 needs a batching window"
    assert 2 <= concurrency <= 1000
    # The parameters themselves cannot leave the AWS ranges.
    params = template["Parameters"]
    assert (params["BatchSize"]["MinValue"], params["BatchSize"]["MaxValue"]) == (1, 10_000)
    assert (params["MaximumConcurrency"]["MinValue"], params["MaximumConcurrency"]["MaxValue"]) == (2, 1000)
    assert all(0 <= w <= 300 for w in params["MaximumBatchingWindowInSeconds"]["AllowedValues"])


def test_visibility_timeout_is_six_times_the_timeout_plus_the_window_for_every_choice(
    template: dict[str, Any],
) -> None:
    params = template["Parameters"]
    timeouts = params["FunctionTimeout"]["AllowedValues"]
    windows = params["MaximumBatchingWindowInSeconds"]["AllowedValues"]
    assert tuple(timeouts) == planner.TIMEOUT_CHOICES
    assert tuple(windows) == planner.WINDOW_CHOICES
    queue = template["Resources"]["Queue"]["Properties"]
    lookup = queue["VisibilityTimeout"]["Fn::FindInMap"]
    assert lookup[1:] == [{"Ref": "FunctionTimeout"}, {"Ref": "MaximumBatchingWindowInSeconds"}]
    table = template["Mappings"][lookup[0]]
    for timeout in timeouts:
        for window in windows:
            assert table[str(timeout)][str(window)] == planner.visibility_timeout(timeout, window)
            assert table[str(timeout)][str(window)] >= 6 * timeout + window
    function = template["Resources"]["Function"]["Properties"]
    assert is_ref_to(function["Timeout"], "FunctionTimeout")
    visibility = resolve(template, queue["VisibilityTimeout"])
    assert visibility >= 6 * default(template, "FunctionTimeout") + default(template, "MaximumBatchingWindowInSeconds")


@pytest.mark.parametrize("mode", ["standard", "provisioned"])
def test_defaults_are_what_the_planner_computes_for_the_reference_load(template: dict[str, Any], mode: str) -> None:
    """docs/deploy.md's reference load; keeps the template's defaults consistent with each other (the mode's own
    parameters; PollerMode itself defaults to standard)."""
    inputs = planner.PlanInputs(rate=50, peak_rate=2_000, duration=600, poller_mode=mode)
    for key, value in planner.plan(inputs).parameter_overrides().items():
        assert key == "PollerMode" or default(template, key) == value, key
    assert default(template, "PollerMode") == "standard"
    assert default(template, "ReservedConcurrency") == 0  # AWS advises capping with the mapping instead


def test_poller_modes_exclude_each_other_on_the_mapping(template: dict[str, Any]) -> None:
    esm = single(resources_of(template, "AWS::Lambda::EventSourceMapping"))["Properties"]
    assert template["Conditions"]["IsProvisioned"] == {"Fn::Equals": [{"Ref": "PollerMode"}, "provisioned"]}
    condition, provisioned, standard = esm["ProvisionedPollerConfig"]["Fn::If"]
    assert condition == "IsProvisioned"
    assert provisioned == {"MinimumPollers": {"Ref": "MinimumPollers"}, "MaximumPollers": {"Ref": "MaximumPollers"}}
    assert standard == {"Ref": "AWS::NoValue"}
    assert esm["ScalingConfig"]["Fn::If"][:2] == ["IsProvisioned", {"Ref": "AWS::NoValue"}]
    params = template["Parameters"]
    assert params["PollerMode"]["AllowedValues"] == list(planner.POLLER_MODES)
    assert (params["MinimumPollers"]["MinValue"], params["MinimumPollers"]["MaxValue"]) == planner.LIMITS[
        "MinimumPollers"
    ]
    assert (params["MaximumPollers"]["MinValue"], params["MaximumPollers"]["MaxValue"]) == planner.LIMITS[
        "MaximumPollers"
    ]


def _sam_translate(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, Any]:
    """What `sam deploy` hands CloudFormation: the SAM transform, with CodeUri as `sam package` rewrites it."""
    transform = pytest.importorskip("samtranslator.translator.transform").transform
    document = copy.deepcopy(template)
    document["Resources"]["Function"]["Properties"]["CodeUri"] = "s3://bucket/gcevents-lambda.zip"

    class NoManagedPolicies:  # the template names no managed policy: nothing to look up in IAM
        def load(self) -> dict[str, str]:
            return {}

    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator wants a region for ARNs
    output: dict[str, Any] = transform(document, parameters, NoManagedPolicies())
    return output


def test_the_sam_translator_keeps_the_provisioned_poller_config(template: dict[str, Any]) -> None:
    """The mapping is a plain AWS::Lambda::EventSourceMapping (not a SAM event), so the transform must hand it to
    CloudFormation untouched: ProvisionedPollerConfig (and the mode switch) included."""
    translated = _sam_translate(template, {"PollerMode": "provisioned", "GenesysBudgetScope": "shared"})
    esm = single(resources_of(translated, "AWS::Lambda::EventSourceMapping"))["Properties"]
    original = template["Resources"]["QueueEventSource"]["Properties"]
    assert esm["ProvisionedPollerConfig"] == original["ProvisionedPollerConfig"]
    assert esm["ScalingConfig"] == original["ScalingConfig"]
    assert translated["Conditions"]["IsProvisioned"] == template["Conditions"]["IsProvisioned"]
    function = single(resources_of(translated, "AWS::Lambda::Function"))["Properties"]
    assert function["Environment"]["Variables"]["GENESYS_BUDGET_SCOPE"] == {"Ref": "GenesysBudgetScope"}


def test_shared_genesys_budget_only_when_asked(template: dict[str, Any]) -> None:
    table = template["Resources"]["GenesysBudgetTable"]
    assert table["Condition"] == "SharedGenesysBudget"
    assert table["Properties"]["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert template["Conditions"]["SharedGenesysBudget"] == {
        "Fn::And": [
            {"Fn::Equals": [{"Ref": "GenesysBudgetScope"}, "shared"]},
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "GenesysClientId"}, ""]}]},
        ]
    }
    env = _env(template)
    assert env["GENESYS_BUDGET_TABLE"] == {
        "Fn::If": ["SharedGenesysBudget", {"Ref": "GenesysBudgetTable"}, {"Ref": "AWS::NoValue"}]
    }
    # the static per-instance rate only when one is given (0: adaptive pacing)
    assert env["GENESYS_RATE_PER_MINUTE"] == {
        "Fn::If": ["HasStaticGenesysRate", {"Ref": "GenesysRatePerMinute"}, {"Ref": "AWS::NoValue"}]
    }
    assert default(template, "GenesysRatePerMinute") == 0
    assert default(template, "GenesysBudgetScope") == "token"


def test_reserved_concurrency_can_be_disabled(template: dict[str, Any]) -> None:
    function = template["Resources"]["Function"]["Properties"]
    condition, when_true, when_false = function["ReservedConcurrentExecutions"]["Fn::If"]
    assert template["Conditions"][condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ReservedConcurrency"}, 0]}]}
    assert is_ref_to(when_true, "ReservedConcurrency")
    assert is_ref_to(when_false, "AWS::NoValue")


def test_queue_redrives_to_the_dead_letter_queue(template: dict[str, Any]) -> None:
    queue = template["Resources"]["Queue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert getatt(redrive["deadLetterTargetArn"]) == ["DeadLetterQueue", "Arn"]
    assert is_ref_to(redrive["maxReceiveCount"], "MaxReceiveCount")
    assert default(template, "MaxReceiveCount") == 7
    assert template["Parameters"]["MaxReceiveCount"]["MinValue"] == planner.MIN_RECEIVE_COUNT
    dlq = template["Resources"]["DeadLetterQueue"]["Properties"]
    assert dlq["MessageRetentionPeriod"] > default(template, "QueueRetentionSeconds")


def test_large_dead_letters_go_to_a_private_bucket_that_outlives_the_dlq_retention(template: dict[str, Any]) -> None:
    """A letter over 256 KiB has its body in S3: the bucket keeps objects at least as long as the DLQ keeps the
    letters pointing at them, the function may only put objects there, and the variable names the bucket."""
    bucket = template["Resources"]["DeadLetterBucket"]["Properties"]
    (rule,) = bucket["LifecycleConfiguration"]["Rules"]
    dlq_days = template["Resources"]["DeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] / 86400
    assert rule["Status"] == "Enabled"
    assert dlq_days <= rule["ExpirationInDays"] <= dlq_days + 2
    assert bucket["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    env = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert is_ref_to(env["GCEVENTS_DLQ_BUCKET"], "DeadLetterBucket")
    statements = [
        s
        for p in template["Resources"]["FunctionRole"]["Properties"]["Policies"]
        if "PolicyDocument" in p
        for s in p["PolicyDocument"]["Statement"]
        if s.get("Sid") == "DeadLetterBodies"
    ]
    assert [(s["Action"], s["Resource"]) for s in statements] == [
        ("s3:PutObject", {"Fn::Sub": "${DeadLetterBucket.Arn}/dead-letters/*"})
    ]


def test_rule_sends_genesys_topics_to_the_queue_with_retries_and_a_dlq(template: dict[str, Any]) -> None:
    rule = single(resources_of(template, "AWS::Events::Rule"))["Properties"]
    assert rule["EventBusName"] == {"Fn::If": ["CreatePartnerBus", {"Ref": "PartnerEventBus"}, {"Ref": "EventBusName"}]}
    pattern = rule["EventPattern"]
    assert is_ref_to(pattern["detail-type"], "TopicPatterns")
    assert pattern["source"] == [{"prefix": {"Fn::Sub": "aws.partner/genesys.com/cloud/${OrgId}/"}}]
    topics = default(template, "TopicPatterns").split(",")
    assert "v2.detail.events.conversation.{id}.customer.end" in topics  # detail-type carries the literal {id}
    assert all(re.fullmatch(r"v2\.detail\.events\.conversation\.\{id\}\.[a-z.]+", t) for t in topics)

    (target,) = rule["Targets"]
    assert getatt(target["Arn"]) == ["Queue", "Arn"]
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
    dlq = getatt(target["DeadLetterConfig"]["Arn"])
    assert dlq is not None
    assert template["Resources"][dlq[0]]["Type"] == "AWS::SQS::Queue"


def test_topic_patterns_default_is_the_one_topic_list(template: dict[str, Any]) -> None:
    """`gcevents connect`, `gcevents topics`, the parser and the template subscribe to the same topics."""
    from gcevents.core import topics

    assert default(template, "TopicPatterns").split(",") == list(topics.DEFAULT_TOPICS)


REPLAY_RULES = {
    "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${EventBusName}/gcevents-replay-*"
}


def test_queue_policies_let_only_the_rule_send(template: dict[str, Any]) -> None:
    """The stack's rule; and with the archive on, the temporary rules of `gcevents replay --topic` on that bus."""
    rule_id = next(iter(resources_of(template, "AWS::Events::Rule")))
    covered = set()
    for policy in resources_of(template, "AWS::SQS::QueuePolicy").values():
        props = policy["Properties"]
        for statement in props["PolicyDocument"]["Statement"]:
            if "Fn::If" in statement:
                condition, statement, otherwise = statement["Fn::If"]
                assert (condition, otherwise) == ("HasArchive", {"Ref": "AWS::NoValue"})
                assert statement["Condition"] == {"ArnLike": {"aws:SourceArn": REPLAY_RULES}}
            else:
                assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}
            assert statement["Effect"] == "Allow"
            assert statement["Principal"] == {"Service": "events.amazonaws.com"}
            assert statement["Action"] == "sqs:SendMessage"
            queue = getatt(statement["Resource"])
            assert queue is not None
            assert {"Ref": queue[0]} in props["Queues"]
            covered.add(queue[0])
    assert covered == {"Queue", "DeadLetterQueue"}


def test_tables_have_ttl_pitr_on_demand_and_the_keys_the_code_uses(template: dict[str, Any]) -> None:
    from gcevents.adapters.dynamodb import create_idempotency_table
    from gcevents.adapters.dynamodb.state import create_state_table

    expected = {
        "IdempotencyTable": _table_contract(create_idempotency_table),
        "StateTable": _table_contract(create_state_table),
    }
    assert expected["IdempotencyTable"] == ("pk", "ttl")
    assert expected["StateTable"] == ("conversationId", "ttl")
    tables = resources_of(template, "AWS::DynamoDB::Table")
    tables.pop("GenesysBudgetTable")  # a few counters, no data to keep: test_shared_genesys_budget_only_when_asked
    assert set(tables) == set(expected)
    for name, table in tables.items():
        props = table["Properties"]
        key, ttl = expected[name]
        assert props["BillingMode"] == "PAY_PER_REQUEST"
        assert props["KeySchema"] == [{"AttributeName": key, "KeyType": "HASH"}]
        assert props["AttributeDefinitions"] == [{"AttributeName": key, "AttributeType": "S"}]
        assert props["TimeToLiveSpecification"] == {"AttributeName": ttl, "Enabled": True}
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert table["DeletionPolicy"] == "Retain"


class _RecordingClient:
    """Enough of a boto3 DynamoDB client for the create_*_table helpers; records what they ask for."""

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    def create_table(self, **kwargs: Any) -> None:
        self.calls["create_table"] = kwargs

    def get_waiter(self, name: str) -> Any:
        return self

    def wait(self, **kwargs: Any) -> None:
        return None

    def describe_time_to_live(self, **kwargs: Any) -> dict[str, Any]:
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}

    def update_time_to_live(self, **kwargs: Any) -> None:
        self.calls["update_time_to_live"] = kwargs


def _table_contract(create: Any) -> tuple[str, str]:
    client = _RecordingClient()
    create(client, "t")
    (key,) = client.calls["create_table"]["KeySchema"]
    return key["AttributeName"], client.calls["update_time_to_live"]["TimeToLiveSpecification"]["AttributeName"]


# --------------------------------------------------------------------------------------- function
def test_function_runtime_architecture_and_artifact(template: dict[str, Any]) -> None:
    function = template["Resources"]["Function"]
    assert function["Type"] == "AWS::Serverless::Function"
    props = function["Properties"]
    major, minor = (int(p) for p in props["Runtime"].removeprefix("python").split("."))
    assert (major, minor) >= (3, 12)
    assert props["Architectures"] == [{"Ref": "Architecture"}]
    assert props["Handler"] == "gcevents.handler"
    assert getatt(props["Role"]) == ["FunctionRole", "Arn"]


def test_the_architecture_parameter_is_what_gcevents_package_builds_for(template: dict[str, Any]) -> None:
    from gcevents.ops import package

    parameter = template["Parameters"]["Architecture"]
    assert parameter["Default"] == package.DEFAULT_ARCH
    assert sorted(parameter["AllowedValues"]) == sorted(package.ARCHITECTURES)
    for arch in package.ARCHITECTURES:
        translated = _sam_translate(template, {"Architecture": arch})
        function = single(resources_of(translated, "AWS::Lambda::Function"))["Properties"]
        assert function["Architectures"] in ([arch], [{"Ref": "Architecture"}])


def test_sam_build_runs_gcevents_package_through_the_makefile(template: dict[str, Any]) -> None:
    """`sam build` with `BuildMethod: makefile` runs `make build-Function` in a copy of CodeUri (which holds the
    Makefile) with ARTIFACTS_DIR set; that target calls `gcevents package --code-dir $(ARTIFACTS_DIR)`."""
    function = template["Resources"]["Function"]
    assert function["Metadata"] == {"BuildMethod": "makefile"}
    code_uri = TEMPLATE.parent / function["Properties"]["CodeUri"]
    for makefile in (code_uri / "Makefile", TEMPLATE.parents[0] / "examples" / "crm-wrapup" / "Makefile"):
        text = makefile.read_text()
        target = re.search(r"^build-Function:.*\n((?:\t.*\n)+)", text, re.MULTILINE)
        assert target is not None, makefile
        assert "package" in target.group(1)
        assert '--code-dir "$(ARTIFACTS_DIR)"' in target.group(1)
        assert "--arch $(ARCH)" in target.group(1)


def _env(template: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    return variables


def test_environment_wires_the_stores_and_the_secret_arn(template: dict[str, Any]) -> None:
    env = _env(template)
    assert env["GCEVENTS_IDEMPOTENCY_STORE"] == {"Fn::Sub": "dynamodb:${IdempotencyTable}"}
    assert env["GCEVENTS_STATE_STORE"] == {"Fn::Sub": "dynamodb:${StateTable}"}
    assert env["GCEVENTS_DLQ"] == {"Fn::Sub": "sqs:${DeadLetterQueue}"}  # Ref of a queue is its URL
    assert env["GCEVENTS_ALLOWED_SOURCES"] == {"Fn::Sub": "aws.partner/genesys.com/cloud/${OrgId}/"}
    assert env["GENESYS_CLIENT_SECRET_ARN"] == {
        "Fn::If": ["CreateSecret", {"Ref": "GenesysClientSecret"}, {"Ref": "GenesysClientSecretArn"}]
    }
    assert not any("POWERTOOLS" in name for name in env)


def test_the_code_accepts_the_environment_the_template_sets(template: dict[str, Any]) -> None:
    """Substitute plausible values and let the real Config parse them, as a cold start in Lambda would."""
    from gcevents.config import Config

    fake = {
        "IdempotencyTable": "idem",
        "StateTable": "state",
        "DeadLetterQueue": "https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
        "DeadLetterBucket": "dlq-bodies",
        "OrgId": "00000000-0000-0000-0000-000000000000",
        "GenesysClientSecret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:gc-AbCdEf",
        "WebhookUrl": "https://crm.example.com/hook",
        "WebhookSelect": "derived,v2.detail.events.conversation.{id}.acw",
        "OutputBusName": "gcevents-out",
        "OutputBusSelect": "derived",
        "DataLakeStream": "lake",
        "DataLakeSelect": "completed",
        "DataLakeRawStream": "raw",
        "DataLakeRawSelect": "v2.detail.events.conversation.*",
        "Queue": "https://sqs.us-east-1.amazonaws.com/123456789012/q",
        "WebhookSigningSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:wh-AbCdEf",
        "AWS::StackName": "gcevents-prod",
        "Handlers": "myorg.handlers:router",
        "GenesysBudgetTable": "budget",
    }

    def value(node: Any) -> str:
        if isinstance(node, dict) and "Fn::Join" in node:
            separator, parts = node["Fn::Join"]
            return separator.join(value(part) for part in parts)
        if isinstance(node, dict) and "Fn::Sub" in node:
            return re.sub(r"\$\{(\w+)\}", lambda m: fake[m.group(1)], node["Fn::Sub"])
        if isinstance(node, dict) and "Fn::If" in node:
            return value(node["Fn::If"][1])
        if isinstance(node, dict) and node.get("Ref") in fake:
            return fake[node["Ref"]]
        resolved = resolve(template, node)
        return "client-id" if resolved == "" else str(resolved)

    env = {name: value(node) for name, node in _env(template).items()}
    env["AWS_LAMBDA_FUNCTION_NAME"] = "gcevents"
    config = Config.from_env(env)
    assert str(config.idempotency_store) == "dynamodb:idem"
    assert str(config.state_store) == "dynamodb:state"
    assert config.dead_letters.kind == "sqs"
    assert config.pipeline.allowed_sources == ("aws.partner/genesys.com/cloud/00000000-0000-0000-0000-000000000000/",)
    assert config.genesys is not None
    assert config.genesys.client_secret_arn == fake["GenesysClientSecret"]
    assert config.genesys.api_base_url == "https://api.mypurecloud.com"
    assert config.handler_modules == ("myorg.handlers:router",)
    assert (config.metrics_namespace, config.service_name, config.tracing) == ("gcevents-prod", "gcevents-prod", "off")
    webhook, bus, lake, raw = config.outputs.sinks
    assert (raw.kind, raw.target, raw.patterns) == ("firehose", "raw", ("v2.detail.events.conversation.*",))
    assert (webhook.kind, webhook.patterns) == ("webhook", ("v2.detail.events.conversation.{id}.acw",))
    assert (bus.kind, bus.target, lake.kind, lake.target) == ("eventbridge", "gcevents-out", "firehose", "lake")
    assert config.outputs.webhook_secret_arn == fake["WebhookSigningSecretArn"]
    assert str(config.outputs.check_queue) == "sqs:" + fake["Queue"]
    assert config.outputs.grace_seconds == 900


def test_without_sinks_the_sinks_variable_parses_to_nothing(template: dict[str, Any]) -> None:
    from gcevents.variables import sinks

    join = _env(template)["GCEVENTS_SINKS"]["Fn::Join"]
    assert all(part["Fn::If"][2] == "" for part in join[1])  # every sink off by default
    assert sinks(join[0].join(["", "", ""])) == ()


def test_the_data_lake_is_partitioned_by_type_and_conversation_date_and_private(template: dict[str, Any]) -> None:
    stream = template["Resources"]["DataLakeStream"]
    assert stream["Condition"] == "HasDataLake"
    s3 = stream["Properties"]["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == "records/type=!{partitionKeyFromQuery:type}/date=!{partitionKeyFromQuery:date}/"
    bucket = template["Resources"]["DataLakeBucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert default(template, "DataLake") == "false"


def test_the_secret_never_travels_in_plain_text(template: dict[str, Any]) -> None:
    for secret in resources_of(template, "AWS::SecretsManager::Secret").values():
        assert "SecretString" not in secret["Properties"]
    for name in template["Parameters"]:
        if "secret" in name.lower():
            assert name.endswith("Arn"), f"parameter {name} would carry a secret value"
    for name in _env(template):
        assert "SECRET" not in name or name.endswith("_ARN"), name


# --------------------------------------------------------------------------------------- IAM
def _statements(template: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every statement; those of a conditional policy (`!If [Cond, policy, AWS::NoValue]`) with the condition."""
    for role in resources_of(template, "AWS::IAM::Role").values():
        for policy in role["Properties"].get("Policies", []):
            condition = None
            if "Fn::If" in policy:  # a policy present under a condition (one per configured sink, X-Ray)
                condition = policy["Fn::If"][0]
                assert policy["Fn::If"][2] == {"Ref": "AWS::NoValue"}
                policy = policy["Fn::If"][1]
            for statement in policy["PolicyDocument"]["Statement"]:
                yield {**statement, "_condition": condition} if condition else statement
        assert "ManagedPolicyArns" not in role["Properties"]


def _listify(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _own_references(template: dict[str, Any], node: Any) -> bool:
    """A resource is a Ref/GetAtt of this template's resources or parameters (or an If between such)."""
    if isinstance(node, dict) and "Fn::If" in node:
        return all(_own_references(template, branch) for branch in node["Fn::If"][1:])
    if isinstance(node, dict) and "Ref" in node:
        return node["Ref"] in template["Resources"] or node["Ref"] in template["Parameters"]
    if isinstance(node, dict) and "Fn::Sub" in node:  # every ${...} names this template's own parts
        names = re.findall(r"\$\{([\w:]+)(?:\.Arn)?\}", node["Fn::Sub"])
        known = (
            set(template["Resources"])
            | set(template["Parameters"])
            | {"AWS::Partition", "AWS::Region", "AWS::AccountId"}
        )
        return bool(names) and all(n in known for n in names) and "*" not in node["Fn::Sub"].replace("/*", "")
    target = getatt(node)
    return target is not None and target[0] in template["Resources"] and target[1] == "Arn"


def test_iam_is_least_privilege(template: dict[str, Any]) -> None:
    allowed: dict[str, set[str]] = {}
    for statement in _statements(template):
        assert statement["Effect"] == "Allow"
        actions = _listify(statement["Action"])
        if statement.get("Sid") == "XRay":  # X-Ray has no resource-level permissions; only with tracing on
            assert statement["_condition"] == "TracingOn"
            assert (actions, statement["Resource"]) == (["xray:PutTraceSegments", "xray:PutTelemetryRecords"], "*")
            continue
        if statement.get("Sid") == "Vpc":  # Lambda's ENIs: no resource-level permissions; only with SubnetIds
            assert statement["_condition"] == "HasVpc"
            assert statement["Resource"] == "*"
            assert all(
                a.startswith("ec2:") and a.endswith(("NetworkInterface", "NetworkInterfaces", "Addresses"))
                for a in actions
            )
            continue
        assert all("*" not in action for action in actions), actions
        for resource in _listify(statement["Resource"]):
            assert _own_references(template, resource), resource
            key = resource["Fn::GetAtt"][0] if getatt(resource) else repr(resource)
            allowed.setdefault(key, set()).update(actions)
    dynamodb = {
        "dynamodb:" + a
        for a in (
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "BatchGetItem",
            "BatchWriteItem",
            "ConditionCheckItem",
        )
    }
    assert allowed["IdempotencyTable"] == dynamodb
    assert allowed["StateTable"] == dynamodb
    assert {
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
    } <= allowed["Queue"]
    assert allowed["GenesysBudgetTable"] == {"dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert allowed["DeadLetterQueue"] == {"sqs:SendMessage"}
    assert allowed[repr({"Fn::Sub": "${DeadLetterBucket.Arn}/dead-letters/*"})] == {"s3:PutObject"}
    secret = repr({"Fn::If": ["CreateSecret", {"Ref": "GenesysClientSecret"}, {"Ref": "GenesysClientSecretArn"}]})
    assert allowed[secret] == {"secretsmanager:GetSecretValue"}
    # Outputs: each sink's one action on its one destination.
    assert allowed["DataLakeStream"] == {"firehose:PutRecordBatch"}
    assert allowed["DataLakeRawStream"] == {"firehose:PutRecordBatch"}
    assert "sqs:SendMessage" in allowed["Queue"]  # the completion timers
    bus = repr({"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${OutputBusName}"})
    assert allowed[bus] == {"events:PutEvents"}
    assert allowed["DataLakeBucket"] == {"s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"}
    assert allowed["Function"] == {"lambda:InvokeFunction"}  # the reconcile schedule's role: this function only


# --------------------------------------------------------------------------------------- alarms, outputs
def test_alarms(template: dict[str, Any]) -> None:
    alarms = [a["Properties"] for a in resources_of(template, "AWS::CloudWatch::Alarm").values()]
    by_metric = {a.get("MetricName"): a for a in alarms}
    dlq = by_metric["ApproximateNumberOfMessagesVisible"]
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["DeadLetterQueue", "QueueName"]}}]
    assert (dlq["ComparisonOperator"], dlq["Threshold"]) == ("GreaterThanThreshold", 0)
    age = by_metric["ApproximateAgeOfOldestMessage"]
    assert age["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["Queue", "QueueName"]}}]
    for metric in ("Errors", "Throttles"):
        assert by_metric[metric]["Namespace"] == "AWS/Lambda"
        assert by_metric[metric]["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "Function"}}]
    for alarm in alarms:
        assert alarm["AlarmActions"] == {
            "Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]
        }
    assert default(template, "AlarmTopicArn") == ""


def test_outputs(template: dict[str, Any]) -> None:
    assert {
        "QueueUrl",
        "QueueArn",
        "DeadLetterQueueUrl",
        "DeadLetterBucketName",
        "IdempotencyTableName",
        "StateTableName",
        "FunctionName",
    } <= set(template["Outputs"])


# --------------------------------------------------------------------------------------- options
def test_handlers_parameter_sets_gcevents_handlers(template: dict[str, Any]) -> None:
    assert _env(template)["GCEVENTS_HANDLERS"] == {"Ref": "Handlers"}
    parameter = template["Parameters"]["Handlers"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    for good in ("", "myorg.handlers:router", "myorg.handlers:router, acme.crm:register", "myorg.handlers"):
        assert pattern.fullmatch(good), good
    for bad in ("my org:router", "myorg.handlers:router;rm", "1org:router"):
        assert not pattern.fullmatch(bad), bad


def test_handlers_may_be_given_one_secret_to_read(template: dict[str, Any]) -> None:
    assert _env(template)["HANDLER_SECRET_ARN"] == {
        "Fn::If": ["HasHandlerSecret", {"Ref": "HandlerSecretArn"}, {"Ref": "AWS::NoValue"}]
    }
    assert default(template, "HandlerSecretArn") == ""
    (statement,) = [s for s in _statements(template) if s.get("Sid") == "HandlerSecret"]
    assert statement["_condition"] == "HasHandlerSecret"
    assert (statement["Action"], statement["Resource"]) == (
        "secretsmanager:GetSecretValue",
        {"Ref": "HandlerSecretArn"},
    )


def test_metrics_namespace_and_service_default_to_the_stack_name(template: dict[str, Any]) -> None:
    env = _env(template)
    assert env["GCEVENTS_METRICS_NAMESPACE"] == {
        "Fn::If": ["DefaultNamespace", {"Ref": "AWS::StackName"}, {"Ref": "MetricsNamespace"}]
    }
    assert env["GCEVENTS_SERVICE_NAME"] == {
        "Fn::If": ["DefaultService", {"Ref": "AWS::StackName"}, {"Ref": "ServiceName"}]
    }
    assert env["GCEVENTS_TRACING"] == {"Ref": "Tracing"}  # the parameter's values are the variable's
    assert template["Resources"]["Function"]["Properties"]["Tracing"] == {
        "Fn::If": ["TracingOn", "Active", "PassThrough"]
    }


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body, variables = template["Resources"]["OperationsDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    assert set(variables) == {"Namespace", "Service"}
    fake = {
        "Namespace": "ns",
        "Service": "svc",
        "AWS::Region": "eu-west-1",
        "Queue.QueueName": "q",
        "DeadLetterQueue.QueueName": "dlq",
        "Function": "fn",
    }
    document: dict[str, Any] = json.loads(re.sub(r"\$\{([\w:.]+)\}", lambda m: fake[m.group(1)], body))
    return document


def test_dashboard_shows_what_an_incident_needs_with_metrics_the_code_emits(template: dict[str, Any]) -> None:
    from gcevents.core.pipeline import BatchReport
    from gcevents.observability import batch_metrics

    dashboard = _dashboard(template)
    series = [m for w in dashboard["widgets"] for m in w["properties"]["metrics"]]
    plain = {(m[0], m[1]) for m in series if isinstance(m[0], str)}
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "ConcurrentExecutions"),
    } <= plain
    dlq = [m for m in series if isinstance(m[0], str) and m[3] == "dlq"]
    assert dlq  # the DLQ's depth
    ours = {name for namespace, name in plain if namespace == "ns"}
    # Names the code really emits: the batch metrics, the Genesys client's counters, ColdStart.
    emitted = set(batch_metrics(BatchReport(started=0, finished=1))) | {"ColdStart", "EndToEndLagMax"}
    emitted |= {"Api." + k for k in ("api_calls", "rate_limited", "gave_up_rate_limited", "rate_limit_wait_seconds")}
    emitted |= {f"Outputs.{k}" for k in _sink_counters()}
    assert ours <= emitted, ours - emitted
    assert {
        "EventsProcessed",
        "DuplicatesSkipped",
        "DeadLettered",
        "BatchDuration",
        "Api.api_calls",
        "Api.rate_limited",
    } <= ours
    searches = [m[0]["expression"] for m in series if isinstance(m[0], dict) and "SEARCH" in m[0]["expression"]]
    assert searches == ["SEARCH('{ns,service} service=\"svc\" DeadLettered', 'Sum', 300)"]  # dead letters by reason
    assert template["Resources"]["OperationsDashboard"]["Condition"] == "DashboardOn"


def _sink_counters() -> set[str]:
    """The sink counters the code emits (without the `Outputs.` prefix), one of each kind of sink."""
    from gcevents.adapters.sinks.webhook import CircuitBreaker
    from gcevents.core.idempotency import Idempotency
    from gcevents.core.outputs import Deliveries
    from gcevents.entrypoints.outputs import OutputsWiring
    from gcevents.testing.fakes import MemoryIdempotencyStore

    deliveries = Deliveries(Idempotency(MemoryIdempotencyStore()))
    for kind in ("webhook", "eventbridge", "firehose"):
        deliveries._count(f"{kind}:target", 1, 1, 0.01)
    return set(OutputsWiring(deliveries, None, None, None, [("webhook", CircuitBreaker())]).counters())


def test_sink_alarms_watch_the_counters_the_code_emits(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    failures = resources["SinkDeliveryFailuresAlarm"]
    assert failures["Condition"] == "HasSinks"
    names = {m["MetricStat"]["Metric"]["MetricName"] for m in failures["Properties"]["Metrics"] if "MetricStat" in m}
    assert names == {f"Outputs.sink.{kind}.failed" for kind in ("webhook", "eventbridge", "firehose")}
    assert {n.removeprefix("Outputs.") for n in names} <= _sink_counters()
    (total,) = [m for m in failures["Properties"]["Metrics"] if m["ReturnData"]]
    assert total["Expression"] == "FILL(webhook, 0) + FILL(eventbridge, 0) + FILL(firehose, 0)"
    circuit = resources["SinkCircuitOpenAlarm"]
    assert circuit["Condition"] == "HasWebhook"
    assert circuit["Properties"]["MetricName"].removeprefix("Outputs.") in _sink_counters()


def test_partner_event_bus_is_created_from_the_partner_source_on_request(template: dict[str, Any]) -> None:
    bus = template["Resources"]["PartnerEventBus"]
    assert bus["Type"] == "AWS::Events::EventBus"
    assert bus["Condition"] == "CreatePartnerBus"
    assert bus["Properties"] == {"Name": {"Ref": "EventBusName"}, "EventSourceName": {"Ref": "EventBusName"}}
    assert default(template, "CreateEventBus") == "false"


# --------------------------------------------------------------------------------------- SAM transform
def _conditions(resources: dict[str, Any], conditions: dict[str, Any], parameters: dict[str, str]) -> dict[str, bool]:
    def truth(node: Any) -> Any:
        if isinstance(node, dict) and "Fn::Equals" in node:
            left, right = (truth(x) for x in node["Fn::Equals"])
            return str(left) == str(right)
        if isinstance(node, dict) and "Fn::Not" in node:
            return not truth(node["Fn::Not"][0])
        if isinstance(node, dict) and "Fn::And" in node:
            return all(truth(x) for x in node["Fn::And"])
        if isinstance(node, dict) and "Fn::Or" in node:
            return any(truth(x) for x in node["Fn::Or"])
        if isinstance(node, dict) and "Fn::Join" in node:  # of a CommaDelimitedList parameter, given as "a,b"
            separator, items = node["Fn::Join"][0], truth(node["Fn::Join"][1])
            return separator.join(items.split(",") if isinstance(items, str) else map(str, items))
        if isinstance(node, dict) and "Fn::Select" in node:
            index, items = node["Fn::Select"]
            return truth(items)[int(index)]
        if isinstance(node, dict) and "Fn::Split" in node:
            separator, text = node["Fn::Split"]
            return str(truth(text)).split(separator)
        if isinstance(node, dict) and "Fn::Sub" in node and isinstance(node["Fn::Sub"], str):
            return re.sub(r"\$\{(\w+)\}", lambda m: parameters[m.group(1)], node["Fn::Sub"])
        if isinstance(node, dict) and "Ref" in node:
            return parameters[node["Ref"]]
        if isinstance(node, dict) and ("Condition" in node or "Fn::Condition" in node):  # SAM's loader, or ours
            return truth(conditions[node.get("Condition") or node["Fn::Condition"]])
        return node

    return {name: bool(truth(node)) for name, node in conditions.items()}


@pytest.mark.parametrize("switch", ["true", "false"])
def test_the_sam_translator_transforms_it_with_bus_dashboard_and_tracing_on_and_off(switch: str) -> None:
    """What `sam deploy` runs first: the SAM transform (after `sam package` replaced CodeUri by an S3 URI)."""
    translator = pytest.importorskip("samtranslator.translator.transform")
    from samtranslator.yaml_helper import yaml_parse

    class NoManagedPolicies:  # the template names no managed policy, so none needs resolving through IAM
        def load(self) -> dict[str, str]:
            return {}

    source = yaml_parse(TEMPLATE.read_text())
    source["Resources"]["Function"]["Properties"]["CodeUri"] = "s3://artifacts/gcevents-lambda.zip"
    org = "4a1b2c3d-0000-4000-8000-00000000abcd"
    parameters = {
        "CreateEventBus": switch,
        "Dashboard": switch,
        "Tracing": "xray" if switch == "true" else "off",
        "OrgId": org,
        "EventBusName": f"aws.partner/genesys.com/cloud/{org}/prod",
    }
    output = translator.transform(source, parameters, NoManagedPolicies())
    assert "Transform" not in output
    resources = output["Resources"]
    function = resources["Function"]
    assert function["Type"] == "AWS::Lambda::Function"
    assert function["Properties"]["Code"] == {"S3Bucket": "artifacts", "S3Key": "gcevents-lambda.zip"}
    assert function["Properties"]["TracingConfig"] == {"Mode": {"Fn::If": ["TracingOn", "Active", "PassThrough"]}}
    defaults = {name: str(p.get("Default", "")) for name, p in output["Parameters"].items()}
    truth = _conditions(resources, output["Conditions"], {**defaults, **parameters})
    on = switch == "true"
    assert truth["CreatePartnerBus"] is truth["DashboardOn"] is truth["TracingOn"] is on
    present = {name for name, r in resources.items() if "Condition" not in r or truth[r["Condition"]]}
    assert ("PartnerEventBus" in present) is on
    assert ("OperationsDashboard" in present) is on
    assert {"Queue", "DeadLetterQueue", "GenesysRule", "QueueEventSource", "IdempotencyTable"} <= present
    assert REFUSAL not in present  # OrgId and EventBusName agree
    other = {**defaults, **parameters, "OrgId": ORG_B}
    assert _conditions(resources, output["Conditions"], other)[resources[REFUSAL]["Condition"]]


@pytest.mark.parametrize("mode", ["otel", "xray", "off"])
def test_each_tracing_mode_transforms_and_wires_its_tracer(mode: str) -> None:
    """otel: the ADOT layer and its wrapper, active tracing; xray: active tracing only; off: neither."""
    translator = pytest.importorskip("samtranslator.translator.transform")
    from samtranslator.yaml_helper import yaml_parse

    from gcevents.config import Config

    class NoManagedPolicies:
        def load(self) -> dict[str, str]:
            return {}

    source = yaml_parse(TEMPLATE.read_text())
    source["Resources"]["Function"]["Properties"]["CodeUri"] = "s3://artifacts/gcevents-lambda.zip"
    layer = "arn:aws:lambda:eu-west-1:123456789012:layer:AWSOpenTelemetryDistroPython:16"
    org = "4a1b2c3d-0000-4000-8000-00000000abcd"
    parameters = {"Tracing": mode, "AdotLayerArn": layer, "OrgId": org}
    output = translator.transform(source, parameters, NoManagedPolicies())
    defaults = {name: str(p.get("Default", "")) for name, p in output["Parameters"].items()}
    truth = _conditions(output["Resources"], output["Conditions"], {**defaults, **parameters})
    assert truth["TracingOn"] is (mode != "off")
    assert truth["OtelTracing"] is (mode == "otel")
    function = output["Resources"]["Function"]["Properties"]
    assert function["Layers"] == {"Fn::If": ["OtelTracing", [{"Ref": "AdotLayerArn"}], {"Ref": "AWS::NoValue"}]}
    env = function["Environment"]["Variables"]
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == {
        "Fn::If": ["OtelTracing", "/opt/otel-instrument", {"Ref": "AWS::NoValue"}]
    }
    assert Config.from_env({"GCEVENTS_TRACING": mode}).tracing == mode  # the parameter's value is the variable's
    (rule,) = output["Rules"].values()
    assert rule["RuleCondition"] == {"Fn::Equals": [{"Ref": "Tracing"}, "otel"]}


# --------------------------------------------------------------------------------------- reconcile, archive
def test_the_reconcile_schedule_invokes_the_function_with_the_payload_the_handler_recognises(
    template: dict[str, Any],
) -> None:
    from gcevents.entrypoints.scheduled import is_scheduled, scheduled_window

    schedule = template["Resources"]["ReconcileSchedule"]
    assert schedule["Type"] == "AWS::Scheduler::Schedule"
    assert schedule["Condition"] == "HasReconcileSchedule"
    assert default(template, "ReconcileEveryMinutes") == 0  # off unless asked for
    target = schedule["Properties"]["Target"]
    assert getatt(target["Arn"]) == ["Function", "Arn"]
    assert getatt(target["RoleArn"]) == ["ReconcileScheduleRole", "Arn"]
    values = {"ReconcileEveryMinutes": "15", "ReconcileLagMinutes": "30", "ReconcileApply": "true"}
    payload = json.loads(re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], target["Input"]["Fn::Sub"]))
    assert is_scheduled(payload)
    start, end = scheduled_window(payload["gcevents"], now=1_764_000_000.0)
    assert (end - start).total_seconds() == 2 * 15 * 60  # two periods: consecutive windows overlap
    assert end.timestamp() <= 1_764_000_000.0 - 30 * 60
    assert template["Parameters"]["ReconcileEveryMinutes"]["AllowedValues"][0] == 0
    assert all(m >= 5 for m in template["Parameters"]["ReconcileEveryMinutes"]["AllowedValues"][1:])
    role = template["Resources"]["ReconcileScheduleRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "scheduler.amazonaws.com"}
    alarm = template["Resources"]["ReconcileGapsAlarm"]["Properties"]
    assert (alarm["MetricName"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "ReconcileGapsFound",
        0,
        "GreaterThanThreshold",
    )


def test_the_archive_keeps_what_the_rule_routes(template: dict[str, Any]) -> None:
    archive = template["Resources"]["EventArchive"]
    assert (archive["Type"], archive["Condition"]) == ("AWS::Events::Archive", "HasArchive")
    rule = single(resources_of(template, "AWS::Events::Rule"))["Properties"]
    assert archive["Properties"]["EventPattern"] == rule["EventPattern"]
    assert is_ref_to(archive["Properties"]["RetentionDays"], "ArchiveRetentionDays")
    condition, created, given = archive["Properties"]["SourceArn"]["Fn::If"]  # the stack's own bus, or the given one
    assert (condition, created) == ("CreatePartnerBus", {"Fn::GetAtt": ["PartnerEventBus", "Arn"]})
    assert given["Fn::Sub"].endswith(":event-bus/${EventBusName}")
    assert template["Outputs"]["ArchiveArn"]["Condition"] == "HasArchive"
    assert default(template, "Archive") == "false"


# --------------------------------------------------------------------------------------- cfn-lint
@pytest.mark.slow  # cfn-lint takes seconds per template
@pytest.mark.parametrize(
    "defaults",
    [
        {},
        {
            "PollerMode": "provisioned",
            "GenesysBudgetScope": "shared",
            "GenesysClientId": "client",
            "ReservedConcurrency": 40,
            "GenesysRatePerMinute": 48,
        },
        {"Tracing": "xray", "LogFormat": "Text"},
        {  # every option of reconciliation, replay, outputs and the bus on
            "ReconcileEveryMinutes": 15,
            "GenesysClientId": "client",
            "Archive": '"true"',
            "DataLake": '"true"',
            "DataLakeRawSelect": "v2.detail.events.conversation.*",
            "CreateEventBus": '"true"',
            "Tracing": "otel",
            "WebhookUrl": "https://crm.example.com/hook",
            "OutputBusName": "gcevents-out",
        },
    ],
    ids=["standard", "provisioned+shared", "xray+text-logs", "reconcile+archive+outputs+otel"],
)
def test_cfn_lint_finds_nothing(defaults: dict[str, Any], tmp_path: Path) -> None:
    """With the defaults as shipped, and with provisioned mode, the shared budget and the static rate switched on
    (cfn-lint checks the values of the defaults it sees)."""
    assert lint_with_defaults(defaults, tmp_path) == []


def lint_with_defaults(defaults: dict[str, Any], tmp_path: Path) -> list[str]:
    """cfn-lint's findings on the template with these parameter defaults (values as YAML text)."""
    api = pytest.importorskip("cfnlint.api")
    text = TEMPLATE.read_text()
    # cfn-lint checks AdotLayerArn's empty default against the layer ARN pattern inside `Layers`, a branch that
    # OtelTracing excludes for that default (W1030); the rule OtelNeedsTheAdotLayer refuses otel without an ARN.
    defaults = {
        "AdotLayerArn": "arn:aws:lambda:us-east-1:123456789012:layer:AWSOpenTelemetryDistroPython:16",
        **defaults,
    }
    for name, value in defaults.items():
        text, found = re.subn(rf"(\n  {name}:\n(?:    .*\n)*?    Default: ).*\n", rf"\g<1>{value}\n", text, count=1)
        assert found == 1, name
    variant = tmp_path / "template.yaml"
    variant.write_text(text)
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in api.lint_file(variant)]


# --------------------------------------------------------------------------------------- OrgId and EventBusName
REFUSAL = "RefusedOrgIdIsNotTheOrgInEventBusName"
ORG_A, ORG_B = "4a1b2c3d-0000-4000-8000-00000000abcd", "9f8e7d6c-1111-4111-8111-0000000000ef"


@pytest.mark.parametrize(
    ("org", "bus", "refused"),
    [
        (ORG_A, f"aws.partner/genesys.com/cloud/{ORG_A}/prod", False),
        (ORG_A, f"aws.partner/genesys.com/cloud/{ORG_B}/prod", True),  # the rule would never match: refused
        (ORG_A.upper(), f"aws.partner/genesys.com/cloud/{ORG_A}/prod", True),  # the source prefix is case-sensitive
        (ORG_A, "aws.partner/genesys.com", True),  # a partner bus name without the org
        (ORG_A, "gcevents-forwarded", False),  # a bus of your own that receives the events: nothing to compare
    ],
)
def test_an_event_bus_of_another_org_is_refused(template: dict[str, Any], org: str, bus: str, refused: bool) -> None:
    """The rule matches sources `aws.partner/genesys.com/cloud/<OrgId>/`: a partner bus of another org would be a
    stack that deploys and never receives an event. CloudFormation Rules cannot split a string, so a condition
    does, and a resource named for the refusal that cannot be created fails the deployment."""
    defaults = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    truth = _conditions(template["Resources"], template["Conditions"], {**defaults, "OrgId": org, "EventBusName": bus})
    assert truth[template["Resources"][REFUSAL]["Condition"]] is refused


def test_json_logs_and_lambda_never_filters_the_metrics_away(template: dict[str, Any]) -> None:
    """Lambda ranks a line without a level (the EMF metric documents) as INFO: ApplicationLogLevel is DEBUG or
    unset, never above INFO, or the metrics and their alarms would go."""
    logging = template["Resources"]["Function"]["Properties"]["LoggingConfig"]
    assert logging["LogFormat"] == {"Ref": "LogFormat"}
    assert default(template, "LogFormat") == "JSON"
    assert logging["ApplicationLogLevel"] == {"Fn::If": ["JsonDebugLogs", "DEBUG", {"Ref": "AWS::NoValue"}]}
    assert template["Conditions"]["JsonDebugLogs"] == {
        "Fn::And": [{"Fn::Equals": [{"Ref": "LogFormat"}, "JSON"]}, {"Fn::Equals": [{"Ref": "LogLevel"}, "DEBUG"]}]
    }
