"""Every variable's type and range lives in the table (`gcevents.variables`), and a value out of it stops every
entry point at start, naming the variable and what it allows (issue 20, item 6)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gcevents import variables as v
from gcevents.adapters.genesys.settings import GenesysSettings
from gcevents.config import VARIABLES, Config, Variable, resolution
from gcevents.errors import ConfigError

BOUNDED = [variable for variable in VARIABLES if isinstance(variable.parse, v.Bounded)]
GENESYS = {"GENESYS_CLIENT_ID": "client-1", "GENESYS_CLIENT_SECRET": "s3cr3t-value", "GENESYS_REGION": "mypurecloud.ie"}


def _text(value: float, bounds: v.Bounded[Any]) -> str:
    return str(int(value)) if bounds.convert is v.integer else repr(float(value))


def test_every_number_of_the_table_has_a_range() -> None:
    numeric = [x.name for x in VARIABLES if isinstance(x.default, int | float) and not isinstance(x.default, bool)]
    assert sorted(numeric) == sorted(x.name for x in BOUNDED)
    assert len(BOUNDED) >= 20


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_a_number_in_range_is_taken_and_one_outside_is_refused_naming_the_variable_and_the_range(
    data: st.DataObject,
) -> None:
    variable: Variable[Any] = data.draw(st.sampled_from(BOUNDED))
    bounds = variable.parse
    assert isinstance(bounds, v.Bounded)
    high = bounds.high if bounds.high is not None else 1e9
    integral = bounds.convert is v.integer
    inside = (
        st.integers(math.ceil(bounds.low) + bounds.low_open, int(high))
        if integral
        else st.floats(bounds.low, high, exclude_min=bounds.low_open, allow_nan=False)
    )
    value = data.draw(inside)
    assert variable.read({variable.name: _text(value, bounds)}) == value

    below = (
        st.integers(max_value=math.ceil(bounds.low) - (not bounds.low_open))
        if integral
        else st.floats(max_value=bounds.low, exclude_max=not bounds.low_open, allow_nan=False, allow_infinity=False)
    )
    outside = [below, st.sampled_from(["nan", "inf", "-inf"] if not integral else ["1.5", "many"])]
    if bounds.high is not None:
        outside.append(st.integers(int(high) + 1) if integral else st.floats(min_value=high, exclude_min=True))
    text = data.draw(st.one_of(*outside).map(lambda x: x if isinstance(x, str) else _text(x, bounds)))
    with pytest.raises(ConfigError) as refused:
        variable.read({variable.name: text})
    assert str(refused.value).startswith(f"{variable.name}=")
    assert bounds.allowed in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("GCEVENTS_IDEMPOTENCY_TTL_DAYS", "-1", "GCEVENTS_IDEMPOTENCY_TTL_DAYS='-1': must be a number > 0"),
        ("GCEVENTS_IDEMPOTENCY_TTL_DAYS", "0", "GCEVENTS_IDEMPOTENCY_TTL_DAYS='0': must be a number > 0"),
        ("GCEVENTS_LOG_LEVEL", "LOUD", "GCEVENTS_LOG_LEVEL='LOUD': expected one of DEBUG, INFO, WARNING, ERROR"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL='LOUD': expected one of DEBUG"),
        ("GCEVENTS_STATE_TTL_DAYS", "0", "GCEVENTS_STATE_TTL_DAYS='0': must be an integer >= 1"),
        ("GCEVENTS_HANDLER_CONCURRENCY", "0", "must be an integer >= 1"),
        ("GCEVENTS_CLAIM_CONCURRENCY", "-3", "must be an integer >= 1"),
        ("GCEVENTS_DEADLINE_MARGIN", "-5", "must be a number > 0"),
        ("GCEVENTS_WEBHOOK_TIMEOUT", "0", "GCEVENTS_WEBHOOK_TIMEOUT='0': must be a number > 0"),
        ("GENESYS_API_BASE_URL", "ftp://sim", "GENESYS_API_BASE_URL='ftp://sim': expected an http(s)://HOST"),
        ("GENESYS_LOGIN_BASE_URL", "http://user:pw@sim", "GENESYS_LOGIN_BASE_URL='http://***@sim': credentials in"),
        ("GENESYS_CLIENT_SECRET_ARN", "secret-name", "GENESYS_CLIENT_SECRET_ARN='secret-name': not an ARN"),
        ("GCEVENTS_WEBHOOK_SECRET_ARN", "arn:x", "not an ARN"),
        ("GENESYS_REGION", "mypurecloud.xx", "GENESYS_REGION='mypurecloud.xx': not a Genesys Cloud region domain"),
        ("GENESYS_CLIENT_ID", "a,,b", "GENESYS_CLIENT_ID='a,,b': has an empty entry"),
        ("GENESYS_CLIENT_ID", "a,a", "lists a client id twice"),
        ("GENESYS_MAX_RETRIES", "-1", "GENESYS_MAX_RETRIES='-1': must be an integer >= 0"),
        ("GENESYS_BUDGET_SHARE", "0", "must be a number within (0, 1]"),
    ],
)
def test_a_bad_value_is_refused_at_start_naming_the_variable_and_what_it_allows(
    name: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env({**GENESYS, name: value})
    assert message in str(refused.value)


def test_a_variable_nothing_reads_yet_is_still_checked() -> None:
    """Enrichment off (no client id): a wrong Genesys value is refused now, not the day enrichment is turned on."""
    with pytest.raises(ConfigError, match="GENESYS_MAX_RETRIES='-1'"):
        Config.from_env({"GENESYS_MAX_RETRIES": "-1"})
    Config.from_env({"LOG_LEVEL": "chatty", "GCEVENTS_LOG_LEVEL": "INFO"})  # another tool's name, ours set: unread


def test_log_levels_are_taken_in_any_case_and_in_lambdas_spelling() -> None:
    assert Config.from_env({"GCEVENTS_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    assert Config.from_env({"LOG_LEVEL": "warn"}).log_level == "WARNING"


def test_settings_built_in_code_are_held_to_the_same_ranges() -> None:
    with pytest.raises(ConfigError, match=r"GENESYS_READ_TIMEOUT=0: must be a number > 0"):
        GenesysSettings.for_domain("mypurecloud.ie", client_id="a", client_secret="b", read_timeout=0)
    with pytest.raises(ConfigError, match="GENESYS_BUDGET_SHARE"):
        GenesysSettings.for_domain("mypurecloud.ie", client_id="a", client_secret="b", budget_share=2.0)
    with pytest.raises(ConfigError, match="GENESYS_API_BASE_URL"):
        GenesysSettings.for_base_url("sim:8080", client_id="a", client_secret="b")
    with pytest.raises(ConfigError) as refused:
        GenesysSettings.for_base_url("http://user:pa55@sim:8080", client_id="a", client_secret="b")
    assert "pa55" not in str(refused.value)


def test_a_secret_refused_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as refused:
        Config.from_env({"GCEVENTS_SINKS": "webhook:https://hooks.example.com/t/s3cr3t-token|nonsense!"})
    assert "s3cr3t" not in str(refused.value)


# ------------------------------------------------------------------------------------------------- config check
def test_config_check_shows_each_value_and_its_source_with_secrets_masked() -> None:
    sink = "webhook:https://hooks.example.com/t/s3cr3t-token"
    env = {
        **GENESYS,
        "GCEVENTS_DB": "x.db",
        "LOG_LEVEL": "debug",
        "GCEVENTS_SINKS": sink,
        "GCEVENTS_WEBHOOK_SECRET": "k3y",
    }
    rows, problems = resolution(env)
    assert problems == []
    by_name = {row.name: row for row in rows}
    assert set(by_name) == {variable.name for variable in VARIABLES}
    assert (by_name["GCEVENTS_DB"].value, by_name["GCEVENTS_DB"].source) == ("x.db", "env")
    assert (by_name["GCEVENTS_STATE_STORE"].value, by_name["GCEVENTS_STATE_STORE"].source) == (
        "sqlite:x.db",
        "derived (GCEVENTS_DB)",
    )
    assert (by_name["GCEVENTS_LOG_LEVEL"].value, by_name["GCEVENTS_LOG_LEVEL"].source) == ("DEBUG", "alias (LOG_LEVEL)")
    assert by_name["GENESYS_LOGIN_BASE_URL"].value == "https://login.mypurecloud.ie"
    assert by_name["GENESYS_LOGIN_BASE_URL"].source == "derived (GENESYS_REGION)"
    assert (by_name["GCEVENTS_LAG_RETRIES"].value, by_name["GCEVENTS_LAG_RETRIES"].source) == ("2", "default")
    assert by_name["GCEVENTS_LAG_RETRIES"].allowed == "an integer >= 0"
    assert by_name["GENESYS_CLIENT_SECRET"].value == "********"
    assert by_name["GCEVENTS_SINKS"].value == "webhook:hooks.example.com"
    assert "s3cr3t" not in repr(rows)
    assert "k3y" not in repr(rows)


def test_config_check_lists_every_problem_not_only_the_first() -> None:
    rows, problems = resolution({"GCEVENTS_IDEMPOTENCY_TTL_DAYS": "-1", "GCEVENTS_LOG_LEVEL": "LOUD"})
    assert problems == [
        "GCEVENTS_IDEMPOTENCY_TTL_DAYS='-1': must be a number > 0",
        "GCEVENTS_LOG_LEVEL='LOUD': expected one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
    ]
    assert {r.name: r.source for r in rows}["GCEVENTS_LOG_LEVEL"] == "env (refused)"
    rows, unread = resolution({"LOG_LEVEL": "chatty", "GCEVENTS_LOG_LEVEL": "INFO"})  # as Config.from_env: unread
    assert unread == []
    assert {r.name: r.source for r in rows}["LOG_LEVEL"] == "env (not read: GCEVENTS_LOG_LEVEL is set)"
    _, across = resolution({"GENESYS_CLIENT_ID": "a", "GENESYS_REGION": "mypurecloud.ie"})
    assert across == ["GENESYS_CLIENT_SECRET or GENESYS_CLIENT_SECRET_ARN must be set with GENESYS_CLIENT_ID"]


def test_the_cli_config_check_exits_78_on_a_problem_and_0_without(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from gcevents.entrypoints import cli

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GCEVENTS_IDEMPOTENCY_TTL_DAYS", "-1")
    assert cli.main(["config", "check"]) == 78
    out, err = capsys.readouterr()
    assert err == "gcevents: GCEVENTS_IDEMPOTENCY_TTL_DAYS='-1': must be a number > 0\n"
    assert "1 problem(s)" in out
    monkeypatch.setenv("GCEVENTS_IDEMPOTENCY_TTL_DAYS", "4")
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "s3cr3t-value")
    monkeypatch.setenv("GENESYS_CLIENT_ID", "client-1")
    monkeypatch.setenv("GENESYS_REGION", "mypurecloud.ie")
    assert cli.main(["config", "check", "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is True
    assert document["problems"] == []
    assert {"name": "GCEVENTS_IDEMPOTENCY_TTL_DAYS", "value": "4", "source": "env", "allowed": "a number > 0"} in (
        document["variables"]
    )
    assert "s3cr3t" not in json.dumps(document)
    assert not list(tmp_path.iterdir())  # checking creates nothing

    monkeypatch.setenv("GCEVENTS_HANDLERS", "no_such_module_4711:router")  # imported as a start would
    assert cli.main(["config", "check", "--json"]) == 78
    assert (
        "GCEVENTS_HANDLERS: cannot load 'no_such_module_4711:router'"
        in json.loads(capsys.readouterr().out)["problems"][0]
    )
