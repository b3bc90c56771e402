"""``--since``/``--until`` parsing."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bellwatch.timeparse import (
    TimeParseError,
    format_ms,
    iso_to_ms,
    parse_duration,
    parse_instant,
    parse_ts,
)

NOW = 1_758_918_615_123


class TestParseDuration:
    @pytest.mark.parametrize(
        ("text", "ms"),
        [
            ("1h", 3_600_000),
            ("30m", 1_800_000),
            ("2d", 172_800_000),
            ("5h30m", 19_800_000),
            ("45s", 45_000),
            ("1w", 604_800_000),
            ("250ms", 250),
            ("1.5h", 5_400_000),
        ],
    )
    def test_units(self, text: str, ms: int) -> None:
        """Every documented unit and combination converts to milliseconds."""
        assert parse_duration(text) == ms

    @pytest.mark.parametrize("text", ["", "h", "5", "5x", "1h-", "-1h", "yesterday"])
    def test_rejects_garbage(self, text: str) -> None:
        """Anything that is not a sequence of number+unit parts is refused with a hint."""
        with pytest.raises(TimeParseError, match="duration"):
            parse_duration(text)

    @given(st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from("smhdw")), min_size=1))
    def test_parts_add_up(self, parts: list[tuple[int, str]]) -> None:
        """A concatenation of parts equals the sum of the parts."""
        text = "".join(f"{n}{u}" for n, u in parts)
        assert parse_duration(text) == sum(parse_duration(f"{n}{u}") for n, u in parts)


class TestParseInstant:
    def test_duration_means_ago(self) -> None:
        """A duration is that long before now."""
        assert parse_instant("1h", NOW) == NOW - 3_600_000

    def test_now(self) -> None:
        """``now`` is now."""
        assert parse_instant("now", NOW) == NOW

    def test_iso_with_zone(self) -> None:
        """An ISO time with ``Z`` is UTC."""
        assert parse_instant("2025-09-26T20:30:15.123Z", NOW) == NOW

    def test_naive_iso_is_utc(self) -> None:
        """An ISO time without an offset is read as UTC, like the logs."""
        assert parse_instant("2025-09-26T20:30:15.123", NOW) == NOW

    def test_iso_date(self) -> None:
        """A bare date is its midnight UTC."""
        assert parse_instant("2025-09-26", NOW) == 1_758_844_800_000

    def test_epoch_seconds_and_ms(self) -> None:
        """Digits are epoch seconds when small, milliseconds when large."""
        assert parse_instant("1758918615", NOW) == 1_758_918_615_000
        assert parse_instant(str(NOW), 0) == NOW

    def test_bad_value(self) -> None:
        """An unreadable value raises with the accepted forms listed."""
        with pytest.raises(TimeParseError, match="ISO 8601"):
            parse_instant("last tuesday", NOW)


class TestParseTs:
    def test_forms(self) -> None:
        """Epoch ms ints, digit strings and ISO strings all give epoch ms."""
        assert parse_ts(NOW) == NOW
        assert parse_ts(str(NOW)) == NOW
        assert parse_ts("2025-09-26T20:30:15.123Z") == NOW

    @pytest.mark.parametrize("value", [None, True, "soon", [1], float("nan"), {}])
    def test_unreadable_is_none(self, value: object) -> None:
        """Values that are not a time give ``None`` instead of raising."""
        assert parse_ts(value) is None

    @given(st.integers(0, 4_102_444_800_000))
    def test_format_round_trip(self, ms: int) -> None:
        """``format_ms`` output parses back to the same millisecond."""
        assert iso_to_ms(format_ms(ms)) == ms

    @given(st.text())
    @example("²")  # str.isdigit() is true for superscripts, int() refuses them
    @example("٣")
    def test_never_raises(self, text: str) -> None:
        """Any string either parses or gives ``None``."""
        parse_ts(text)
