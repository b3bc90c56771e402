"""Alarm settings from TOML and --set: defaults, overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.aws.config import DEFAULT_RULES, ConfigError, load_rules


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "monitoring.toml"
    path.write_text(text)
    return path


class TestDefaults:
    def test_defaults_are_the_guides(self) -> None:
        """Without a file or flags, the guide's thresholds, periods and statistics."""
        rules = load_rules()
        assert rules == dict(DEFAULT_RULES)
        cpu, latency, spike = rules["cpu-high"], rules["response-time"], rules["error-spike"]
        assert (cpu.threshold, cpu.period, cpu.evaluation_periods) == (80, 300, 1)
        assert (latency.statistic, latency.threshold) == ("p95", 5)
        assert (spike.threshold, spike.evaluation_periods, spike.datapoints_to_alarm) == (10, 2, 1)


class TestOverrides:
    def test_file_then_flags(self, tmp_path: Path) -> None:
        """The file overrides the defaults and --set overrides the file."""
        path = toml(tmp_path, '[alarms.response-time]\nstatistic = "p90"\nthreshold = 3\n')
        rules = load_rules(path, ["response-time.statistic=p99", "cpu-high.threshold=90.5"])
        assert (rules["response-time"].statistic, rules["response-time"].threshold) == ("p99", 3)
        assert rules["cpu-high"].threshold == 90.5
        assert rules["memory-high"] == DEFAULT_RULES["memory-high"]

    def test_set_takes_toml_values(self) -> None:
        """--set values are TOML (quoted or not), so numbers stay numbers."""
        rules = load_rules(overrides=['error-spike.treat_missing_data="breaching"',
                                      "error-spike.period=60"])  # fmt: skip
        assert (rules["error-spike"].treat_missing_data, rules["error-spike"].period) == (
            "breaching", 60
        )  # fmt: skip

    @given(st.integers(1, 1440).map(lambda m: m * 60), st.integers(1, 200))
    def test_any_valid_window_is_accepted(self, period: int, periods: int) -> None:
        """Any whole-minute period whose N periods fit PutMetricAlarm's window (one day
        under an hour's period, seven days from an hour on) is accepted as given."""
        overrides = [f"cpu-high.period={period}", f"cpu-high.evaluation_periods={periods}"]
        limit = 604_800 if period >= 3600 else 86_400
        if period * periods > limit:
            with pytest.raises(ConfigError, match=f"at most {limit} s"):
                load_rules(overrides=overrides)
        else:
            rule = load_rules(overrides=overrides)["cpu-high"]
            assert (rule.period, rule.evaluation_periods) == (period, periods)

    def test_hourly_periods_may_span_a_week(self) -> None:
        """An hourly alarm over two days is one PutMetricAlarm accepts (seven days from a
        period of an hour), so setup accepts it too."""
        overrides = ["error-spike.period=3600", "error-spike.evaluation_periods=48"]
        rule = load_rules(overrides=overrides)["error-spike"]
        assert (rule.period, rule.evaluation_periods) == (3600, 48)


class TestErrors:
    # What PutMetricAlarm accepts: Period "10, 20, 30, or any multiple of 60" (our metrics
    # are one-minute), DatapointsToAlarm <= EvaluationPeriods, EvaluationPeriods x Period
    # <= one day under an hour's period and <= seven days from an hour on, a Statistic or
    # a pNN.NN ExtendedStatistic, TreatMissingData one of four.
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[alarms.cpu-high]\nthreshold = 'high'\n",
             "alarms.cpu-high.threshold: expected a number, got 'high'"),
            ("[alarms.cpu-high]\nthreshold = true\n",
             "alarms.cpu-high.threshold: expected a number, got True"),
            ("[alarms.cpu-high]\nperiod = 90\n",
             "alarms.cpu-high.period: expected a multiple of 60 seconds, got 90"),
            ("[alarms.cpu-high]\nevaluation_periods = 0\n",
             "alarms.cpu-high.evaluation_periods: expected a whole number >= 1, got 0"),
            ("[alarms.cpu-high]\ndatapoints_to_alarm = 3\n",
             "alarms.cpu-high.datapoints_to_alarm: 3 is more than evaluation_periods (1)"),
            ("[alarms.response-time]\nstatistic = 'median'\n",
             "alarms.response-time.statistic: expected SampleCount, Average, Sum, Minimum, "
             "Maximum or a percentile like p95 or p99.9, got 'median'"),
            ("[alarms.response-time]\nstatistic = 'p100.5'\n", "statistic: expected"),
            ("[alarms.error-spike]\ntreat_missing_data = 'zero'\n",
             "alarms.error-spike.treat_missing_data: expected one of breaching, notBreaching, "
             "ignore, missing, got 'zero'"),
            ("[alarms.cpu]\nthreshold = 1\n", "alarms.cpu: unknown alarm; known: cpu-high"),
            ("[alarms.cpu-high]\nlimit = 1\n",
             "alarms.cpu-high.limit: unknown setting; known: threshold, statistic"),
            ("[alarm.cpu-high]\nthreshold = 1\n", "alarm: unknown section"),
            ("alarms = 3\n", "alarms: expected tables"),
            ("[alarms.cpu-high\n", "not valid TOML"),
        ],
    )  # fmt: skip
    def test_bad_file_names_the_key(self, tmp_path: Path, text: str, message: str) -> None:
        """Each mistake raises ConfigError naming the file and the key."""
        path = toml(tmp_path, text)
        with pytest.raises(ConfigError) as err:
            load_rules(path)
        assert str(err.value).startswith(f"{path}: ")
        assert message in str(err.value)

    def test_bad_flag_names_the_key(self) -> None:
        """A --set mistake names the flag and the key."""
        with pytest.raises(ConfigError, match=r"--set alarms.cpu-high.period: expected a mult"):
            load_rules(overrides=["cpu-high.period=45"])
        with pytest.raises(ConfigError, match=r"expected ALARM\.KEY=VALUE"):
            load_rules(overrides=["threshold=3"])

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that is not there is one clear error."""
        with pytest.raises(ConfigError, match=r"nope\.toml: No such file"):
            load_rules(tmp_path / "nope.toml")
