"""The configuration resolver: one table of variables, one rule for empty values, the README in agreement, and
no module but `gcevents.config` reading the environment."""

from __future__ import annotations

import ast
import dataclasses
import re
from pathlib import Path

import pytest

from gcevents import variables
from gcevents.adapters.genesys.settings import GenesysSettings
from gcevents.config import (
    VARIABLES,
    Config,
    StoreSpec,
    Variable,
    genesys_settings_from_env,
    markdown_table,
    pipeline_settings_from_env,
)
from gcevents.core.pipeline import PipelineSettings
from gcevents.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src" / "gcevents"
NAMES = {variable.name for variable in VARIABLES}
GENESYS = {"GENESYS_CLIENT_ID": "client-1", "GENESYS_CLIENT_SECRET": "s3cr3t-value", "GENESYS_REGION": "mypurecloud.ie"}
LAMBDA = {
    "AWS_LAMBDA_FUNCTION_NAME": "gcevents",
    "GCEVENTS_IDEMPOTENCY_STORE": "dynamodb:idem",
    "GCEVENTS_STATE_STORE": "dynamodb:state",
    "GCEVENTS_DLQ": "sqs:https://sqs.us-east-1.amazonaws.com/123456789012/dlq",
}


# ------------------------------------------------------------------------------------------------- the table
def test_the_table_lists_each_variable_once_under_its_own_name() -> None:
    assert len(NAMES) == len(VARIABLES)
    declared = {name: value for name, value in vars(variables).items() if isinstance(value, Variable)}
    assert set(declared) == NAMES  # every declared variable is in the table ...
    assert all(value.name == name for name, value in declared.items())  # ... under the name it is read by


def test_every_variable_named_in_the_source_or_the_template_is_in_the_table() -> None:
    pattern = re.compile(r"\b(?:GCEVENTS|GENESYS)_[A-Z][A-Z_]*\b")
    mentioned = {name for path in SRC.rglob("*.py") for name in pattern.findall(path.read_text())}
    mentioned |= set(pattern.findall((ROOT / "template.yaml").read_text()))
    assert mentioned - NAMES == set()


# A value other than the default for each variable, and the variable it replaces in GENESYS (if any).
CHANGES = {
    "GCEVENTS_IDEMPOTENCY_STORE": "memory",
    "GCEVENTS_STATE_STORE": "off",
    "GCEVENTS_DLQ": "memory",
    "GCEVENTS_DB": "other.db",
    "GCEVENTS_ALLOWED_SOURCES": "a/",
    "GCEVENTS_HANDLERS": "pkg.module:router",
    "GCEVENTS_ENRICH_KINDS": "conversation.acw",
    "GCEVENTS_LAG_RETRIES": "7",
    "GCEVENTS_LAG_RETRY_DELAY": "7",
    "GCEVENTS_DEADLINE_MARGIN": "7",
    "GCEVENTS_HANDLER_CONCURRENCY": "7",
    "GCEVENTS_IDEMPOTENCY_TTL_DAYS": "7",
    "GCEVENTS_STATE_TTL_DAYS": "7",
    "GCEVENTS_CLAIM_CONCURRENCY": "7",
    "GCEVENTS_CLAIM_MODE": "transaction",
    "GCEVENTS_CLOCK_SKEW_MARGIN": "7",
    "GCEVENTS_LOG_LEVEL": "DEBUG",
    "GCEVENTS_METRICS_NAMESPACE": "other",
    "GENESYS_CLIENT_ID": "client-2",
    "GCEVENTS_SERVICE_NAME": "other",
    "GCEVENTS_TRACING": "xray",
    "LOG_LEVEL": "DEBUG",
    "AWS_LAMBDA_LOG_LEVEL": "DEBUG",
    "POWERTOOLS_LOG_LEVEL": "DEBUG",
    "POWERTOOLS_METRICS_NAMESPACE": "other",
    "POWERTOOLS_SERVICE_NAME": "other",
    "GENESYS_CLIENT_SECRET": "other",
    "GENESYS_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    "GENESYS_REGION": "mypurecloud.de",
    "GENESYS_DOMAIN": "mypurecloud.de",
    "GENESYS_API_BASE_URL": "http://sim:1",
    "GENESYS_LOGIN_BASE_URL": "http://sim:2",
    "GENESYS_BULK_CHUNK": "7",
    "GENESYS_RATE_PER_MINUTE": "7",
    "GENESYS_MAX_CONCURRENCY": "7",
    "GENESYS_CONNECT_TIMEOUT": "7",
    "GENESYS_READ_TIMEOUT": "7",
    "GENESYS_MAX_RETRIES": "7",
    "GENESYS_MAX_WAIT": "7",
    "GENESYS_API_LIMIT": "7",
    "GENESYS_BUDGET_SCOPE": "shared",
    "GENESYS_BUDGET_TABLE": "budget",
    "GENESYS_BUDGET_SHARE": "0.5",
    "GCEVENTS_SINKS": "firehose:lake",
    "GCEVENTS_WEBHOOK_SECRET": "x",
    "GCEVENTS_WEBHOOK_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    "GCEVENTS_WEBHOOK_TIMEOUT": "7",
    "GCEVENTS_WEBHOOK_CONCURRENCY": "7",
    "GCEVENTS_WEBHOOK_BREAKER": "7",
    "GCEVENTS_WEBHOOK_BREAKER_SECONDS": "7",
    "GCEVENTS_COMPLETION_GRACE": "7",
    "GCEVENTS_CHECK_QUEUE": "sqlite:checks.db",
    "GCEVENTS_FACT_KEYS_AFTER": "7",
    "GCEVENTS_WEBHOOK_ALLOW_LOOPBACK": "true",
    "GCEVENTS_ATTRIBUTES": "none",
    "GCEVENTS_ATTRIBUTES_HASH_KEY": "k",
    "GCEVENTS_ATTRIBUTES_HASH_KEY_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:k",
    "GCEVENTS_DLQ_BUCKET": "dlq-bodies",
}
REPLACES = {"GENESYS_CLIENT_SECRET_ARN": "GENESYS_CLIENT_SECRET", "GENESYS_DOMAIN": "GENESYS_REGION"}


@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
def test_every_variable_in_the_table_is_read(variable: Variable[object]) -> None:
    """No row documents nothing: setting the variable changes the resolved configuration."""
    base = GENESYS if variable.name.startswith("GENESYS_") else {}
    changed = {k: v for k, v in base.items() if k != REPLACES.get(variable.name)}
    assert Config.from_env({**changed, variable.name: CHANGES[variable.name]}) != Config.from_env(base)


def test_defaults_of_the_table_are_the_defaults_of_the_settings_objects() -> None:
    assert Config.from_env({}) == Config()
    assert pipeline_settings_from_env({}) == PipelineSettings()
    from_env = genesys_settings_from_env(GENESYS)
    assert from_env == GenesysSettings.for_domain("mypurecloud.ie", client_id="client-1", client_secret="s3cr3t-value")


def test_values_are_parsed_into_their_types() -> None:
    config = Config.from_env(
        {
            "GCEVENTS_DB": "/tmp/x.db",
            "GCEVENTS_DLQ": "memory",
            "GCEVENTS_ALLOWED_SOURCES": " a/ , b/ ,",
            "GCEVENTS_ENRICH_KINDS": "conversation.acw",
            "GCEVENTS_LAG_RETRY_DELAY": "1.5",
            "GCEVENTS_IDEMPOTENCY_TTL_DAYS": "0.5",
            "GCEVENTS_CLAIM_CONCURRENCY": " 4 ",
            **GENESYS,
            "GENESYS_READ_TIMEOUT": "2.5",
        }
    )
    assert config.idempotency_store == StoreSpec("sqlite", "/tmp/x.db")
    assert config.dead_letters == StoreSpec("memory")
    assert config.pipeline.allowed_sources == ("a/", "b/")
    assert config.pipeline.enrich_kinds == frozenset({"conversation.acw"})
    assert config.pipeline.lag_retry_delay == 1.5
    assert config.idempotency_ttl_seconds == 43200
    assert config.claim_concurrency == 4
    assert config.genesys is not None
    assert config.genesys.read_timeout == 2.5


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GCEVENTS_LAG_RETRIES": "two"}, "GCEVENTS_LAG_RETRIES='two': not an integer"),
        ({"GCEVENTS_DEADLINE_MARGIN": "soon"}, "GCEVENTS_DEADLINE_MARGIN='soon': not a number"),
        ({"GCEVENTS_DLQ": "dynamodb:t"}, "GCEVENTS_DLQ='dynamodb:t': expected one of sqs:..., sqlite:..., memory"),
        ({"GCEVENTS_STATE_STORE": "sqlite:"}, "GCEVENTS_STATE_STORE='sqlite:': sqlite needs a target"),
        ({"GCEVENTS_CLAIM_MODE": "batch"}, "GCEVENTS_CLAIM_MODE='batch': expected one of per_key, transaction"),
        ({**GENESYS, "GENESYS_MAX_RETRIES": "x"}, "GENESYS_MAX_RETRIES='x'"),
    ],
)
def test_a_wrong_value_names_its_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        Config.from_env(env)


# ------------------------------------------------------------------------------------------------- empty values
@pytest.mark.parametrize("variable", VARIABLES, ids=lambda v: v.name)
@pytest.mark.parametrize("empty", ["", "  ", "\t"])
def test_an_empty_value_is_the_default(variable: Variable[object], empty: str) -> None:
    for base in ({}, GENESYS, LAMBDA, {**LAMBDA, **GENESYS}):
        if variable.name in base and variable.name != "GENESYS_CLIENT_SECRET":
            continue  # emptying a variable the base sets is not "the default": covered below
        unset = {k: v for k, v in base.items() if k != variable.name}
        try:
            expected: Config | str = Config.from_env(unset)
        except ConfigError as exc:
            expected = str(exc)
        try:
            got: Config | str = Config.from_env({**unset, variable.name: empty})
        except ConfigError as exc:
            got = str(exc)
        assert got == expected


def test_empty_stores_in_lambda_are_unset_and_refused() -> None:
    with pytest.raises(ConfigError, match="GCEVENTS_STATE_STORE must be set in Lambda"):
        Config.from_env({**LAMBDA, "GCEVENTS_STATE_STORE": " "})
    assert Config.from_env({"AWS_LAMBDA_FUNCTION_NAME": "", "GCEVENTS_DB": "x.db"}).state_store == StoreSpec(
        "sqlite", "x.db"
    )


def test_an_empty_client_id_turns_enrichment_off_and_an_empty_region_falls_back_to_the_alias() -> None:
    assert Config.from_env({**GENESYS, "GENESYS_CLIENT_ID": " "}).genesys is None
    settings = genesys_settings_from_env({**GENESYS, "GENESYS_REGION": "", "GENESYS_DOMAIN": "mypurecloud.de"})
    assert settings is not None
    assert settings.api_base_url == "https://api.mypurecloud.de"


# ------------------------------------------------------------------------------------------------- secrets
def test_secrets_never_show_in_the_configuration() -> None:
    config = Config.from_env({**GENESYS, "GENESYS_CLIENT_SECRET": " s3cr3t-value "})
    assert config.genesys is not None
    assert config.genesys.client_secret is not None
    assert config.genesys.client_secret.reveal() == " s3cr3t-value "  # secrets are taken as given
    assert "s3cr3t" not in repr(config)
    assert "s3cr3t" not in str(config)
    assert not hasattr(config, "env")  # the whole environment is not kept


# ------------------------------------------------------------------------------------------------- README
def _readme_rows() -> dict[str, str]:
    text = (ROOT / "README.md").read_text()
    rows: dict[str, str] = {}
    for line in text.splitlines():
        names = r"(?:GCEVENTS|GENESYS|POWERTOOLS)_[A-Z_]+|AWS_LAMBDA_LOG_LEVEL|LOG_LEVEL"
        match = re.fullmatch(rf"\| `({names})` \|(.*?)\|(.*)\|", line)
        if match:
            assert match.group(1) not in rows, f"README lists {match.group(1)} twice"
            rows[match.group(1)] = match.group(2).strip()
    return rows


def test_the_readme_table_lists_exactly_the_variables_of_the_code() -> None:
    rows = _readme_rows()
    assert sorted(NAMES - set(rows)) == [], "variables missing from README.md (paste `gcevents config`)"
    assert sorted(set(rows) - NAMES) == [], "README.md documents variables the code does not read"


def test_the_readme_shows_the_defaults_of_the_code() -> None:
    rows = _readme_rows()
    assert {v.name: v.default_cell() for v in VARIABLES} == rows
    assert markdown_table() in (ROOT / "README.md").read_text()


# ------------------------------------------------------------------------------------------------- os.environ
ENVIRONMENT_READERS = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}
# The test kit's moto server sets MOTO_PORT for moto itself (as `moto_server` does); it is no configuration. The
# test kit's `run(env=...)` sets a test's environment for the handlers of the run (and restores it): it writes the
# environment a deployment would have, it reads no configuration from it.
ALLOWED = {"config.py", "testing/moto.py", "testing/kit.py"}


def _reads_environment(node: ast.AST) -> bool:
    if isinstance(node, ast.Attribute):
        return node.attr in ENVIRONMENT_READERS and isinstance(node.value, ast.Name) and node.value.id == "os"
    if isinstance(node, ast.ImportFrom):
        return node.module == "os" and any(alias.name in ENVIRONMENT_READERS for alias in node.names)
    return False


def _environment_access(path: Path) -> list[int]:
    tree = ast.parse(path.read_text(), str(path))
    return [getattr(node, "lineno", 0) for node in ast.walk(tree) if _reads_environment(node)]


def test_only_the_resolver_reads_the_environment() -> None:
    found = {
        f"{path.relative_to(SRC).as_posix()}:{line}"
        for path in SRC.rglob("*.py")
        if path.relative_to(SRC).as_posix() not in ALLOWED
        for line in _environment_access(path)
    }
    assert found == set()
    assert _environment_access(SRC / "config.py")  # the scan itself finds what it looks for


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().log_level = "DEBUG"  # type: ignore[misc]
