"""Settings resolution: argument > BELLWATCH_* > default, validated at configure time."""

from __future__ import annotations

import pytest

from bellwatch import _settings
from bellwatch._settings import ConfigError, resolve


class TestPrecedence:
    def test_default_when_nothing_is_set(self) -> None:
        """With no argument and no env var the documented default applies."""
        assert resolve({}).max_line == 200

    def test_env_beats_default(self) -> None:
        """BELLWATCH_MAX_LINE overrides the default."""
        assert resolve({"BELLWATCH_MAX_LINE": "300"}).max_line == 300

    def test_argument_beats_env(self) -> None:
        """An explicit argument wins over the environment."""
        assert resolve({"BELLWATCH_MAX_LINE": "300"}, max_line=150).max_line == 150

    def test_dev_env_defaults_to_debug(self) -> None:
        """BELLWATCH_ENV=dev lowers the default level to DEBUG."""
        assert resolve({"BELLWATCH_ENV": "dev"}).level == "DEBUG"

    def test_dev_env_keeps_an_explicit_level(self) -> None:
        """An explicit level is kept in dev."""
        assert resolve({"BELLWATCH_ENV": "dev", "BELLWATCH_LEVEL": "warning"}).level == "WARNING"

    def test_lists_are_comma_separated(self) -> None:
        """List settings read comma-separated env values, lowercased."""
        s = resolve({"BELLWATCH_REDACT_KEYS": "X-Secret, pin"})
        assert s.redact_keys == ("x-secret", "pin")


class TestValidation:
    @pytest.mark.parametrize(
        ("env", "needle"),
        [
            ({"BELLWATCH_MAX_LINE": "abc"}, "BELLWATCH_MAX_LINE"),
            ({"BELLWATCH_MAX_LINE": "20"}, "BELLWATCH_MAX_LINE"),
            ({"BELLWATCH_LEVEL": "LOUD"}, "BELLWATCH_LEVEL"),
            ({"BELLWATCH_ENV": "staging"}, "BELLWATCH_ENV"),
            ({"BELLWATCH_LOG_FILE": "maybe"}, "BELLWATCH_LOG_FILE"),
        ],
    )
    def test_bad_env_value_names_the_variable(self, env: dict[str, str], needle: str) -> None:
        """A bad environment value raises ConfigError naming the variable."""
        with pytest.raises(ConfigError, match=needle):
            resolve(env)

    def test_bad_argument_names_the_key(self) -> None:
        """A bad argument raises ConfigError naming the keyword."""
        with pytest.raises(ConfigError, match="slow_threshold"):
            resolve({}, slow_threshold="soon")

    @pytest.mark.parametrize("token", ["   ", "", "\t"])
    def test_blank_metrics_token_is_refused(self, token: str) -> None:
        """An empty or blank token would leave /metrics open; it fails at configure time."""
        with pytest.raises(ConfigError, match="BELLWATCH_METRICS_TOKEN"):
            resolve({"BELLWATCH_METRICS_TOKEN": token})

    def test_unknown_key_is_refused(self) -> None:
        """A misspelt setting is an error, not silently ignored."""
        with pytest.raises(ConfigError, match="max_lines"):
            resolve({}, max_lines=100)

    def test_every_setting_has_an_env_name(self) -> None:
        """Each setting is reachable as BELLWATCH_<NAME>."""
        assert _settings.env_name("redis_url") == "BELLWATCH_REDIS_URL"
