"""The one percentile definition shared by Insights ``pct()`` and the reports."""

from __future__ import annotations

from collections import Counter

import pytest
from ddsketch import DDSketch
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.query.percentile import from_sorted, position
from bellwatch.sources import histogram

durations = st.lists(
    st.floats(min_value=0.0001, max_value=100, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=300,
)
percents = st.sampled_from([0, 1, 25, 29, 50, 90, 95, 99, 99.9, 100])


class TestPosition:
    def test_lower_order_statistic(self) -> None:
        """The position is floor(p/100 * (n-1)): no interpolation, no rounding up."""
        assert [position(95, n) for n in (1, 2, 10, 20, 100, 101)] == [0, 0, 8, 18, 94, 95]

    def test_exact_where_floats_are_not(self) -> None:
        """0.29 * 100 is 28.999999999999996 in floating point; the position is still 29."""
        assert position(29, 101) == 29

    @pytest.mark.parametrize("bad", [-1, 100.5, float("nan")])
    def test_out_of_range_is_an_error(self, bad: float) -> None:
        """A percentile outside 0..100 is refused rather than clamped."""
        with pytest.raises(ValueError):
            position(bad, 10)


class TestValues:
    def test_empty_is_none(self) -> None:
        """No values have no percentile."""
        assert from_sorted([], 50) is None and histogram.percentile(histogram.EMPTY, 50) is None

    def test_ends_are_min_and_max(self) -> None:
        """p0 is the smallest value and p100 the largest."""
        values = [0.1, 0.2, 0.7, 3.0]
        assert (from_sorted(values, 0), from_sorted(values, 100)) == (0.1, 3.0)

    @given(durations, percents)
    def test_histogram_equals_sorted_values(self, values: list[float], p: float) -> None:
        """A histogram of the values (the reports' :mod:`bellwatch.sources.histogram`) gives
        the same percentile as the values themselves."""
        hist = histogram.counted(dict(Counter(values)))
        assert histogram.percentile(hist, p) == from_sorted(sorted(values), p)

    @given(durations, st.sampled_from([0, 25, 50, 75, 100]))
    def test_ddsketch_approximates_the_same_definition(self, values: list[float], p: float) -> None:
        """/metrics' DDSketch (1% relative accuracy) lands within 1% of this definition.

        Percentiles whose fraction is exact in binary: the sketch computes its rank in
        floating point, which can fall one value low for others (0.29 * 100).
        """
        sketch = DDSketch(relative_accuracy=0.01)
        for value in values:
            sketch.add(value)
        exact = from_sorted(sorted(values), p)
        approx = sketch.get_quantile_value(p / 100)
        assert exact is not None and approx is not None
        assert abs(approx - exact) <= 0.01 * exact + 1e-12
