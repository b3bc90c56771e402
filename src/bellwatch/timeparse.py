"""``--since`` / ``--until`` values: relative durations (``5h30m``) or ISO 8601 instants.

Everything is epoch milliseconds, UTC, because that is what ``ts`` holds.
"""

from __future__ import annotations

import math
import re
import time
from datetime import UTC, datetime, timedelta

__all__ = [
    "TimeParseError",
    "format_ms",
    "iso_to_ms",
    "parse_duration",
    "parse_instant",
    "parse_ts",
]

_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+")
# Epoch values below this are seconds, at or above it milliseconds (year 5138 vs 1973).
_MS_FLOOR = 100_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimeParseError(ValueError):
    """A ``--since``/``--until`` value that is neither a duration nor an instant."""


def parse_duration(text: str) -> int:
    """``"5h30m"`` -> milliseconds. Units: ms, s, m, h, d, w; parts may repeat in any order.

    Raises:
        TimeParseError: not a duration.
    """
    compact = text.strip().lower().replace(" ", "")
    if not compact or not _DURATION.fullmatch(compact):
        raise TimeParseError(f"not a duration: {text!r} (try 30m, 1h, 2d, 5h30m)")
    return int(sum(float(n) * _UNIT_MS[unit] for n, unit in _PART.findall(compact)))


def parse_instant(text: str, now_ms: int | None = None) -> int:
    """A ``--since``/``--until`` value -> epoch milliseconds.

    Accepts ``now``, a duration meaning "that long ago" (``1h``, ``5h30m``), an
    ISO 8601 date or date-time (naive values are UTC), or epoch seconds/milliseconds.

    Raises:
        TimeParseError: none of those, with a hint.
    """
    raw = text.strip()
    now = int(time.time() * 1000) if now_ms is None else now_ms
    if raw.lower() == "now":
        return now
    if raw.isascii() and raw.isdigit():
        value = int(raw)
        return value if value >= _MS_FLOOR else value * 1000
    try:
        return now - parse_duration(raw)
    except TimeParseError:
        pass
    try:
        return iso_to_ms(raw)
    except ValueError:
        raise TimeParseError(
            f"cannot read time {text!r}: use a duration (30m, 1h, 2d, 5h30m), "
            "an ISO 8601 time (2026-09-26T20:30:00Z) or 'now'"
        ) from None


def iso_to_ms(text: str) -> int:
    """ISO 8601 -> epoch ms; naive values are UTC. Raises ``ValueError``."""
    stamp = datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return (stamp - _EPOCH) // timedelta(milliseconds=1)


def parse_ts(value: object) -> int | None:
    """A record's ``ts`` (epoch ms number, digits, or ISO string) -> epoch ms, else ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and abs(value) < 1e17 else None
    if isinstance(value, str):
        if value.isascii() and value.isdigit():
            return int(value)
        try:
            return iso_to_ms(value)
        except (ValueError, OverflowError):
            return None
    return None


def format_ms(ms: int) -> str:
    """Epoch ms -> ``2026-09-26T20:30:15.123Z``."""
    try:
        stamp = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
