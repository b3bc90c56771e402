"""Settings resolution: argument > BELLWATCH_* > default, validated at configure time."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

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

    @pytest.mark.parametrize(
        ("given", "level"),
        [(10, "DEBUG"), (logging.WARNING, "WARNING"), ("20", "INFO"), ("warn", "WARNING"),
         ("fatal", "CRITICAL"), (" error ", "ERROR")],
    )  # fmt: skip
    def test_level_takes_the_standard_librarys_numbers_and_aliases(
        self, given: object, level: str
    ) -> None:
        """configure(level=logging.DEBUG) works as level="DEBUG" does, as do WARN and FATAL."""
        assert resolve({}, level=given).level == level

    @pytest.mark.parametrize("given", [25, True, "verbose"])
    def test_level_refuses_what_no_level_is(self, given: object) -> None:
        """A number between levels, a bool or an unknown name is a ConfigError naming the key."""
        with pytest.raises(ConfigError, match="level: expected one of"):
            resolve({}, level=given)

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

    @pytest.mark.parametrize("namespace", ["", "  ", "AWS/ECS", "my ns!", "Café", ":x", "x" * 256])
    def test_emf_namespace_cloudwatch_rejects_is_refused(self, namespace: str) -> None:
        """A namespace CloudWatch would reject (every EMF metric lost) fails at configure time."""
        with pytest.raises(ConfigError, match="BELLWATCH_EMF_NAMESPACE"):
            resolve({"BELLWATCH_EMF_NAMESPACE": namespace})

    @pytest.mark.parametrize("namespace", ["Bellwatch", "Bella/Prod-1", "team.app_x#2:eu west"])
    def test_emf_namespace_cloudwatch_accepts_is_kept(self, namespace: str) -> None:
        """Letters, digits, spaces and . - _ / # : make a valid namespace."""
        assert resolve({"BELLWATCH_EMF_NAMESPACE": namespace}).emf_namespace == namespace

    @pytest.mark.parametrize("service", ["a:e", "a*", "a?", "a[bc]", "a\\b", ":"])
    def test_a_service_name_that_would_overlap_redis_keys_is_refused(self, service: str) -> None:
        """A ':' or glob character in the service (its Redis namespace) fails at configure time."""
        with pytest.raises(ConfigError, match=r"BELLWATCH_SERVICE: .*any character but : \*"):
            resolve({"BELLWATCH_SERVICE": service})
        with pytest.raises(ConfigError, match=r"^service: "):
            resolve({}, service=service)

    @pytest.mark.parametrize("service", ["../../etc/cron.d/x", "a/b", "a\0b", ".", "..", ""])
    def test_a_service_name_that_would_leave_the_log_dir_is_refused(self, service: str) -> None:
        """The service names the log file <log_dir>/<service>.jsonl: no path in it."""
        with pytest.raises(ConfigError, match=r"^service: "):
            resolve({}, service=service)

    @pytest.mark.parametrize("service", ["bella-api", "shop_2.eu", "Café", "evil\u202e", "a e"])
    def test_any_other_service_name_is_kept(self, service: str) -> None:
        """Every other name, hyphens, dots, spaces and non-ASCII included, is kept as given."""
        assert resolve({"BELLWATCH_SERVICE": service}).service == service

    @pytest.mark.parametrize("url", ["http://cache:6379", "cache:6379", "localhost"])
    def test_a_redis_url_without_a_redis_scheme_is_refused_naming_the_variable(
        self, url: str
    ) -> None:
        """The error names BELLWATCH_REDIS_URL when the URL came from there; never echoes it
        (a URL may hold a password)."""
        with pytest.raises(ConfigError, match=r"^BELLWATCH_REDIS_URL: expected a URL") as err:
            resolve({"BELLWATCH_REDIS_URL": url})
        assert "cache" not in str(err.value) and "localhost" not in str(err.value)

    @pytest.mark.parametrize("url", ["redis://h:6379/0", "rediss://h", "unix:///tmp/r.sock"])
    def test_a_redis_url_redis_py_reads_is_kept(self, url: str) -> None:
        """redis://, rediss:// and unix:// are what redis-py's from_url takes."""
        assert resolve({}, redis_url=url).redis_url == url

    def test_unknown_key_is_refused(self) -> None:
        """A misspelt setting is an error, not silently ignored."""
        with pytest.raises(ConfigError, match="max_lines"):
            resolve({}, max_lines=100)

    def test_every_setting_has_an_env_name(self) -> None:
        """Each setting is reachable as BELLWATCH_<NAME>."""
        assert _settings.env_name("redis_url") == "BELLWATCH_REDIS_URL"


class TestUnknownVariables:
    def test_a_typo_warns_with_the_setting_it_resembles(self) -> None:
        """BELLWATCH_LOGFILE (no setting) warns, naming BELLWATCH_LOG_FILE."""
        with pytest.warns(_settings.ConfigWarning, match="did you mean BELLWATCH_LOG_FILE"):
            resolve({"BELLWATCH_LOGFILE": "1"})

    def test_the_warning_names_the_callers_line(self) -> None:
        """The warning points at the code that resolved the settings, not into bellwatch."""
        with pytest.warns(_settings.ConfigWarning) as caught:
            resolve({"BELLWATCH_NOT_A_THING": "1"})
        assert caught[0].filename == __file__

    def test_a_typo_in_an_argument_names_the_setting_it_resembles(self) -> None:
        """configure(slow_treshold=...) fails naming slow_threshold, as the variable's typo
        warns naming BELLWATCH_SLOW_THRESHOLD."""
        with pytest.raises(ConfigError, match=r"slow_treshold \(did you mean slow_threshold\?\)"):
            resolve({}, slow_treshold=1.0)

    def test_settings_and_our_own_variables_do_not_warn(self) -> None:
        """Every setting's variable, and the benchmarks' own, resolve without a warning."""
        env = {_settings.env_name("service"): "shop", "BELLWATCH_BENCH_QUICK": "1"}
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert resolve(env).service == "shop"

    def test_the_cli_says_it_in_one_line(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """The CLI prints `bellwatch: warning: ...` on stderr, not a Python warning."""
        from bellwatch.cli.main import main

        monkeypatch.setenv("BELLWATCH_SLOW_TRESHOLD", "1")
        (tmp_path / "app.jsonl").write_text("")
        with warnings.catch_warnings():
            warnings.simplefilter("default", _settings.ConfigWarning)
            with pytest.raises(SystemExit):
                main(["errors", "-l", str(tmp_path / "app.jsonl")])
        err = capsys.readouterr().err
        assert (
            "bellwatch: warning: BELLWATCH_SLOW_TRESHOLD is not a bellwatch setting; "
            "did you mean BELLWATCH_SLOW_THRESHOLD?"
        ) in err
        assert "ConfigWarning" not in err


class TestTokens:
    def test_a_short_mcp_token_is_refused(self) -> None:
        """BELLWATCH_MCP_TOKEN of fewer than 16 characters fails, naming the key."""
        with pytest.raises(ConfigError, match="BELLWATCH_MCP_TOKEN: expected at least 16"):
            resolve({"BELLWATCH_MCP_TOKEN": "abc12"})

    def test_a_16_character_mcp_token_is_kept(self) -> None:
        """A token of 16 characters is taken as given."""
        assert resolve(mcp_token="0123456789abcdef").mcp_token == "0123456789abcdef"


class TestBadValueAtTheCli:
    @pytest.mark.parametrize(
        "args",
        [
            ["aws", "setup", "--dry-run", "--email", "ops@example.com"],
            ["aws", "teardown", "--name", "bella"],
            ["aws", "health"],
            ["aws", "cost", "--log-group", "/ecs/bella"],
        ],
    )
    def test_aws_commands_name_the_variable(
        self, args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A bad BELLWATCH_* value is one `Error:` line naming it, exit 2, before any AWS
        call; never `internal error`."""
        from bellwatch.cli.main import main

        monkeypatch.setenv("BELLWATCH_SLOW_THRESHOLD", "abc")
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing may be asked
        with pytest.raises(SystemExit) as exit_:
            main(args)
        err = capsys.readouterr().err
        assert exit_.value.code == 2
        assert "Error: BELLWATCH_SLOW_THRESHOLD: expected float, got 'abc'" in err
        assert "internal error" not in err
