"""The integrations API as the simulator answers it: `/api/v2/integrations` (GET paged list, POST create), `/{id}`
(GET, PATCH intendedState) and `/{id}/config/current` (GET, PUT with the current `version`, else 409), with the
permission each route needs and concurrent config edits on demand."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, unquote

from gcevents.testing.genesys.analytics import json_object
from gcevents.testing.genesys.state import SimulatorState

INTEGRATIONS = "/api/v2/integrations"
_INTEGRATION = re.compile(r"^/api/v2/integrations/([^/]+)$")
_INTEGRATION_CONFIG = re.compile(r"^/api/v2/integrations/([^/]+)/config/current$")
# The permission each integrations route needs, as Genesys names it in a 403.
INTEGRATION_PERMISSIONS = {
    "GET": "integrations:integration:view",
    "POST": "integrations:integration:add",
    "PUT": "integrations:integration:edit",
    "PATCH": "integrations:integration:edit",
}


def add_integration(
    state: SimulatorState, type_id: str, name: str, properties: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Create an integration (disabled) with config version 1. Called with the state's lock held."""
    iid = str(uuid.uuid4())
    entity = {
        "id": iid,
        "name": name,
        "integrationType": {"id": type_id},
        "notes": "",
        "intendedState": "DISABLED",
        "reportedState": {"code": "INACTIVE"},
        "config": {"current": {"id": iid}},
        "selfUri": f"{INTEGRATIONS}/{iid}",
    }
    state.integrations[iid] = entity
    state.configs[iid] = {
        "id": iid,
        "name": name,
        "version": 1,
        "properties": dict(properties or {}),
        "advanced": {},
        "notes": "",
        "credentials": {},
    }
    return entity


class Integrations:
    """The integrations routes over the simulator's state. Called with the state's lock held."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def route(
        self, method: str, path: str, query: str, body: bytes
    ) -> tuple[str, Callable[[], tuple[int, dict[str, Any]]]] | None:
        if path == INTEGRATIONS and method == "GET":
            return f"GET {INTEGRATIONS}", lambda: self.list(query)
        if path == INTEGRATIONS and method == "POST":
            return f"POST {INTEGRATIONS}", lambda: self.create(body)
        if (match := _INTEGRATION.match(path)) and method in ("GET", "PATCH"):
            iid = unquote(match.group(1))
            answer = (lambda: self.get(iid)) if method == "GET" else (lambda: self.patch(iid, body))
            return f"{method} {INTEGRATIONS}/{{id}}", answer
        if (match := _INTEGRATION_CONFIG.match(path)) and method in ("GET", "PUT"):
            iid = unquote(match.group(1))
            answer = (lambda: self.config(iid)) if method == "GET" else (lambda: self.put_config(iid, body))
            return f"{method} {INTEGRATIONS}/{{id}}/config/current", answer
        return None

    def list(self, query: str) -> tuple[int, dict[str, Any]]:
        params = parse_qs(query)
        try:
            size = max(1, min(100, int(params.get("pageSize", ["25"])[0])))
            number = max(1, int(params.get("pageNumber", ["1"])[0]))
        except ValueError:
            return 400, {"message": "bad paging", "code": "bad.request", "status": 400}
        everything = sorted(self.state.integrations.values(), key=lambda e: (e["name"], e["id"]))
        page = everything[(number - 1) * size : number * size]
        return 200, {
            "entities": [dict(e) for e in page],
            "pageSize": size,
            "pageNumber": number,
            "total": len(everything),
            "pageCount": max(1, math.ceil(len(everything) / size)),
        }

    def create(self, body: bytes) -> tuple[int, dict[str, Any]]:
        document = json_object(body) or {}
        integration_type = document.get("integrationType")
        type_id = integration_type.get("id") if isinstance(integration_type, dict) else None
        if not isinstance(type_id, str) or not type_id:
            return 400, {"message": "integrationType.id is required", "code": "bad.request", "status": 400}
        entity = add_integration(self.state, type_id, str(document.get("name") or type_id))
        return 200, dict(entity)

    def get(self, iid: str) -> tuple[int, dict[str, Any]]:
        entity = self.state.integrations.get(iid)
        if entity is None:
            return 404, {"message": "Integration not found", "code": "not.found", "status": 404}
        return 200, dict(entity)

    def patch(self, iid: str, body: bytes) -> tuple[int, dict[str, Any]]:
        entity = self.state.integrations.get(iid)
        if entity is None:
            return 404, {"message": "Integration not found", "code": "not.found", "status": 404}
        state = (json_object(body) or {}).get("intendedState")
        if state not in ("ENABLED", "DISABLED", "DELETED"):
            return 400, {
                "message": "intendedState must be ENABLED, DISABLED or DELETED",
                "code": "bad.request",
                "status": 400,
            }
        entity["intendedState"] = state
        entity["reportedState"] = {"code": "ACTIVE" if state == "ENABLED" else "INACTIVE"}
        return 200, dict(entity)

    def config(self, iid: str) -> tuple[int, dict[str, Any]]:
        config = self.state.configs.get(iid)
        if config is None:
            return 404, {"message": "Integration not found", "code": "not.found", "status": 404}
        return 200, json.loads(json.dumps(config))

    def put_config(self, iid: str, body: bytes) -> tuple[int, dict[str, Any]]:
        state = self.state
        config = state.configs.get(iid)
        if config is None:
            return 404, {"message": "Integration not found", "code": "not.found", "status": 404}
        document = json_object(body)
        if document is None or not isinstance(document.get("properties"), dict):
            return 400, {"message": "properties is required", "code": "bad.request", "status": 400}
        if state.conflicts_left > 0:  # someone else saved the config just before this request
            state.conflicts_left -= 1
            config["version"] += 1
        if document.get("version") != config["version"]:
            stale = f"version {document.get('version')!r} is stale; the current version is {config['version']}"
            return 409, {"message": stale, "code": "conflict", "status": 409}
        config.update(
            name=str(document.get("name") or config["name"]),
            properties=document["properties"],
            advanced=document.get("advanced") or {},
            notes=str(document.get("notes") or ""),
            credentials=document.get("credentials") or {},
            version=config["version"] + 1,
        )
        return 200, json.loads(json.dumps(config))
