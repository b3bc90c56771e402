"""One CloudWatch Embedded Metric Format line checked against the specification's rules.

Written from AWS's "Specification: Embedded metric format" page and the CloudWatch API's
limits it defers to (Namespace, Dimension and MetricDatum), one assertion per rule, so a
failure names the rule a line breaks. CloudWatch Logs extracts no metric from a line
breaking any of them: it only counts it in ``AWS/Logs`` ``EMFValidationErrors``.
"""

from __future__ import annotations

import math
import re
from typing import Any

import orjson

__all__ = ["EVENT_MAX", "UNITS", "check_line", "check_lines"]

# A log event, EMF or not: at most 256 KB, 26 bytes of which CloudWatch Logs counts as
# the event's own overhead.
EVENT_MAX = 256 * 1024 - 26

# MetricDatum's Unit: the only values a MetricDefinition's Unit may take.
UNITS = frozenset({
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
})  # fmt: skip

# A namespace: 1-255 of letters, digits and . - _ / # : space, at least one that is not a
# space, not starting with ':' and not AWS's own 'AWS/'.
_NAMESPACE = re.compile(r"[0-9A-Za-z._/#:\- ]{1,255}")
# MetricDatum's Value: CloudWatch rejects a number outside this range, NaN and infinities.
_VALUE_MAX = 1.174271e108
_VALUE_MIN = 8.515920e-109
# Two weeks back and two hours ahead: CloudWatch keeps no data point outside these.
_PAST_MS = 14 * 24 * 3600 * 1000
_AHEAD_MS = 2 * 3600 * 1000


def _ascii_text(value: object, longest: int, what: str) -> str:
    """A Dimension name or value: 1-``longest`` printable ASCII characters, not blank."""
    assert isinstance(value, str), f"{what} must be a string: {value!r}"
    assert 1 <= len(value) <= longest, f"{what} must be 1-{longest} characters: {len(value)}"
    assert value.isascii() and value.isprintable(), f"{what} must be printable ASCII: {value!r}"
    assert value.strip(), f"{what} must hold a character that is not whitespace"
    return value


def _number(value: object, name: str) -> None:
    assert isinstance(value, int | float) and not isinstance(value, bool), (
        f"metric {name} must be a number: {value!r}"
    )
    assert math.isfinite(value), f"metric {name} must be finite: {value!r}"
    assert value == 0 or _VALUE_MIN <= abs(value) <= _VALUE_MAX, (
        f"metric {name} is outside CloudWatch's range: {value!r}"
    )


def check_line(raw: bytes, *, now: float | None = None) -> dict[str, Any]:
    """Assert ``raw`` (one line, its newline stripped or not) is a valid EMF document.

    With ``now`` (epoch seconds, when the line was written) the Timestamp must also lie
    in the window CloudWatch keeps. Returns the parsed document.
    """
    body = raw.removesuffix(b"\n")
    assert b"\n" not in body, "a log event is one line"
    assert len(body) <= EVENT_MAX, f"a log event is at most 256 KB: {len(body)} bytes"
    # The message is one JSON object (RFC 8259: no NaN, no Infinity), nothing around it.
    doc = orjson.loads(body)
    assert isinstance(doc, dict), "the root node is an object"

    meta = doc.get("_aws")
    assert isinstance(meta, dict), "the root node has an _aws metadata object"
    assert set(meta) <= {"Timestamp", "CloudWatchMetrics"}, f"unknown _aws members: {set(meta)}"
    stamp = meta.get("Timestamp")
    assert isinstance(stamp, int) and not isinstance(stamp, bool), "Timestamp is a number"
    assert stamp >= 0, f"Timestamp is milliseconds since the epoch: {stamp}"
    if now is not None:  # (unit tests' clocks start at 0: only a real line is dated)
        now_ms = now * 1000
        assert now_ms - _PAST_MS <= stamp <= now_ms + _AHEAD_MS, (
            f"Timestamp is milliseconds since the epoch, within CloudWatch's window: {stamp}"
        )

    directives = meta.get("CloudWatchMetrics")
    assert isinstance(directives, list) and directives, "CloudWatchMetrics is a non-empty array"
    for directive in directives:
        assert isinstance(directive, dict)
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}, set(directive)
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and _NAMESPACE.fullmatch(namespace), namespace
        assert namespace.strip() and not namespace.startswith((":", "AWS/")), namespace

        dimension_sets = directive["Dimensions"]
        assert isinstance(dimension_sets, list), "Dimensions is an array of DimensionSets"
        keys: set[str] = set()
        for dimension_set in dimension_sets:
            assert isinstance(dimension_set, list), "a DimensionSet is an array"
            assert len(dimension_set) <= 30, "a DimensionSet holds at most 30 dimensions"
            assert len(set(dimension_set)) == len(dimension_set), "a dimension named twice"
            for key in dimension_set:
                _ascii_text(key, 255, "a dimension name")
                assert not key.startswith(":"), f"a dimension name starts with ':': {key!r}"
                assert key in doc, f"dimension {key!r} is not a member of the root node"
                _ascii_text(doc[key], 1024, f"dimension {key!r}'s value")
                keys.add(key)

        metrics = directive["Metrics"]
        assert isinstance(metrics, list) and 1 <= len(metrics) <= 100, (
            "Metrics holds 1-100 MetricDefinitions"
        )
        names = [m.get("Name") for m in metrics]
        assert len(set(names)) == len(names), "a metric defined twice"
        for metric in metrics:
            assert isinstance(metric, dict)
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}, set(metric)
            name = metric["Name"]
            assert isinstance(name, str) and 1 <= len(name) <= 255, name
            assert name not in keys, f"{name!r} is both a dimension and a metric"
            assert metric.get("Unit", "None") in UNITS, metric.get("Unit")
            assert metric.get("StorageResolution", 60) in (1, 60), metric
            assert name in doc, f"metric {name!r} is not a member of the root node"
            value = doc[name]
            if isinstance(value, list):
                assert 1 <= len(value) <= 100, f"metric {name} holds 1-100 values"
                for v in value:
                    _number(v, name)
            else:
                _number(value, name)
    return doc


def check_lines(text: bytes, *, now: float | None = None) -> list[dict[str, Any]]:
    """Every EMF line of ``text`` (log lines mixed in) checked; the documents."""
    return [check_line(line, now=now) for line in text.splitlines() if b'"_aws"' in line]
