"""The public API: every name in `gcevents.__all__` resolves, and importing gcevents stays cheap."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import gcevents


def test_every_public_name_resolves() -> None:
    for name in gcevents.__all__:
        assert getattr(gcevents, name) is not None, name


def test_a_handler_module_needs_only_the_top_level_package() -> None:
    from gcevents import AcwEvent, HandlerContext, Router, typed_handler

    router = Router()
    seen: list[str | None] = []

    @router.on("v2.detail.events.conversation.{id}.acw")
    @typed_handler
    def on_acw(event: AcwEvent, ctx: HandlerContext) -> None:
        seen.append(event.wrapup_code)

    assert len(router) == 1
    assert router.handlers_for("v2.detail.events.conversation.c1.acw")


def test_importing_gcevents_loads_no_submodule_but_its_version() -> None:
    code = "import sys, gcevents; print(sorted(m for m in sys.modules if m.startswith('gcevents.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['gcevents._version']"  # one constant, no imports of its own


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="does_not_exist"):
        gcevents.does_not_exist  # type: ignore[attr-defined]  # noqa: B018


# A public name that moved keeps working under its old name: (old module, old name, new module, new name).
MOVED = [
    ("gcevents._variables", "VARIABLES", "gcevents.variables", "VARIABLES"),
    ("gcevents._variables", "_LOG_LEVEL_ALIASES", "gcevents.variables", "_LOG_LEVEL_ALIASES"),
    ("gcevents.ops.plan", "Spike", "gcevents.ops.spike", "SpikeProfile"),
    ("gcevents.ports", "CheckScheduler", "gcevents.ports", "CompletionTimerScheduler"),
    ("gcevents.core.outputs", "due_checks", "gcevents.core.outputs", "due_timers"),
    ("gcevents", "ConversationRecord", "gcevents", "ConversationDocument"),
    ("gcevents", "RecordParticipant", "gcevents", "DocumentParticipant"),
    ("gcevents.core.records", "ConversationRecord", "gcevents.core.documents", "ConversationDocument"),
    ("gcevents.core.records", "record_key", "gcevents.core.documents", "document_key"),
    ("gcevents.core.records", "AGENT_PURPOSES", "gcevents.core.documents", "AGENT_PURPOSES"),
]


@pytest.mark.parametrize(("old_module", "old", "new_module", "new"), MOVED)
def test_a_moved_name_keeps_its_old_import(old_module: str, old: str, new_module: str, new: str) -> None:
    assert getattr(importlib.import_module(old_module), old) is getattr(importlib.import_module(new_module), new)
