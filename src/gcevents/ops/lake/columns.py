"""The lake's columns, generated from the record schema (`gcevents.schemas`, conversation.completed.v1): the Glue
table in template.yaml and the Parquet files `gcevents lake write` makes have the same columns, and a test fails
when either drifts from the schema.

Names are lower case, as Glue and Athena store them (Firehose's OpenX JSON SerDe matches JSON keys to columns without
regard to case). `type` is not a column: it is a partition key, with the conversation's start date (`date`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from gcevents.schemas import load

SCHEMA_FILE = "conversation.completed.v1.json"
PARTITION_KEYS = ("type", "date")
_SCALARS = {"string": "string", "integer": "bigint", "number": "double", "boolean": "boolean"}


@cache
def record_schema() -> dict[str, Any]:
    """The JSON schema of the derived records (`gcevents.schemas`)."""
    return load(SCHEMA_FILE)


def columns() -> list[tuple[str, str]]:
    """(name, Glue/Hive type) of every top-level column but the partition keys, in the schema's order."""
    schema = record_schema()
    return [
        (name.lower(), hive_type(spec, schema))
        for name, spec in schema["properties"].items()
        if name.lower() not in PARTITION_KEYS
    ]


def resolve(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in spec:
        spec = {**schema["$defs"][spec["$ref"].rsplit("/", 1)[1]], **{k: v for k, v in spec.items() if k != "$ref"}}
    return spec


def kind_of(spec: Mapping[str, Any]) -> str:
    """The JSON type a column holds: consts and enums of strings are strings, `const: true` a boolean."""
    if "type" in spec:
        kind = spec["type"]
        return str(kind[0] if isinstance(kind, list) else kind)
    sample = spec.get("const", (spec.get("enum") or [""])[0])
    return "boolean" if isinstance(sample, bool) else "string"


def hive_type(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    spec = resolve(spec, schema)
    kind = kind_of(spec)
    if kind == "array":
        return f"array<{hive_type(spec['items'], schema)}>"
    if kind == "object" and "properties" in spec:
        fields = ",".join(f"{name.lower()}:{hive_type(sub, schema)}" for name, sub in spec["properties"].items())
        return f"struct<{fields}>"
    if kind == "object":  # free-form names -> scalars (attributes): a map, values as text
        return "map<string,string>"
    return _SCALARS[kind]


def fields(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(JSON name, column name, resolved spec) of an object's properties."""
    for name, sub in resolve(spec, schema).get("properties", {}).items():
        yield name, name.lower(), resolve(sub, schema)


def row(document: Mapping[str, Any]) -> dict[str, Any]:
    """A record as its lake row: the table's columns only (as Firehose's conversion keeps them), lower-case names,
    attribute values as text. The partition keys come from `partition`."""
    schema = record_schema()
    return {
        column: _value(document.get(name), spec, schema)
        for name, column, spec in fields(schema, schema)
        if column not in PARTITION_KEYS
    }


def _value(value: Any, spec: Mapping[str, Any], schema: Mapping[str, Any]) -> Any:
    if value is None:
        return None
    kind = kind_of(spec)
    if kind == "array":
        return [_value(item, resolve(spec["items"], schema), schema) for item in value]
    if kind == "object" and "properties" in spec:
        return {column: _value(value.get(name), sub, schema) for name, column, sub in fields(spec, schema)}
    if kind == "object":
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()} or None
    if kind == "integer":
        return int(value)
    if kind == "number":
        return float(value)
    return value


def partition(document: Mapping[str, Any]) -> dict[str, str]:
    """type=<record type>/date=<the conversation's start date, UTC>: the same rule as the template's Firehose
    metadata extraction (`.conversation.startTime // .conversation.endTime`)."""
    conversation = document.get("conversation") or {}
    moment = conversation.get("startTime") or conversation.get("endTime") or "1970-01-01"
    return {"type": str(document["type"]), "date": str(moment)[:10]}
