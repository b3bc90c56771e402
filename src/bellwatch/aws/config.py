"""Alarm thresholds, periods and statistics: the guide's by default, or from TOML and flags.

A small TOML file (``bellwatch aws setup --config monitoring.toml``) and repeatable
``--set ALARM.KEY=VALUE`` flags override the defaults, flags last::

    [alarms.response-time]
    statistic = "p99"
    threshold = 3

    [alarms.cpu-high]
    threshold = 90
    evaluation_periods = 3
    datapoints_to_alarm = 2

Every value is checked here, before any AWS call, against what ``PutMetricAlarm``
accepts; a bad one raises :class:`ConfigError` naming the key
(``monitoring.toml: alarms.cpu-high.threshold: expected a number, got 'high'``).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

__all__ = [
    "DEFAULT_RULES",
    "MISSING_DATA",
    "RETENTION_DAYS",
    "AlarmRule",
    "ConfigError",
    "load_rules",
    "retention_problem",
]

MISSING_DATA: Final = ("breaching", "notBreaching", "ignore", "missing")
_STATISTICS: Final = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
# Percentiles as PutMetricAlarm's ExtendedStatistic takes them: p0.0 to p100, two decimals.
_PERCENTILE = re.compile(r"p(100(\.0{1,2})?|\d{1,2}(\.\d{1,2})?)")
_DAY = 86_400
_WEEK = 7 * _DAY
_HOUR = 3600


class ConfigError(ValueError):
    """A threshold, period or statistic CloudWatch would refuse; the message names the key."""


@dataclass(frozen=True, slots=True)
class AlarmRule:
    """How one alarm evaluates its metric (the ``put_metric_alarm`` parameters of that name)."""

    threshold: float
    statistic: str
    period: int
    """Seconds per datapoint."""
    evaluation_periods: int
    """N: the most recent periods evaluated."""
    datapoints_to_alarm: int
    """M: breaching datapoints among the N that set the alarm off."""
    treat_missing_data: str


# The guide's alarms keep the guide's numbers; the outage alarms it lacked are chosen so
# that a service that is down alarms within minutes. Missing data is breaching where the
# metric is reported every minute while things are healthy (a gap means no task, no
# target group), and not breaching where it is reported only when something happens.
DEFAULT_RULES: Final[Mapping[str, AlarmRule]] = {
    "cpu-high": AlarmRule(80, "Average", 300, 1, 1, "breaching"),
    "memory-high": AlarmRule(85, "Average", 300, 1, 1, "breaching"),
    "running-tasks": AlarmRule(0, "Average", 60, 5, 5, "breaching"),
    "healthy-hosts": AlarmRule(1, "Minimum", 60, 2, 2, "breaching"),
    "unhealthy-hosts": AlarmRule(0, "Maximum", 60, 2, 2, "breaching"),
    "response-time": AlarmRule(5, "p95", 300, 1, 1, "notBreaching"),
    "target-5xx": AlarmRule(5, "Sum", 300, 1, 1, "notBreaching"),
    "elb-5xx": AlarmRule(5, "Sum", 300, 1, 1, "notBreaching"),
    "error-spike": AlarmRule(10, "Sum", 300, 2, 1, "notBreaching"),
}
_KEYS: Final = tuple(f.name for f in fields(AlarmRule))


def _number(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    return float(value)


def _whole(key: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{key}: expected a whole number >= {low}, got {value!r}")
    return value


def _field(key: str, name: str, value: Any) -> Any:
    if name == "threshold":
        return _number(key, value)
    if name == "statistic":
        if not isinstance(value, str) or not (value in _STATISTICS or _PERCENTILE.fullmatch(value)):
            raise ConfigError(
                f"{key}: expected {', '.join(_STATISTICS)} or a percentile like p95 or "
                f"p99.9, got {value!r}"
            )
        return value
    if name == "treat_missing_data":
        if value not in MISSING_DATA:
            raise ConfigError(f"{key}: expected one of {', '.join(MISSING_DATA)}, got {value!r}")
        return value
    if name == "period":
        # Our metrics have one-minute resolution: a period is whole minutes.
        period = _whole(key, value, 1)
        if period % 60:
            raise ConfigError(f"{key}: expected a multiple of 60 seconds, got {value!r}")
        return period
    return _whole(key, value, 1)


def _check(name: str, rule: AlarmRule, where: str) -> None:
    # PutMetricAlarm: M <= N, and N periods together at most seven days, or one day when
    # the period is under an hour.
    if rule.datapoints_to_alarm > rule.evaluation_periods:
        raise ConfigError(
            f"{where}alarms.{name}.datapoints_to_alarm: {rule.datapoints_to_alarm} is more "
            f"than evaluation_periods ({rule.evaluation_periods})"
        )
    window = rule.period * rule.evaluation_periods
    limit = _WEEK if rule.period >= _HOUR else _DAY
    if window > limit:
        under = "" if rule.period >= _HOUR else " with a period under an hour"
        raise ConfigError(
            f"{where}alarms.{name}: period x evaluation_periods is {window} s; CloudWatch "
            f"allows at most {limit} s{under}"
        )


def _apply(
    rules: dict[str, AlarmRule], table: Mapping[str, Any], where: str
) -> dict[str, AlarmRule]:
    unknown = sorted(set(table) - {"alarms"})
    if unknown:
        raise ConfigError(f"{where}{unknown[0]}: unknown section; expected [alarms.<name>]")
    alarms = table.get("alarms", {})
    if not isinstance(alarms, Mapping):
        raise ConfigError(f"{where}alarms: expected tables like [alarms.cpu-high]")
    for name, values in alarms.items():
        if name not in rules:
            raise ConfigError(
                f"{where}alarms.{name}: unknown alarm; known: {', '.join(DEFAULT_RULES)}"
            )
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}alarms.{name}: expected a table of settings")
        changes = {}
        for key, value in values.items():
            full = f"{where}alarms.{name}.{key}"
            if key not in _KEYS:
                raise ConfigError(f"{full}: unknown setting; known: {', '.join(_KEYS)}")
            changes[key] = _field(full, key, value)
        rules[name] = replace(rules[name], **changes)
    return rules


def _parse_set(item: str) -> tuple[str, str, Any]:
    """``cpu-high.threshold=90`` -> ``("cpu-high", "threshold", 90)`` (TOML value syntax)."""
    target, sep, text = item.partition("=")
    name, dot, key = target.strip().rpartition(".")
    if not sep or not dot or not name or not key:
        raise ConfigError(f"--set {item!r}: expected ALARM.KEY=VALUE, e.g. cpu-high.threshold=90")
    try:
        value = tomllib.loads(f"v = {text.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = text.strip()  # a bare word: p99, breaching
    return name, key, value


def load_rules(
    path: str | Path | None = None, overrides: Iterable[str] = ()
) -> dict[str, AlarmRule]:
    """The alarm rules: defaults, then the TOML file at ``path``, then ``--set`` overrides.

    Raises:
        ConfigError: the file cannot be read or parsed, or a value is invalid (names the key).
    """
    rules = dict(DEFAULT_RULES)
    touched: dict[str, str] = {}  # alarm -> where its last setting came from
    if path is not None:
        where = f"{path}: "
        try:
            table = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        rules = _apply(rules, table, where)
        touched.update(dict.fromkeys(table.get("alarms", {}), where))
    for item in overrides:
        name, key, value = _parse_set(item)
        rules = _apply(rules, {"alarms": {name: {key: value}}}, "--set ")
        touched[name] = "--set "
    for name, where in sorted(touched.items()):
        _check(name, rules[name], where)
    return rules


RETENTION_DAYS: Final = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096,
                         1827, 2192, 2557, 2922, 3288, 3653)  # fmt: skip
"""The values PutRetentionPolicy accepts for ``retentionInDays`` (anything else is an
InvalidParameterException); ``aws setup --retention`` and ``cost --retention`` check them
(no boto3 here: ``bellwatch cost`` needs no ``aws`` extra)."""


def retention_problem(days: int) -> str | None:
    """Why ``days`` is not a CloudWatch retention, or None when it is one."""
    if days in RETENTION_DAYS:
        return None
    allowed = ", ".join(map(str, RETENTION_DAYS))
    return f"{days} is not a CloudWatch retention; use one of {allowed}"
