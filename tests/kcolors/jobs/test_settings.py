import pytest

from kcolors import defaults
from kcolors.errors import InvalidConfiguration
from kcolors.jobs.settings import Settings


def test_defaults_without_environment():
    settings = Settings.from_env({})
    assert settings.broker_url is None
    assert settings.storage_url == defaults.STORAGE_URL
    assert settings.max_pixels == 50_000_000


def test_environment_values_are_parsed_to_field_types():
    settings = Settings.from_env(
        {
            "KCOLORS_BROKER_URL": "redis://127.0.0.1:7000/0",
            "KCOLORS_MAX_PIXELS": "1000",
            "KCOLORS_API_TOKENS": "a, b,,c",
            "UNRELATED": "x",
        }
    )
    assert settings.broker_url == "redis://127.0.0.1:7000/0"
    assert settings.max_pixels == 1000
    assert settings.api_tokens == ("a", "b", "c")


def test_overrides_win_over_environment():
    settings = Settings.from_env({"KCOLORS_MAX_PIXELS": "1000"}, max_pixels=5)
    assert settings.max_pixels == 5


def test_bad_integer_names_the_variable():
    with pytest.raises(InvalidConfiguration, match="KCOLORS_MAX_PIXELS"):
        Settings.from_env({"KCOLORS_MAX_PIXELS": "lots"})


def test_visibility_timeout_must_exceed_hard_limit():
    rule = "KCOLORS_VISIBILITY_TIMEOUT=5 must be more than KCOLORS_HARD_TIME_LIMIT=10"
    with pytest.raises(InvalidConfiguration, match=rule):
        Settings.from_env(
            {
                "KCOLORS_HARD_TIME_LIMIT": "10",
                "KCOLORS_VISIBILITY_TIMEOUT": "5",
                "KCOLORS_SOFT_TIME_LIMIT": "1",
            }
        )


def test_secrets_are_not_in_repr():
    settings = Settings(api_tokens=("s3cret",), secret_key="k3y")
    assert "s3cret" not in repr(settings) and "k3y" not in repr(settings)


def test_an_empty_rate_limit_turns_the_limit_off_through_the_environment():
    """README: `KCOLORS_RATE_LIMIT=""` for no limit. It reached the processes `kcolors up` and
    the tests start as the default 120/minute, since empty variables read as unset."""
    assert Settings.from_env({"KCOLORS_RATE_LIMIT": ""}).rate_limit == ""
    assert Settings.from_env(Settings(rate_limit="").to_env()).rate_limit == ""
    # Elsewhere an empty variable still means "unset": the default.
    assert Settings.from_env({"KCOLORS_SOURCE_PREFIX": ""}).source_prefix == "uploads/"
