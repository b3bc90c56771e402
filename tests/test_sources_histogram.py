"""Duration histograms (bellwatch.sources.histogram): the same bytes with and without the
C scanner, and the mean and percentiles of the durations they count."""

from __future__ import annotations

import math
from array import array
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch.query.percentile import from_sorted
from bellwatch.sources import histogram

_DURATIONS = st.lists(
    st.floats(min_value=0, max_value=1e6) | st.sampled_from([0.0, -0.0, 0.05, 0.1]), max_size=80
)


def packed(values: list[float]) -> bytes:
    return array("d", values).tobytes()


@pytest.fixture(params=["C", "Python"])
def engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with the scanner, and as where no compiler built it."""
    if request.param == "Python":
        monkeypatch.setattr(histogram, "scan", None)
    return str(request.param)


class TestCounted:
    @settings(max_examples=200, deadline=None)
    @given(values=_DURATIONS)
    def test_packed_and_dict_give_the_same_histogram(self, values: list[float]) -> None:
        with pytest.MonkeyPatch.context() as patch:
            from_c = histogram.counted(packed(values))
            patch.setattr(histogram, "scan", None)
            from_python = histogram.counted(packed(values))
        assert from_c == from_python == histogram.counted(dict(Counter(values)))

    def test_values_ascend_with_one_zero(self, engine: str) -> None:
        hist = histogram.counted(packed([0.3, -0.0, 0.1, 0.0, 0.3]))
        assert list(histogram.pairs(hist)) == [(0.0, 2), (0.1, 1), (0.3, 2)]
        assert math.copysign(1, next(iter(histogram.pairs(hist)))[0]) == 1

    def test_a_histogram_is_returned_as_it_is(self) -> None:
        hist = histogram.counted(packed([1.0]))
        assert histogram.counted(hist) is hist


class TestMerged:
    @settings(max_examples=200, deadline=None)
    @given(a=_DURATIONS, b=_DURATIONS)
    def test_merged_counts_both(self, a: list[float], b: list[float]) -> None:
        with pytest.MonkeyPatch.context() as patch:
            from_c = histogram.merged(packed(a), packed(b))
            patch.setattr(histogram, "scan", None)
            from_python = histogram.merged(packed(a), packed(b))
        assert from_c == from_python == histogram.counted(packed(a + b))

    def test_empty_sides(self, engine: str) -> None:
        hist = histogram.counted(packed([2.0]))
        assert histogram.merged(hist, histogram.EMPTY) == hist
        assert histogram.merged(histogram.EMPTY, {}) == histogram.EMPTY


class TestReading:
    @settings(max_examples=200, deadline=None)
    @given(values=_DURATIONS.filter(bool), p=st.sampled_from([0, 1, 29, 50, 95, 99, 100]))
    def test_percentile_is_the_sorted_definition(self, values: list[float], p: int) -> None:
        hist = histogram.counted(packed(values))
        assert histogram.percentile(hist, p) == from_sorted(sorted(values), p)

    @given(values=_DURATIONS.filter(bool))
    def test_mean_is_the_exact_sum(self, values: list[float]) -> None:
        hist = histogram.counted(packed(values))
        expected = math.fsum(v * n for v, n in Counter(values).items()) / len(values)
        with pytest.MonkeyPatch.context() as patch:
            in_c = histogram.mean(hist, len(values))
            patch.setattr(histogram, "scan", None)
            in_python = histogram.mean(hist, len(values))
        assert in_c == in_python == expected

    def test_top_and_entries(self) -> None:
        hist = histogram.counted(packed([0.2, 0.9, 0.2]))
        assert (histogram.top(hist), histogram.entries(hist)) == (0.9, 2)
        assert histogram.entries(packed([0.2, 0.2])) == 2  # not counted yet: at most
        assert histogram.top(histogram.EMPTY) is None

    def test_a_mean_past_the_largest_double_is_an_answer(self, engine: str) -> None:
        """Durations near 1e308 (a hostile log) give inf or nan, never an exception."""
        hist = histogram.counted({1e308: 2, -1e308: 2})
        assert math.isnan(histogram.mean(hist, 4) or 0.0)
        assert histogram.mean(histogram.counted({1e308: 3}), 3) == math.inf

    def test_empty(self) -> None:
        assert histogram.percentile(histogram.EMPTY, 95) is None
        assert histogram.mean(histogram.EMPTY, 0) is None
