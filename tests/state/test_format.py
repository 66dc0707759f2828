"""Stored state items carry a format version (`gcevents.core.state_format`); this release reads the items the
release before it wrote (format 1, no marker: tests/fixtures/state_v1, written by that code) as they were, derives
the same record version from them (no spurious `conversation.updated` after an upgrade), and rewrites them as
format 2 on their next change."""

from __future__ import annotations

import base64
import json
import sqlite3
import zlib
from pathlib import Path
from typing import Any

import pytest

from gcevents.adapters.dynamodb.state import DynamoDbStateStore, create_state_table, from_item
from gcevents.adapters.sqlite.state import SqliteStateStore
from gcevents.core import state_format
from gcevents.core.documents import ConversationDocument
from gcevents.core.state import stored_view
from gcevents.errors import TransientError
from gcevents.testing.fakes import FakeClock

from .helpers import make_event

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "state_v1"
CID = "conv-v1"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def dynamodb_item() -> dict[str, Any]:
    item = fixture("dynamodb_item.json")
    item["state"]["B"] = base64.b64decode(item["state"]["B"])
    return item


def test_format_1_items_read_as_that_release_read_them() -> None:
    item = from_item(dynamodb_item())
    assert item.state == fixture("state.json")
    assert (item.conversation_id, item.version) == (CID, 2)


def test_a_record_of_spec_version_1_is_read() -> None:
    record = ConversationDocument.from_document(fixture("conversation.completed.json"))
    assert (record.conversation_id, record.wrapup_codes, record.wrapup_complete) == (CID, ("Sale",), True)
    assert [p.participant_id for p in record.participants] == ["cust-1", "acd-1", "agent-1"]


def sqlite_store(path: Path) -> SqliteStateStore:
    row = fixture("sqlite_row.json")
    clock = FakeClock(row["updated_at"] / 1000)  # the row's time: its ttl is still ahead
    with sqlite3.connect(path) as conn:
        SqliteStateStore(path, clock=clock)  # the schema
        conn.execute(
            "INSERT INTO conversation_state (conversation_id, state, version, updated_at, ttl) VALUES (?, ?, ?, ?, ?)",
            (row["conversation_id"], row["state"], row["version"], row["updated_at"], row["ttl"]),
        )
    return SqliteStateStore(path, clock=clock)


def test_a_format_1_sqlite_row_is_read_then_rewritten_as_format_2(tmp_path: Path) -> None:
    store = sqlite_store(tmp_path / "g.db")
    item = store.get(CID)
    assert item is not None
    assert item.state == fixture("state.json")
    assert stored_view(item)["attributes"] == {"crmId": "42", "customerTier": "gold"}
    late = make_event("wrapup", CID, "agent-1", at=item.updated_at_ms, wrapupCode="Sale")
    store.apply({CID: [late, make_event("customer.end", CID, "cust-2", at=item.updated_at_ms)]})
    (text,) = sqlite3.connect(tmp_path / "g.db").execute("SELECT state FROM conversation_state").fetchone()
    assert state_format.format_of(text) == state_format.FORMAT
    again = store.get(CID)
    assert again is not None
    assert again.version == item.version + 1
    assert again.state["attributes"] == item.state["attributes"]  # what format 1 kept is kept


def test_a_format_1_dynamodb_item_is_read_then_rewritten_as_format_2(moto_endpoint: str, unique_name: str) -> None:
    import boto3

    client = boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")
    create_state_table(client, unique_name)
    client.put_item(TableName=unique_name, Item=dynamodb_item())
    store = DynamoDbStateStore(client, unique_name)
    item = store.get(CID)
    assert item is not None
    assert item.state == fixture("state.json")
    store.apply({CID: [make_event("customer.end", CID, "cust-2", at=item.updated_at_ms)]})
    raw = client.get_item(TableName=unique_name, Key={"conversationId": {"S": CID}})["Item"]
    assert state_format.format_of(zlib.decompress(raw["state"]["B"])) == state_format.FORMAT


def test_an_item_of_a_newer_format_waits_instead_of_being_overwritten() -> None:
    with pytest.raises(TransientError, match="newer gcevents"):
        state_format.loads(json.dumps({"_format": state_format.FORMAT + 1, "startTime": 1}))


def test_the_marker_never_reaches_the_state() -> None:
    state = {"startTime": 1, "attributes": {}}
    assert state_format.loads(state_format.dumps(state)) == state
    assert state_format.loads(json.dumps(state)) == state  # format 1
