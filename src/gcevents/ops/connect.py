"""`gcevents connect`: the Genesys Cloud "Amazon EventBridge Source" integration as code, through the public API.

    org      GET  /api/v2/organizations/me                         (the org id: the partner event source's name)
    find     GET  /api/v2/integrations?pageSize=100&pageNumber=N   (every page; type amazon-eventbridge-source,
             GET  /api/v2/integrations/{id}/config/current          then the one whose eventSourceSuffix matches)
    create   POST /api/v2/integrations {"integrationType": {"id": "amazon-eventbridge-source"}, "name": ...}
    config   GET, then PUT /api/v2/integrations/{id}/config/current with the current `version` (409: read again)
    enable   PATCH /api/v2/integrations/{id} {"intendedState": "ENABLED"}

Idempotent: each write happens only when what Genesys holds differs from what is asked, so a second run writes
nothing. The client speaks to Genesys through `GenesysClient.request_json` (OAuth, pacing, 429/5xx retries); the
client secret never appears in anything this module returns or raises."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from gcevents.core import topics
from gcevents.errors import ConfigError, GcEventsError, TransientError

INTEGRATION_TYPE = "amazon-eventbridge-source"
EVENT_SOURCE_PREFIX = "aws.partner/genesys.com/cloud/"
ORGANIZATION_PATH = "/api/v2/organizations/me"
DEFAULT_NAME = "gcevents: Amazon EventBridge Source"
PAGE_SIZE = 100
MAX_CONFLICT_RETRIES = 3
_ACCOUNT = re.compile(r"^[0-9]{12}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")  # us-east-1, eu-central-2, us-gov-west-1, il-central-1
_SUFFIX = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_TOPIC = re.compile(r"^v2\.[A-Za-z0-9_.{}-]+$")
_PROPERTY_ORDER = ("awsAccountId", "awsAccountRegion", "eventSourceSuffix", "eventFilter")
# What the OAuth client's role needs for each kind of call (Admin > Roles > Permissions > Integrations).
PERMISSIONS = {
    "GET": "integrations:integration:view",
    "POST": "integrations:integration:add",
    "PUT": "integrations:integration:edit",
    "PATCH": "integrations:integration:edit",
}


class GenesysApi(Protocol):
    """What `connect` needs of `GenesysClient`."""

    def request_json(
        self, method: str, path: str, body: Any = None, *, deadline: float | None = None
    ) -> tuple[int, Any]: ...


class MissingPermissionError(ConfigError):
    """Genesys answered 403: the OAuth client's role lacks `permission`."""

    def __init__(self, method: str, path: str, permission: str, detail: str = "") -> None:
        super().__init__(
            f"Genesys refused {method} {path} (403): the OAuth client's role needs the permission {permission!r} "
            f"(Admin > Roles/Permissions > Integrations > Integration)"
            + (f"; Genesys said: {detail}" if detail else "")
        )
        self.permission = permission


class IntegrationApiError(GcEventsError):
    """An answer `connect` cannot act on (4xx other than 403/409, or a malformed document)."""


@dataclass(frozen=True, slots=True)
class ConnectRequest:
    aws_account_id: str
    aws_region: str
    suffix: str
    topics: tuple[str, ...] = topics.DEFAULT_TOPICS
    name: str = DEFAULT_NAME

    def validate(self) -> list[str]:
        """Raises ConfigError on a value Genesys would reject; returns warnings (topics the parser won't type)."""
        if not _ACCOUNT.fullmatch(self.aws_account_id):
            raise ConfigError(f"--aws-account-id {self.aws_account_id!r}: expected the 12 digits of an AWS account id")
        if not _REGION.fullmatch(self.aws_region):
            raise ConfigError(f"--aws-region {self.aws_region!r}: expected an AWS region such as eu-west-1")
        if not _SUFFIX.fullmatch(self.suffix):
            raise ConfigError(
                f"--suffix {self.suffix!r}: 1 to 64 characters of letters, digits, '.', '-' and '_' "
                "(it ends the partner event source's name)"
            )
        if not self.topics:
            raise ConfigError("no topics: the integration would send nothing")
        warnings = []
        for topic in self.topics:
            if not _TOPIC.fullmatch(topic):
                raise ConfigError(f"--topic {topic!r}: a Genesys topic looks like {topics.DEFAULT_TOPICS[0]}")
            if topics.kind_of_pattern(topic) == "other":
                warnings.append(f"{topic}: not a topic gcevents parses into a typed kind (it is handled as 'other')")
        return warnings

    def properties(self) -> dict[str, Any]:
        return {
            "awsAccountId": self.aws_account_id,
            "awsAccountRegion": self.aws_region,
            "eventSourceSuffix": self.suffix,
            "eventFilter": list(dict.fromkeys(self.topics)),
        }


@dataclass(frozen=True, slots=True)
class Change:
    field: str
    old: Any
    new: Any

    def lines(self) -> list[str]:
        if isinstance(self.old, list | type(None)) and isinstance(self.new, list):
            old = self.old or []
            added = [t for t in self.new if t not in old]
            removed = [t for t in old if t not in self.new]
            return [f"  {self.field}:"] + [f"    + {t}" for t in added] + [f"    - {t}" for t in removed]
        return [f"  {self.field}: {_show(self.old)} -> {_show(self.new)}"]


@dataclass(slots=True)
class ConnectResult:
    integration_id: str | None  # None: a dry run that would create it
    name: str
    created: bool = False
    changes: list[Change] = field(default_factory=list)
    writes: list[str] = field(default_factory=list)  # "POST /api/v2/integrations", ... (what was, or would be, sent)
    conflicts: int = 0  # 409s met and recovered from
    dry_run: bool = False
    warnings: list[str] = field(default_factory=list)
    org_id: str | None = None  # None: the token could not read its org (a warning says why)
    suffix: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.writes)

    @property
    def event_source_name(self) -> str:
        """The partner event source the integration makes appear in the AWS account: `EventBusName` of the stack."""
        return f"{EVENT_SOURCE_PREFIX}{self.org_id or '<orgId>'}/{self.suffix}"

    def text(self) -> str:
        verb = "would " if self.dry_run else ""
        label = f"integration {self.name!r}" + (f" ({self.integration_id})" if self.integration_id else "")
        if not self.changed:
            return f"{label}: up to date, nothing to write"
        head = f"{label}: {verb}{'create' if self.created else 'update'}"
        body = [line for change in self.changes for line in change.lines()]
        tail = [f"{'would send' if self.dry_run else 'sent'}: {', '.join(self.writes)}"]
        if self.conflicts:
            tail.append(f"recovered from {self.conflicts} version conflict(s) (409) by reading the config again")
        return "\n".join([head, *body, *tail])

    def document(self) -> dict[str, Any]:
        return {
            "integrationId": self.integration_id,
            "name": self.name,
            "created": self.created,
            "changed": self.changed,
            "dryRun": self.dry_run,
            "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in self.changes],
            "writes": self.writes,
            "conflicts": self.conflicts,
            "warnings": self.warnings,
            "orgId": self.org_id,
            "eventSourceName": self.event_source_name,
        }


def _show(value: Any) -> str:
    return "(unset)" if value is None else repr(value)


class _Api:
    """Status handling shared by every call: 403 names the permission, other unexpected answers are errors."""

    def __init__(self, client: GenesysApi) -> None:
        self.client = client

    def call(self, method: str, path: str, body: Any = None, *, ok: Sequence[int] = (200,)) -> tuple[int, Any]:
        status, document = self.client.request_json(method, path, body)
        if status in ok:
            return status, document
        if status == 403:
            raise MissingPermissionError(method, path.split("?", 1)[0], PERMISSIONS[method], _message(document))
        if status == 401:
            raise ConfigError(f"Genesys refused {method} {path.split('?', 1)[0]} (401): check the client credentials")
        if status >= 500:
            raise TransientError(f"Genesys {method} {path.split('?', 1)[0]}: HTTP {status}")
        raise IntegrationApiError(
            f"Genesys {method} {path.split('?', 1)[0]}: HTTP {status} {_message(document)}".rstrip()
        )


def _message(document: Any) -> str:
    if isinstance(document, dict):
        return ": ".join(str(document[k])[:200] for k in ("code", "message") if document.get(k))
    return ""


def _object(document: Any, what: str) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise IntegrationApiError(f"Genesys {what}: expected a JSON object")
    return document


def _config_path(integration_id: str) -> str:
    return f"/api/v2/integrations/{quote(integration_id, safe='')}/config/current"


def find_integration(api: _Api, suffix: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The integration of our type whose config has this `eventSourceSuffix` (with that config), from every page."""
    page = 1
    while True:
        _, document = api.call("GET", f"/api/v2/integrations?pageSize={PAGE_SIZE}&pageNumber={page}")
        listing = _object(document, "integrations list")
        entities = listing.get("entities") or []
        for entity in entities:
            if not isinstance(entity, dict) or entity.get("intendedState") == "DELETED":
                continue
            integration_type = entity.get("integrationType")
            if not isinstance(integration_type, dict) or integration_type.get("id") != INTEGRATION_TYPE:
                continue
            _, config = api.call("GET", _config_path(str(entity["id"])))
            properties = _object(config, "integration config").get("properties")
            if isinstance(properties, dict) and properties.get("eventSourceSuffix") == suffix:
                return entity, config
        page_count = listing.get("pageCount")
        if not entities or not isinstance(page_count, int) or page >= page_count:
            return None
        page += 1


def organization_id(client: GenesysApi) -> tuple[str | None, str | None]:
    """(the org id of the client's token, None) or (None, why not). The org names the partner event source;
    `connect` does its job without it, so a refusal is a warning, not an error."""
    status, document = client.request_json("GET", ORGANIZATION_PATH)
    org_id = document.get("id") if isinstance(document, dict) else None
    if status == 200 and isinstance(org_id, str) and org_id:
        return org_id, None
    why = f"HTTP {status} {_message(document)}".rstrip()
    return None, f"GET {ORGANIZATION_PATH}: {why}; the org id is the one Admin > Organization Settings shows"


def _diff(current: dict[str, Any], wanted: dict[str, Any]) -> list[Change]:
    changes = []
    for name in _PROPERTY_ORDER:
        old, new = current.get(name), wanted[name]
        same = sorted(old) == sorted(new) if isinstance(old, list) and isinstance(new, list) else old == new
        if not same:
            changes.append(Change(name, old, new))
    return changes


def connect(
    client: GenesysApi,
    request: ConnectRequest,
    *,
    dry_run: bool = False,
    max_conflict_retries: int = MAX_CONFLICT_RETRIES,
    on_step: Callable[[str], None] | None = None,
) -> ConnectResult:
    """Create or update the integration so that it holds `request`, and enable it."""
    warnings = request.validate()
    api = _Api(client)
    say = on_step or (lambda _message: None)
    wanted = request.properties()
    org_id, problem = organization_id(client)
    found = find_integration(api, request.suffix)
    result = ConnectResult(None, request.name, dry_run=dry_run, warnings=warnings, org_id=org_id, suffix=request.suffix)
    if problem:
        result.warnings.append(problem)

    if found is None:
        result.created = True
        result.changes = [*_diff({}, wanted), Change("intendedState", None, "ENABLED")]
        result.writes = [
            "POST /api/v2/integrations",
            "PUT /api/v2/integrations/{id}/config/current",
            "PATCH /api/v2/integrations/{id}",
        ]
        if dry_run:
            return result
        say(f"creating integration {request.name!r}")
        _, created = api.call(
            "POST", "/api/v2/integrations", {"integrationType": {"id": INTEGRATION_TYPE}, "name": request.name}
        )
        entity = _object(created, "created integration")
        result.integration_id = str(entity["id"])
        _, config = api.call("GET", _config_path(result.integration_id))
        _put_config(api, result, _object(config, "integration config"), wanted, max_conflict_retries, say)
        _enable(api, result, say)
        return result

    entity, config = found
    result.integration_id = str(entity["id"])
    result.name = str(entity.get("name") or request.name)
    current = _object(config, "integration config")
    result.changes = _diff(current.get("properties") or {}, wanted)
    if result.changes:
        result.writes.append("PUT /api/v2/integrations/{id}/config/current")
        if not dry_run:
            _put_config(api, result, current, wanted, max_conflict_retries, say)
    if entity.get("intendedState") != "ENABLED":
        result.changes.append(Change("intendedState", entity.get("intendedState"), "ENABLED"))
        result.writes.append("PATCH /api/v2/integrations/{id}")
        if not dry_run:
            _enable(api, result, say)
    return result


def _put_config(
    api: _Api,
    result: ConnectResult,
    config: dict[str, Any],
    wanted: dict[str, Any],
    max_conflict_retries: int,
    say: Callable[[str], None],
) -> None:
    """PUT with the version just read; on 409 someone saved in between: read again, and write only if still needed."""
    assert result.integration_id is not None
    path = _config_path(result.integration_id)
    for _attempt in range(max_conflict_retries + 1):
        properties = config.get("properties") if isinstance(config.get("properties"), dict) else {}
        if not _diff(properties or {}, wanted):
            return  # the concurrent edit already holds what we want
        body = {
            "name": config.get("name") or result.name,
            "version": config.get("version"),
            "properties": {**(properties or {}), **wanted},
            "advanced": config.get("advanced") or {},
            "notes": config.get("notes") or "Managed by gcevents connect",
            "credentials": config.get("credentials") or {},
        }
        say(f"writing config version {config.get('version')}")
        status, _ = api.call("PUT", path, body, ok=(200, 409))
        if status == 200:
            return
        result.conflicts += 1
        say("version conflict (409): reading the config again")
        _, fresh = api.call("GET", path)
        config = _object(fresh, "integration config")
    raise TransientError(
        f"Genesys config of integration {result.integration_id}: still 409 after {max_conflict_retries} re-reads"
    )


def _enable(api: _Api, result: ConnectResult, say: Callable[[str], None]) -> None:
    assert result.integration_id is not None
    say("enabling")
    api.call("PATCH", f"/api/v2/integrations/{quote(result.integration_id, safe='')}", {"intendedState": "ENABLED"})
