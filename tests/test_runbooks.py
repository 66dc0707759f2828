"""docs/runbooks.md has a section for every alarm of template.yaml: meaning, how to confirm (gcevents and AWS CLI
commands), what to do, when to escalate; and the alarms link to their section."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("**Meaning.**", "**Confirm.**", "**Act.**", "**Escalate**")


def alarms() -> list[str]:
    text = (ROOT / "template.yaml").read_text()
    return re.findall(r"^  (\w+):\n(?:    Condition: \w+\n)?    Type: AWS::CloudWatch::Alarm$", text, re.MULTILINE)


def sections() -> dict[str, str]:
    text = (ROOT / "docs" / "runbooks.md").read_text()
    parts = re.split(r"^## (\S+)\n", text, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def test_the_template_has_the_alarms_this_test_reads() -> None:
    assert {"DeadLetterQueueAlarm", "QueueAgeAlarm", "SinkDeliveryFailuresAlarm", "SinkCircuitOpenAlarm"} <= set(
        alarms()
    )


def test_every_runbook_is_an_alarm_of_the_template() -> None:
    assert set(sections()) == set(alarms())


@pytest.mark.parametrize("alarm", alarms())
def test_every_alarm_has_its_runbook(alarm: str) -> None:
    section = sections().get(alarm)
    assert section is not None, f"docs/runbooks.md has no '## {alarm}'"
    for part in PARTS:
        assert part in section, f"{alarm}: no {part}"
    confirm = section.split("**Confirm.**", 1)[1].split("**Act.**", 1)[0]
    assert "aws " in confirm, f"{alarm}: no AWS CLI command to confirm it"
    assert "gcevents " in section, f"{alarm}: no gcevents command"


@pytest.mark.parametrize("alarm", alarms())
def test_alarms_that_link_a_runbook_link_their_own(alarm: str) -> None:
    text = (ROOT / "template.yaml").read_text()
    block = text.split(f"\n  {alarm}:\n", 1)[1].split("\n\n", 1)[0]
    for anchor in re.findall(r"docs/runbooks\.md#(\w+)", block):
        assert anchor == alarm.lower()
