"""`gcevents plan` prices the load it plans: a month at the steady rate, line by line, EventBridge included."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcevents.entrypoints import cli
from gcevents.ops.cost import HOURS_PER_MONTH
from gcevents.ops.plan import PlanInputs, compare, plan
from gcevents.ops.prices import PRICES

REFERENCE = ["--rate", "200", "--peak-rate", "5000", "--duration", "600"]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert cli.main(["plan", *args, "--json"]) == 0
    document: dict[str, Any] = json.loads(capsys.readouterr().out)
    return document


def lines(cost: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {line["item"]: line for line in cost["lines"]}


def test_the_json_has_a_monthly_bill_with_an_eventbridge_line(capsys: pytest.CaptureFixture[str]) -> None:
    cost = run(capsys, *REFERENCE)["monthly_cost"]
    events = 200 * HOURS_PER_MONTH * 3600
    assert cost["events_per_month"] == events
    eventbridge = lines(cost)["EventBridge partner events"]
    assert eventbridge["quantity"] == events
    assert eventbridge["usd"] == pytest.approx(events / 1e6 * 1.00, abs=0.01)
    assert {
        "SQS requests",
        "Lambda requests",
        "Lambda duration",
        "DynamoDB idempotency writes",
        "DynamoDB state writes",
        "CloudWatch Logs ingestion",
    } <= set(lines(cost))
    assert cost["total_usd"] == pytest.approx(sum(line["usd"] for line in cost["lines"]), abs=0.05)
    assert cost["usd_per_million_events"] == pytest.approx(cost["total_usd"] / events * 1e6, rel=1e-3)
    assert cost["prices_as_of"]


def test_compare_prices_both_modes_and_provisioned_pays_its_pollers(capsys: pytest.CaptureFixture[str]) -> None:
    document = run(capsys, *REFERENCE, "--compare")
    standard, provisioned = document["standard"], document["provisioned"]
    assert "provisioned pollers (MinimumPollers)" not in lines(standard["monthly_cost"])
    pollers = lines(provisioned["monthly_cost"])["provisioned pollers (MinimumPollers)"]
    assert pollers["usd"] == pytest.approx(provisioned["monthly_poller_cost"], abs=0.01)
    recommended = document["recommendation"]["poller_mode"]
    assert document["monthly_cost"] == document[recommended]["monthly_cost"]
    assert "EventBridge partner events" in lines(document["monthly_cost"])


def test_a_data_lake_adds_firehose_and_s3(capsys: pytest.CaptureFixture[str]) -> None:
    without = lines(run(capsys, *REFERENCE)["monthly_cost"])
    with_lake = lines(run(capsys, *REFERENCE, "--lake")["monthly_cost"])
    assert not any("Firehose" in item or "S3" in item for item in without)
    added = set(with_lake) - set(without)
    assert added == {
        "Firehose ingestion (data lake)",
        "S3 PUT (data lake)",
        "S3 storage (data lake, the month's records)",
    }
    assert with_lake["Firehose ingestion (data lake)"]["usd"] > 0


def test_the_text_output_prints_the_bill(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["plan", *REFERENCE]) == 0
    out = capsys.readouterr().out
    assert "monthly AWS bill at the steady rate" in out
    assert "EventBridge partner events" in out


def test_every_priced_item_is_in_the_price_table() -> None:
    for price in PRICES.values():
        assert price.usd > 0
        assert price.source.startswith("aws.amazon.com/")


@settings(max_examples=40, deadline=None)
@given(rate=st.floats(0.5, 2000), factor=st.floats(1.1, 10))
def test_the_bill_grows_with_the_rate(rate: float, factor: float) -> None:
    """More events never cost less (batches fill up, but every line but the pollers is per event or per batch)."""
    low = plan(PlanInputs(rate=rate, peak_rate=rate * 2, duration=60)).monthly
    high = plan(PlanInputs(rate=rate * factor, peak_rate=rate * factor * 2, duration=60)).monthly
    assert low is not None
    assert high is not None
    eventbridge = next(line for line in high.lines if line.item == "EventBridge partner events")
    assert eventbridge.usd == pytest.approx(rate * factor * HOURS_PER_MONTH * 3600 / 1e6)
    assert high.total >= low.total * 0.999
    assert compare(PlanInputs(rate=rate, peak_rate=rate * 2, duration=60)).standard.monthly is not None
