"""What the code emits is what gcevents.schemas promises (JSON Schema 2020-12)."""

from __future__ import annotations

from importlib.resources import files

import jsonschema
import pytest

from gcevents import schemas
from gcevents.core.documents import COMPLETED, RAW_EVENT, UPDATED
from gcevents.core.outputs import DERIVED
from gcevents.errors import GcEventsError
from gcevents.testing.sinks import RecordingSink

from .kit import lifecycles, make_kit


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = schemas.load(name)
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


def test_the_package_ships_every_schema_it_names() -> None:
    shipped = {p.name for p in files(schemas).iterdir() if p.name.endswith(".json")}
    assert shipped == {f"{name}.json" for name in schemas.NAMES}
    for name in schemas.NAMES:
        assert schemas.load(name)["$id"].endswith(f"/{name}.json")
    with pytest.raises(GcEventsError, match="no schema named 'nope'"):
        schemas.load("nope")
