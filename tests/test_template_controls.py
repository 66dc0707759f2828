"""template.yaml's enterprise controls (docs/data-protection.md): a customer-managed key on every encryptable
resource, the lake bucket's TLS-only policy and expiry, the function in private subnets, a permissions boundary on
every role, the queues retained like the tables. Checked statically, through the SAM transform and with cfn-lint,
each with the options set and unset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from test_template import TEMPLATE, CfnLoader, _conditions, _sam_translate, lint_with_defaults

KEY = "arn:aws:kms:eu-west-1:123456789012:key/0f1c2d3e-4b5a-6978-8a9b-0c1d2e3f4a5b"
BOUNDARY = "arn:aws:iam::123456789012:policy/gcevents-boundary"
CONTROLS = {
    "KmsKeyArn": KEY,
    "SubnetIds": "subnet-0a1b2c3d4e5f60718,subnet-0a1b2c3d4e5f60719",
    "SecurityGroupIds": "sg-0a1b2c3d4e5f60718",
    "PermissionsBoundary": BOUNDARY,
    "AttributeHashKeyArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:gcevents-attributes-AbCdEf",
}
# Everything that creates resources the controls touch: the lake, the webhook secret, the Genesys secret.
OUTPUTS = {"DataLake": "true", "WebhookUrl": "https://crm.example.com/hook", "GenesysClientId": "client"}
ENCRYPTABLE = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::KinesisFirehose::DeliveryStream",
        "AWS::S3::Bucket",
        "AWS::Logs::LogGroup",
        "AWS::SecretsManager::Secret",
    }
)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)  # a SafeLoader subclass


def translated(parameters: dict[str, str]) -> tuple[dict[str, Any], dict[str, bool]]:
    """The SAM transform's output and the truth of its conditions for these parameters: what CloudFormation gets."""
    source = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)
    output = _sam_translate(source, parameters)
    defaults = {name: str(p.get("Default", "")) for name, p in output["Parameters"].items()}
    truth = _conditions(output["Resources"], output["Conditions"], {**defaults, **parameters})
    return output, truth


def uses_key(node: Any) -> bool:
    return '{"Ref": "KmsKeyArn"}' in json.dumps(node)


def test_every_encryptable_resource_names_the_key(template: dict[str, Any]) -> None:
    encryptable = {n: r for n, r in template["Resources"].items() if r["Type"] in ENCRYPTABLE}
    assert {
        "IdempotencyTable",
        "StateTable",
        "Queue",
        "DeadLetterQueue",
        "DataLakeStream",
        "DataLakeBucket",
        "FunctionLogGroup",
        "GenesysClientSecret",
        "WebhookSigningSecret",
    } <= set(encryptable)
    assert [name for name, r in encryptable.items() if not uses_key(r["Properties"])] == []


@pytest.mark.parametrize("on", [True, False], ids=["controls", "defaults"])
def test_the_transformed_stack_with_and_without_the_controls(on: bool) -> None:
    parameters = {**OUTPUTS, **(CONTROLS if on else {})}
    output, truth = translated(parameters)
    assert truth["HasKmsKey"] is truth["HasVpc"] is truth["HasPermissionsBoundary"] is on
    assert truth["HasLakeRetention"]  # on by default
    resources = output["Resources"]
    function = resources["Function"]["Properties"]
    assert function["VpcConfig"] == {
        "Fn::If": [
            "HasVpc",
            {"SubnetIds": {"Ref": "SubnetIds"}, "SecurityGroupIds": {"Ref": "SecurityGroupIds"}},
            {"Ref": "AWS::NoValue"},
        ]
    }
    roles = {n: r for n, r in resources.items() if r["Type"] == "AWS::IAM::Role"}
    assert {"FunctionRole", "DataLakeRole"} <= set(roles)
    boundary = {"Fn::If": ["HasPermissionsBoundary", {"Ref": "PermissionsBoundary"}, {"Ref": "AWS::NoValue"}]}
    assert all(r["Properties"].get("PermissionsBoundary") == boundary for r in roles.values()), sorted(roles)
    policies = [p["Fn::If"] for p in roles["FunctionRole"]["Properties"]["Policies"] if "Fn::If" in p]
    assert {(p[0], p[1]["PolicyName"]) for p in policies} >= {("HasKmsKey", "kms-key"), ("HasVpc", "vpc")}


def test_the_lake_is_tls_only_and_expires(template: dict[str, Any]) -> None:
    policy = template["Resources"]["DataLakeBucketPolicy"]
    assert policy["Condition"] == "HasDataLake"
    (deny,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Action"]) == ("Deny", "*", "s3:*")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert deny["Resource"][0] == {"Fn::GetAtt": ["DataLakeBucket", "Arn"]}
    lifecycle = template["Resources"]["DataLakeBucket"]["Properties"]["LifecycleConfiguration"]["Fn::If"]
    assert lifecycle[0] == "HasLakeRetention"
    (rule,) = lifecycle[1]["Rules"]
    assert (rule["Status"], rule["ExpirationInDays"]) == ("Enabled", {"Ref": "LakeRetentionDays"})
    assert template["Parameters"]["LakeRetentionDays"]["Default"] > 0  # on by default


def test_the_queues_are_retained_like_the_tables(template: dict[str, Any]) -> None:
    for name in ("Queue", "DeadLetterQueue", "IdempotencyTable", "StateTable"):
        resource = template["Resources"][name]
        assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain"), name


def test_the_controls_are_off_by_default(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    assert all(parameters[name]["Default"] == "" for name in CONTROLS)


@pytest.mark.slow  # cfn-lint takes seconds per template
@pytest.mark.parametrize(
    "defaults",
    [{**CONTROLS, **OUTPUTS, "LakeRetentionDays": "0", "AttributePolicy": "names;hash:accountId"}, OUTPUTS],
    ids=["controls", "defaults"],
)
def test_cfn_lint_finds_nothing_with_and_without_the_controls(defaults: dict[str, str], tmp_path: Path) -> None:
    quoted = {name: value if value.isdigit() else json.dumps(value) for name, value in defaults.items()}
    assert lint_with_defaults(quoted, tmp_path) == []


def test_the_attribute_policy_and_its_key_reach_the_function(template: dict[str, Any]) -> None:
    from gcevents.core.attributes import AttributePolicy

    variables = template["Resources"]["Function"]["Properties"]["Environment"]["Variables"]
    assert variables["GCEVENTS_ATTRIBUTES"] == {"Ref": "AttributePolicy"}
    assert AttributePolicy.parse(template["Parameters"]["AttributePolicy"]["Default"]) == AttributePolicy()
    key = variables["GCEVENTS_ATTRIBUTES_HASH_KEY_ARN"]["Fn::If"]
    assert key[:2] == ["HasAttributeHashKey", {"Ref": "AttributeHashKeyArn"}]
    policies = template["Resources"]["FunctionRole"]["Properties"]["Policies"]
    (grant,) = [p["Fn::If"] for p in policies if "Fn::If" in p and p["Fn::If"][0] == "HasAttributeHashKey"]
    (statement,) = grant[1]["PolicyDocument"]["Statement"]
    assert (statement["Action"], statement["Resource"]) == ("secretsmanager:GetSecretValue", key[1])
