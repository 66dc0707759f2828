"""docs/data-protection.md lists every place gcevents writes: each storage resource of template.yaml, each port
that persists or forwards (ports.py), each store and sink kind the configuration accepts."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from gcevents import variables as v

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "data-protection.md"
# Resource types that keep data (compute, roles, alarms and policies keep none).
STORAGE_TYPES = frozenset(
    {
        "AWS::DynamoDB::Table",
        "AWS::SQS::Queue",
        "AWS::S3::Bucket",
        "AWS::KinesisFirehose::DeliveryStream",
        "AWS::Logs::LogGroup",
        "AWS::Events::Archive",
        "AWS::SecretsManager::Secret",
    }
)
PERSISTING = re.compile(r"(Store|Sink|Scheduler|Bucket|Source)$")


def table() -> str:
    text = DOC.read_text()
    start = text.index("## Where caller data rests")
    return text[start : text.index("\n## ", start + 1) if "\n## " in text[start + 1 :] else len(text)]


class _AnyTag(yaml.SafeLoader):
    """Reads CloudFormation short-form tags as plain values: only resource names and types matter here."""


_AnyTag.add_multi_constructor("!", lambda loader, suffix, node: None)


def storage_resources() -> set[str]:
    resources = yaml.load((ROOT / "template.yaml").read_text(), Loader=_AnyTag)["Resources"]
    return {name for name, resource in resources.items() if resource["Type"] in STORAGE_TYPES}


def persisting_ports() -> set[str]:
    tree = ast.parse((ROOT / "src" / "gcevents" / "ports.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any("Protocol" in ast.unparse(base) for base in node.bases)
        and PERSISTING.search(node.name)
    }


def kinds() -> set[str]:
    every = {*v.IDEMPOTENCY_KINDS, *v.STATE_KINDS, *v.DEAD_LETTER_KINDS, *v.SINK_KINDS}
    return every - {"off"}


def test_the_sets_are_not_empty() -> None:
    assert {"StateTable", "DeadLetterQueue", "EventArchive", "FunctionLogGroup"} <= storage_resources()
    assert {"StateStore", "IdempotencyStore", "DeadLetterSink", "Sink"} <= persisting_ports()


@pytest.mark.parametrize("name", sorted(storage_resources() | persisting_ports() | kinds()))
def test_every_store_is_in_the_table(name: str) -> None:
    assert f"`{name}`" in table(), f"{name} writes data: add it to docs/data-protection.md's table"
