"""A topic family is one entry of `core.topics.FAMILIES`: the parser, the typed models, the state's merge rule, the
test kit, `gcevents topics` and `gcevents connect` all follow the table. `v2.users.{id}.presence` was added as one
entry (and its model) to prove it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gcevents.core import topics
from gcevents.core.events import GenesysEvent, parse_record
from gcevents.core.models import MODELS, OtherEvent, UserPresenceEvent, typed
from gcevents.core.state import Observation, delta
from gcevents.entrypoints.cli import main
from gcevents.testing import KINDS, event, parse, run


def test_every_kind_of_every_family_has_its_model_and_example() -> None:
    for family in topics.FAMILIES:
        for suffix in family.kinds:
            kind = family.kind(suffix)
            assert MODELS[kind] is not OtherEvent
            assert kind in KINDS or suffix in KINDS
            parsed = parse(event(kind if family is not topics.CONVERSATION else suffix, "x-1"))
            assert (parsed.kind, parsed.topic) == (kind, family.topic(suffix, "x-1"))


def test_a_user_presence_event_is_typed_with_the_user_from_its_topic() -> None:
    parsed = parse(event("user.presence", "u-7", presenceDefinition={"id": "pd", "systemPresence": "Away"}))
    model = typed(parsed)
    assert isinstance(model, UserPresenceEvent)
    assert (model.user_id, model.system_presence) == ("u-7", "Away")


def test_the_state_merges_by_the_family_field_not_the_kind_name(monkeypatch: pytest.MonkeyPatch) -> None:
    presence = parse(event("user.presence", "u-7", conversationId="c-1"))  # even naming a conversation
    assert delta(Observation(presence, None, True)) == {}
    merging_users = dataclasses.replace(topics.USER, merged_into_state=True)
    monkeypatch.setattr(topics, "_KINDS", {**topics._KINDS, "user.presence": (merging_users, "presence")})
    assert delta(Observation(presence, None, True)) != {}
    acw = parse(event("acw", "c-1"))
    quiet = dataclasses.replace(topics.CONVERSATION, merged_into_state=False)
    monkeypatch.setattr(topics, "_KINDS", {**topics._KINDS, "conversation.acw": (quiet, "acw")})
    assert delta(Observation(acw, None, True)) == {}


def test_the_new_family_is_listed_and_subscribable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["topics", "--all", "--json"]) == 0
    assert "v2.users.{id}.presence" in json.loads(capsys.readouterr().out)
    assert main(["topics", "--json"]) == 0
    assert "v2.users.{id}.presence" not in json.loads(capsys.readouterr().out)  # not subscribed unless asked
    assert topics.kind_of_pattern("v2.users.{id}.presence") == "user.presence"


def test_presence_events_run_through_the_pipeline_without_touching_the_state() -> None:
    result = run([], [event("user.presence", "u-1"), event("acw", "c-1")])
    assert result.counts == {"processed": 2}
    assert result.state is not None
    assert [item.conversation_id for item in result.state.list()] == ["c-1"]


def test_a_raw_presence_envelope_parses_to_its_family() -> None:
    body = {"presenceDefinition": {"id": "pd", "systemPresence": "Busy"}, "modifiedDate": "2026-12-07T10:00:00.000Z"}
    envelope = {
        "detail-type": "v2.users.{id}.presence",
        "time": "2026-12-07T10:00:00Z",
        "detail": {"topicName": "v2.users.u-9.presence", "eventBody": body},
    }
    from gcevents.core.types import RawRecord

    parsed = parse_record(RawRecord(json.dumps(envelope)))
    assert isinstance(parsed, GenesysEvent)
    assert (parsed.kind, parsed.conversation_id) == ("user.presence", None)
