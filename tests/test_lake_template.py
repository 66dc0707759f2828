"""The template's lake is generated from the same sources as the local lake: the Glue columns from the record
schema, the Athena named queries from ops/lake/queries/*.sql, the partition rule from ops/lake/columns.py. A test
fails when either side drifts; the SAM transform and cfn-lint (tests/test_template.py) run with the lake on."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gcevents.ops.lake import named_queries
from gcevents.ops.lake.columns import PARTITION_KEYS, columns
from test_template import TEMPLATE, CfnLoader, _conditions, _sam_translate, resources_of


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)


def test_the_glue_columns_are_the_record_schema(template: dict[str, Any]) -> None:
    table = template["Resources"]["LakeTable"]["Properties"]["TableInput"]
    assert [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]] == columns()
    assert [k["Name"] for k in table["PartitionKeys"]] == list(PARTITION_KEYS)
    assert table["Parameters"]["projection.enabled"] == "true"
    assert table["Parameters"]["storage.location.template"]["Fn::Sub"].endswith("/records/type=${!type}/date=${!date}/")


def test_the_named_queries_are_the_local_ones_verbatim(template: dict[str, Any]) -> None:
    in_template = {
        r["Properties"]["Name"]: r["Properties"]["QueryString"]
        for r in resources_of(template, "AWS::Athena::NamedQuery").values()
    }
    assert in_template == {q.name: q.sql.rstrip("\n") for q in named_queries().values()}


def test_the_stream_converts_to_parquet_through_the_table(template: dict[str, Any]) -> None:
    s3 = template["Resources"]["DataLakeStream"]["Properties"]["ExtendedS3DestinationConfiguration"]
    conversion = s3["DataFormatConversionConfiguration"]
    assert conversion["Enabled"] is True
    assert conversion["SchemaConfiguration"]["TableName"] == {"Ref": "LakeTable"}
    assert "ParquetSerDe" in conversion["OutputFormatConfiguration"]["Serializer"]
    assert s3["BufferingHints"]["SizeInMBs"] >= 64  # Firehose's minimum with format conversion
    assert s3["CompressionFormat"] == "UNCOMPRESSED"
    query = s3["ProcessingConfiguration"]["Processors"][0]["Parameters"][0]["ParameterValue"]
    assert ".conversation.startTime // .conversation.endTime" in query  # columns.partition's rule


@pytest.mark.parametrize("lake", ["true", "false"])
def test_the_sam_transform_with_the_lake_on_and_off(template: dict[str, Any], lake: str) -> None:
    org = "4a1b2c3d-0000-4000-8000-00000000abcd"
    parameters = {
        "DataLake": lake,
        "DataLakeRawSelect": "v2.detail.events.conversation.*",
        "OrgId": org,
        "EventBusName": f"aws.partner/genesys.com/cloud/{org}/prod",
    }
    output = _sam_translate(template, parameters)
    resources = output["Resources"]
    defaults = {name: str(p.get("Default", "")) for name, p in output["Parameters"].items()}
    truth = _conditions(resources, output["Conditions"], {**defaults, **parameters})
    present = {name for name, r in resources.items() if "Condition" not in r or truth[r["Condition"]]}
    lake_parts = {"DataLakeStream", "DataLakeRawStream", "LakeDatabase", "LakeTable", "LakeWorkGroup"}
    assert (lake_parts <= present) is (lake == "true")
    assert not (lake_parts & present) or lake == "true"
