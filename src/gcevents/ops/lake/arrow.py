"""The lake's columns as an Arrow schema: the same walk of the record schema as the Glue columns
(`columns.hive_type`), so the local Parquet files and Firehose's have the same types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from gcevents.ops.lake.columns import PARTITION_KEYS, fields, kind_of, record_schema, resolve

_SCALARS = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}


def arrow_type(spec: Mapping[str, Any], schema: Mapping[str, Any]) -> pa.DataType:
    spec = resolve(spec, schema)
    kind = kind_of(spec)
    if kind == "array":
        return pa.list_(arrow_type(spec["items"], schema))
    if kind == "object" and "properties" in spec:
        return pa.struct([pa.field(column, arrow_type(sub, schema)) for _n, column, sub in fields(spec, schema)])
    if kind == "object":
        return pa.map_(pa.string(), pa.string())
    return _SCALARS[kind]


def arrow_schema() -> pa.Schema:
    schema = record_schema()
    return pa.schema(
        [
            pa.field(column, arrow_type(spec, schema))
            for _name, column, spec in fields(schema, schema)
            if column not in PARTITION_KEYS
        ]
    )
