"""What the code emits is what schemas/ promises (JSON Schema 2020-12)."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from gcevents.core.outputs import DERIVED
from gcevents.core.records import COMPLETED, RAW_EVENT, UPDATED
from gcevents.testing.sinks import RecordingSink

from .kit import lifecycles, make_kit

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMAS / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())


def test_derived_and_raw_documents_match_their_schemas() -> None:
    flows = lifecycles(3, seed=30)
    derived, raw = RecordingSink(), RecordingSink("memory:raw")
    kit = make_kit([(derived, DERIVED, ()), (raw, frozenset(), ("v2.*",))])
    events = [e for f in flows.values() for e in f]
    late = [e for e in events if e["detail"]["topicName"].endswith("flow.start")]
    kit.run([e for e in events if e not in late])
    kit.run(late)
    documents = derived.documents()
    assert {d["type"] for d in documents} == {COMPLETED, UPDATED}
    conversation = validator("conversation.completed.v1.json")
    for document in documents:
        conversation.validate(document)
    event = validator("genesys.event.v1.json")
    for document in raw.documents(RAW_EVENT):
        event.validate(document)
    assert len(raw.delivered) == len(events)
