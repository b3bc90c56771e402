"""Business metrics: counters and ratios the app records."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bellwatch import metrics
from bellwatch._runtime import runtime
from bellwatch.store import MemoryStore


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    runtime.reset()
    metrics.clear_ratios()
    yield
    metrics.clear_ratios()
    runtime.reset()


def business() -> dict[str, dict[str, float | None]]:
    return metrics.section(runtime.monitor().snapshot().counters)


class TestCounters:
    def test_incr_counts(self) -> None:
        """incr() adds one by default, or the amount given."""
        metrics.incr("sms_sent")
        metrics.incr("sms_sent", 2)
        assert business()["counters"] == {"sms_sent": 3}

    def test_fractional_amounts_stay_fractional(self) -> None:
        """Amounts like revenue keep their decimals."""
        metrics.incr("revenue", 9.5)
        assert business()["counters"] == {"revenue": 9.5}


class TestRatios:
    def test_outcome_defines_a_success_rate(self) -> None:
        """outcome() keeps <name>_success_rate = successes / attempts in %."""
        for ok in (True, True, True, False):
            metrics.outcome("booking", ok=ok)
        assert business()["ratios"] == {"booking_success_rate": 75.0}

    def test_ratio_over_several_counters(self) -> None:
        """A denominator may sum several counters."""
        metrics.ratio("answer_rate", "answered", ["answered", "missed", "busy"])
        metrics.incr("answered", 2)
        metrics.incr("missed")
        metrics.incr("busy")
        assert business()["ratios"]["answer_rate"] == 50.0

    def test_undefined_ratio_is_none_not_a_division_error(self) -> None:
        """0/0 shows as None."""
        metrics.ratio("conversion", "bought", "visited")
        assert business()["ratios"] == {"conversion": None}

    def test_empty_definition_is_refused_at_once(self) -> None:
        """A ratio without a denominator is a programming error raised immediately."""
        with pytest.raises(ValueError, match="denominator"):
            metrics.ratio("r", "a", [])

    @pytest.mark.internal_errors
    def test_incr_never_raises(self) -> None:
        """A failing store is counted internally; the app's call returns normally."""

        class Broken(MemoryStore):
            def incr(self, *args: object) -> None:
                raise RuntimeError("store down")

        runtime.monitor().store = Broken()
        metrics.incr("x")
