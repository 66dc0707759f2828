"""EventBridge archive replays for `gcevents replay` (StartReplay / DescribeReplay).

A replay re-delivers archived events of a time window to rules of the archive's bus (`Destination.FilterArns`);
each replayed event carries a top-level `replay-name`, which neither our parser nor our content keys read, so a
replayed event is the same event: idempotency makes every one already processed a DUPLICATE and runs the others.

StartReplay filters by rule only. For `--topic`, a temporary rule is put on the bus: the stack's rule's pattern
narrowed to those topics and to `"replay-name": [this replay]` (so live events never match it), with the stack's
rule's own targets (the queue, its retry policy and DLQ). The template lets rules named `gcevents-replay-*` on the
bus send to the queues when the archive is on. The temporary rule is deleted once the replay has ended
(`wait`, or `finish` from `gcevents replay --status NAME`)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gcevents.adapters.aws import translate
from gcevents.core.times import iso_z
from gcevents.errors import ConfigError

REPLAY_PREFIX = "gcevents-replay-"  # replay names, and the temporary rules named after them
TOPIC_PREFIX = "v2.detail.events.conversation.{id}."
ENDED_STATES = frozenset({"COMPLETED", "CANCELLED", "FAILED"})


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    archive: str  # name or ARN
    rule: str  # the stack's rule: ARN (or name, with `bus`)
    start: datetime
    end: datetime
    topics: tuple[str, ...] = ()  # detail-type patterns, or their short form (`customer.end`)
    bus: str | None = None  # only needed when `rule` is a name on a bus other than the archive's


@dataclass(slots=True)
class ReplayStatus:
    name: str
    state: str
    start: datetime | None = None
    end: datetime | None = None
    last_replayed: datetime | None = None
    rules: list[str] = field(default_factory=list)
    reason: str | None = None

    @property
    def progress(self) -> float:
        """Share of the window replayed (EventLastReplayedTime between EventStartTime and EventEndTime)."""
        if self.state == "COMPLETED":
            return 1.0
        if not (self.start and self.end and self.last_replayed) or self.end <= self.start:
            return 0.0
        return max(0.0, min(1.0, (self.last_replayed - self.start) / (self.end - self.start)))

    def as_dict(self) -> dict[str, Any]:
        return {
            "replayName": self.name,
            "state": self.state,
            "progress": round(self.progress, 4),
            "eventStartTime": _iso(self.start),
            "eventEndTime": _iso(self.end),
            "eventLastReplayedTime": _iso(self.last_replayed),
            "rules": self.rules,
            "reason": self.reason,
        }


class EventBridgeReplays:
    """Over a boto3 `events` client. Errors come out as gcevents errors (ConfigError: a name that does not exist,
    access denied)."""

    def __init__(self, client: Any, *, sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self._sleep = sleep

    def start(self, request: ReplayRequest, *, name: str | None = None) -> ReplayStatus:
        archive = self._call("describe_archive", ArchiveName=request.archive.rsplit("/", 1)[-1])
        bus_arn = str(archive["EventSourceArn"])
        rule = self._call("describe_rule", **_rule_ref(request.rule, request.bus))
        name = name or f"{REPLAY_PREFIX}{datetime.now(tz=UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(2)}"
        rules = [str(rule["Arn"])]
        if request.topics:
            rules = [self._temporary_rule(name, rule, request.topics)]
        self._call(
            "start_replay",
            ReplayName=name,
            EventSourceArn=str(archive["ArchiveArn"]),
            EventStartTime=request.start,
            EventEndTime=request.end,
            Destination={"Arn": bus_arn, "FilterArns": rules},
            Description=f"gcevents replay{' of ' + ', '.join(request.topics) if request.topics else ''}"[:512],
        )
        return self.status(name)

    def status(self, name: str) -> ReplayStatus:
        found = self._call("describe_replay", ReplayName=name)
        return ReplayStatus(
            name=name,
            state=str(found.get("State", "UNKNOWN")),
            start=_utc(found.get("EventStartTime")),
            end=_utc(found.get("EventEndTime")),
            last_replayed=_utc(found.get("EventLastReplayedTime")),
            rules=list(found.get("Destination", {}).get("FilterArns", [])),
            reason=found.get("StateReason"),
        )

    def wait(
        self, name: str, *, poll: float = 10.0, on_progress: Callable[[ReplayStatus], None] | None = None
    ) -> ReplayStatus:
        """Until the replay has ended (reporting each poll), then `finish` it."""
        while True:
            status = self.status(name)
            if on_progress is not None:
                on_progress(status)
            if status.state in ENDED_STATES:
                self.finish(status)
                return status
            self._sleep(poll)

    def finish(self, status: ReplayStatus) -> bool:
        """Delete the replay's temporary rule once the replay has ended. True when one was deleted."""
        if status.state not in ENDED_STATES or not status.name.startswith(REPLAY_PREFIX):
            return False
        for arn in status.rules:
            bus, _, rule_name = arn.partition(":rule/")[2].rpartition("/")
            if rule_name != status.name:
                continue  # the stack's own rule: never ours to delete
            targets = self._call("list_targets_by_rule", Rule=rule_name, EventBusName=bus or "default")["Targets"]
            if targets:
                ids = [t["Id"] for t in targets]
                self._call("remove_targets", Rule=rule_name, EventBusName=bus or "default", Ids=ids)
            self._call("delete_rule", Name=rule_name, EventBusName=bus or "default")
            return True
        return False

    def _temporary_rule(self, name: str, rule: dict[str, Any], topics: Sequence[str]) -> str:
        pattern = json.loads(rule.get("EventPattern") or "{}")
        routed = pattern.get("detail-type")
        wanted = [t if t.startswith("v2.") else TOPIC_PREFIX + t for t in topics]
        if isinstance(routed, list) and (outside := [t for t in wanted if t not in routed]):
            raise ConfigError(f"--topic {outside[0]!r} is not a topic the rule routes (its archive has none)")
        pattern["detail-type"] = wanted
        pattern["replay-name"] = [name]  # live events never match this rule
        bus = str(rule.get("EventBusName") or "default")
        created = self._call(
            "put_rule",
            Name=name,
            EventBusName=bus,
            EventPattern=json.dumps(pattern),
            State="ENABLED",
            Description=f"gcevents replay {name}: deleted when the replay ends",
        )
        targets = self._call("list_targets_by_rule", Rule=str(rule["Name"]), EventBusName=bus)["Targets"]
        answer = self._call("put_targets", Rule=name, EventBusName=bus, Targets=targets)
        if answer.get("FailedEntryCount"):
            raise ConfigError(f"could not give the replay rule its targets: {answer.get('FailedEntries')}")
        return str(created["RuleArn"])

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            answer: dict[str, Any] = getattr(self.client, operation)(**kwargs)
        except Exception as exc:
            raise translate(exc, f"eventbridge {operation}") from exc
        return answer


def _rule_ref(rule: str, bus: str | None) -> dict[str, str]:
    """DescribeRule's arguments for a rule ARN (`...:rule/<bus>/<name>`, or `...:rule/<name>` on the default bus)
    or a name (on `bus`)."""
    if ":rule/" in rule:
        path = rule.partition(":rule/")[2]
        bus_name, _, name = path.rpartition("/")
        return {"Name": name, "EventBusName": bus_name or "default"}
    return {"Name": rule, **({"EventBusName": bus} if bus else {})}


def _utc(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def _iso(moment: datetime | None) -> str | None:
    return iso_z(moment, "auto") if moment else None
