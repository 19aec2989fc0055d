from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from refinery.analysis.providers.openai_responses import OpenAISettings
from refinery.errors import ConfigError, MissingSecretError
from refinery.settings import parse_since
from refinery.wiring import load_settings

SECRET = "lsv2_pt_0123456789abcdef0123456789abcdef_0123456789"


def test_secrets_never_show_in_repr_str_or_json() -> None:
    settings = load_settings({"LANGSMITH_API_KEY": SECRET, "OPENAI_API_KEY": "sk-proj-" + "x" * 40})
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert SECRET not in text
        assert "sk-proj-" not in text
    assert settings.require_langsmith_key().get_secret_value() == SECRET


def test_validation_is_lazy_and_names_what_to_set() -> None:
    settings = load_settings({})  # no key at all is a valid configuration
    with pytest.raises(MissingSecretError) as info:
        settings.require_langsmith_key()
    message = info.value.one_line()
    assert "LANGSMITH_API_KEY" in message and "langsmith-api-key" in message
    assert "\n" not in message
    with pytest.raises(MissingSecretError, match="OPENAI_API_KEY"):
        settings.section(OpenAISettings).require_key()


def test_action_inputs_keep_hyphens_and_beat_env_empty_means_unset() -> None:
    env = {
        "LANGSMITH_API_KEY": "from-env",
        "INPUT_LANGSMITH-API-KEY": "from-input",
        "INPUT_MAX-TRACES": "",
        "INPUT_LANGSMITH-ENDPOINT": "https://ls.example.com/",
    }
    settings = load_settings(env)
    assert settings.require_langsmith_key().get_secret_value() == "from-input"
    assert settings.max_traces == 3
    assert settings.langsmith_endpoint == "https://ls.example.com"


def test_overrides_win_and_legacy_env_names_work() -> None:
    settings = load_settings({"LANGCHAIN_API_KEY": "legacy", "REFINERY_MAX_TRACES": "7"}, {"max_traces": 2})
    assert settings.require_langsmith_key().get_secret_value() == "legacy"
    assert settings.max_traces == 2


def test_invalid_value_names_its_source() -> None:
    with pytest.raises(ConfigError, match=r"INPUT_MAX-TRACES|max-traces"):
        load_settings({"INPUT_MAX-TRACES": "many"})
    with pytest.raises(ConfigError, match="REFINERY_MAX_SCORE"):
        load_settings({"REFINERY_MAX_SCORE": "low"})


def test_parse_since() -> None:
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    assert parse_since("6h", now=now) == now - timedelta(hours=6)
    assert parse_since("2d", now=now) == now - timedelta(days=2)
    assert parse_since("2026-11-01T00:00:00Z") == datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--since"):
        parse_since("yesterday")


@pytest.mark.parametrize(
    ("env", "where", "variable"),
    [
        ({"REFINERY_PROVIDER": "anthropic"}, "environment variable REFINERY_PROVIDER", "ANTHROPIC_API_KEY"),
        ({"INPUT_PROVIDER": "gemini"}, "action input `provider`", "GEMINI_API_KEY"),
    ],
)
def test_a_provider_chosen_without_its_key_is_an_error_naming_the_variable(
    env: dict[str, str], where: str, variable: str
) -> None:
    from refinery.errors import ConfigError
    from refinery.wiring import load_settings

    with pytest.raises(ConfigError) as refused:
        load_settings(env)
    line = refused.value.one_line()
    assert where in line and variable in line and "--offline" in line
    # Asking for triage alone is the way to have no stages, and no provider named stays the quiet default.
    assert load_settings(env, {"offline": True}).offline
    assert not load_settings({}).has_model_key
