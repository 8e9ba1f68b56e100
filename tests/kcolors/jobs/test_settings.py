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
    assert settings.tokens() == ("a", "b", "c")


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


def test_every_bad_variable_is_named_at_once_with_its_rule():
    """One line per bad variable (typed parsing and bounds by pydantic), not the first only."""
    with pytest.raises(InvalidConfiguration) as caught:
        Settings.from_env(
            {
                "KCOLORS_MAX_PIXELS": "lots",
                "KCOLORS_STORAGE_RETRIES": "-1",
                "KCOLORS_RETENTION_DAYS": "nan",
                "KCOLORS_MAX_UPLOAD_BYTES": "0",
                "KCOLORS_SEED_OF_DOOM": "ignored: not a setting, not ours to judge",
            }
        )
    message = caught.value.message
    assert "KCOLORS_MAX_PIXELS='lots' must be a whole number" in message
    assert "KCOLORS_STORAGE_RETRIES='-1' must be 0 or more" in message
    assert "KCOLORS_RETENTION_DAYS='nan' must be a finite number" in message
    assert "KCOLORS_MAX_UPLOAD_BYTES='0' must be more than 0" in message
    assert message.count("; ") == 3 and "SEED_OF_DOOM" not in message


@pytest.mark.parametrize("raw", ["\uff11\uff10", "1_000", "10.0", "1e3", " x"])
def test_numbers_are_plain_ascii_digits(raw):
    """int() takes Unicode digits and underscores; a setting does not."""
    with pytest.raises(InvalidConfiguration, match="KCOLORS_MAX_K_VALUES"):
        Settings.from_env({"KCOLORS_MAX_K_VALUES": raw})


def test_secrets_never_show_but_reach_child_processes():
    settings = Settings.from_env({"KCOLORS_API_TOKENS": "t0ken-a,t0ken-b",
                                  "KCOLORS_SECRET_KEY": "k3y-0123"})  # fmt: skip
    shown = repr(settings) + str(settings.model_dump()) + str(settings)
    assert "t0ken" not in shown and "k3y" not in shown
    assert settings.tokens() == ("t0ken-a", "t0ken-b") and settings.secret() == "k3y-0123"
    env = settings.to_env()
    assert (
        env["KCOLORS_API_TOKENS"] == "t0ken-a,t0ken-b" and env["KCOLORS_SECRET_KEY"] == "k3y-0123"
    )
    assert Settings.from_env(env) == settings
    with pytest.raises(InvalidConfiguration) as caught:
        Settings.from_env({"KCOLORS_SECRET_KEY": "k3y-0123", "KCOLORS_API_TOKENS": "x",
                           "KCOLORS_LOG_FORMAT": "xml"})  # fmt: skip
    assert "k3y" not in caught.value.message
