from __future__ import annotations

import pickle

import pytest

from gcevents.adapters.genesys import GenesysSettings, Secret
from gcevents.config import genesys_settings_from_env
from gcevents.errors import ConfigError

BASE = {"GENESYS_CLIENT_ID": "client-1", "GENESYS_CLIENT_SECRET": "s3cr3t-value", "GENESYS_REGION": "mypurecloud.ie"}


def test_no_client_id_means_no_enrichment() -> None:
    assert genesys_settings_from_env({}) is None
    assert genesys_settings_from_env({"GENESYS_CLIENT_ID": "  ", "GENESYS_REGION": "mypurecloud.com"}) is None


def test_region_domain_gives_api_and_login_urls_and_defaults() -> None:
    settings = genesys_settings_from_env(BASE)
    assert settings is not None
    assert settings.api_base_url == "https://api.mypurecloud.ie"
    assert settings.login_base_url == "https://login.mypurecloud.ie"
    assert settings.token_url == "https://login.mypurecloud.ie/oauth/token"
    assert settings.domain == "mypurecloud.ie"
    assert (settings.bulk_chunk_size, settings.rate_per_minute, settings.max_concurrency) == (100, None, 4)
    assert settings.adaptive  # pacing follows the server unless a static rate is given
    assert (settings.api_limit, settings.budget_scope, settings.budget_share) == (300, "token", 1.0)


@pytest.mark.parametrize("region", ["usw2.pure.cloud", "https://api.usw2.pure.cloud/", "LOGIN.usw2.pure.cloud"])
def test_region_is_normalised(region: str) -> None:
    settings = genesys_settings_from_env({**BASE, "GENESYS_REGION": region})
    assert settings is not None
    assert settings.api_base_url == "https://api.usw2.pure.cloud"


def test_unknown_region_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a Genesys Cloud region"):
        genesys_settings_from_env({**BASE, "GENESYS_REGION": "mypurecloud.evil.example"})


def test_base_url_overrides() -> None:
    env = {**BASE, "GENESYS_API_BASE_URL": "http://127.0.0.1:9/", "GENESYS_LOGIN_BASE_URL": "http://127.0.0.1:8"}
    settings = genesys_settings_from_env(env)
    assert settings is not None
    assert (settings.api_base_url, settings.login_base_url) == ("http://127.0.0.1:9", "http://127.0.0.1:8")
    only_api = {k: v for k, v in BASE.items() if k != "GENESYS_REGION"} | {"GENESYS_API_BASE_URL": "http://sim:1"}
    settings = genesys_settings_from_env(only_api)
    assert settings is not None
    assert settings.login_base_url == "http://sim:1"  # the simulator serves both


def test_tuning_variables() -> None:
    env = {**BASE, "GENESYS_BULK_CHUNK": "25", "GENESYS_RATE_PER_MINUTE": "120", "GENESYS_MAX_CONCURRENCY": "2"}
    settings = genesys_settings_from_env(env)
    assert settings is not None
    assert (settings.bulk_chunk_size, settings.rate_per_minute, settings.max_concurrency) == (25, 120, 2)
    assert not settings.adaptive
    zero = genesys_settings_from_env({**BASE, "GENESYS_RATE_PER_MINUTE": "0"})
    assert zero is not None
    assert zero.rate_per_minute is None  # 0 is no override: adaptive, as the template passes it


def test_budget_variables() -> None:
    env = {
        **BASE,
        "GENESYS_BUDGET_SCOPE": "shared",
        "GENESYS_BUDGET_TABLE": "budget",
        "GENESYS_BUDGET_SHARE": "0.5",
        "GENESYS_API_LIMIT": "600",
    }
    settings = genesys_settings_from_env(env)
    assert settings is not None
    assert (settings.budget_scope, settings.budget_table, settings.budget_share, settings.api_limit) == (
        "shared",
        "budget",
        0.5,
        600,
    )
    with pytest.raises(ConfigError, match="GENESYS_BUDGET_SCOPE"):
        genesys_settings_from_env({**BASE, "GENESYS_BUDGET_SCOPE": "org"})
    with pytest.raises(ConfigError, match="GENESYS_BUDGET_SHARE"):
        genesys_settings_from_env({**BASE, "GENESYS_BUDGET_SHARE": "1.5"})
    with pytest.raises(ConfigError, match="GENESYS_RATE_PER_MINUTE"):
        genesys_settings_from_env({**BASE, "GENESYS_RATE_PER_MINUTE": "-1"})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"GENESYS_BULK_CHUNK": "many"}, "GENESYS_BULK_CHUNK"),
        ({"GENESYS_BULK_CHUNK": "0"}, "GENESYS_BULK_CHUNK='0': must be an integer >= 1"),
        ({"GENESYS_REGION": ""}, "GENESYS_REGION"),
        ({"GENESYS_CLIENT_SECRET": ""}, "GENESYS_CLIENT_SECRET"),
        ({"GENESYS_CLIENT_SECRET_ARN": "arn:aws:secretsmanager:us-east-1:1:secret:x"}, "not both"),
        ({"GENESYS_CLIENT_SECRET": "", "GENESYS_CLIENT_SECRET_ARN": "not-an-arn"}, "not an ARN"),
    ],
)
def test_invalid_configuration(changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        genesys_settings_from_env({**BASE, **changes})


def test_secret_never_shows() -> None:
    settings = genesys_settings_from_env(BASE)
    assert settings is not None
    for text in (repr(settings), str(settings), repr(settings.client_secret), f"{settings.client_secret}"):
        assert "s3cr3t-value" not in text
    assert settings.client_secret == Secret("s3cr3t-value")
    with pytest.raises(TypeError):
        pickle.dumps(settings.client_secret)


def test_secrets_of_several_clients_never_show() -> None:
    env = {
        **BASE,
        "GENESYS_CLIENT_ID": "client-1,client-2",
        "GENESYS_CLIENT_SECRET": '{"client-1": "s3cr3t-value", "client-2": "other-s3cr3t"}',
    }
    settings = genesys_settings_from_env(env)
    assert settings is not None
    assert settings.client_ids == ("client-1", "client-2")
    for text in (repr(settings), str(settings), repr(settings.client_secret)):
        assert "s3cr3t" not in text


def test_frozen() -> None:
    settings = GenesysSettings.for_domain("mypurecloud.com", client_id="a", client_secret="b")
    with pytest.raises(AttributeError):
        settings.client_id = "other"  # type: ignore[misc]


def test_an_api_url_override_alone_takes_the_token_request_along() -> None:
    """GENESYS_REGION set (as the template and the docs set it) and only the API URL overridden (a simulator, a
    proxy): the client credentials go to the override too, never to the real login host."""
    settings = genesys_settings_from_env({**BASE, "GENESYS_API_BASE_URL": "http://127.0.0.1:9/"})
    assert settings is not None
    assert settings.token_url == "http://127.0.0.1:9/oauth/token"
