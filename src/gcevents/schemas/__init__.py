"""The JSON Schemas (2020-12) of what gcevents emits, shipped inside the package so an installed wheel has them:
`conversation.completed.v1` (the derived conversation records, docs: Outputs) and `genesys.event.v1` (raw
topic routes). Receivers validate against them; `load(name)` reads one."""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

from gcevents.errors import GcEventsError

NAMES = ("conversation.completed.v1", "genesys.event.v1")


def load(name: str) -> dict[str, Any]:
    """The schema `name` (one of NAMES, with or without `.json`) as a dict."""
    name = name.removesuffix(".json")
    if name not in NAMES:
        raise GcEventsError(f"no schema named {name!r}; gcevents has {', '.join(NAMES)}")
    schema: dict[str, Any] = json.loads(files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8"))
    return schema
