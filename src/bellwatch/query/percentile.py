"""The one percentile definition: Logs Insights ``pct()`` here, and every report's p50/p95.

The ``p``-th percentile of ``n`` values is the value at 0-based position
``floor(p / 100 * (n - 1))`` of the values sorted ascending: no interpolation, so a
p95 is always a duration some request actually took; p0 is the minimum, p100 the
maximum, and the p50 of an even count is the lower of the two middle values.
``/metrics`` estimates the same order statistic with a DDSketch (its
``get_quantile_value`` looks up rank ``q * (n - 1)``) to within 1% of the value.

Positions are computed with exact fractions, so ``pct(x, 29)`` never lands one value
low because ``0.29 * 100`` is ``28.999999999999996`` in floating point.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["from_sorted", "position"]


def position(p: float, n: int) -> int:
    """The 0-based position of the ``p``-th percentile (0 <= p <= 100) among ``n`` values."""
    if n <= 0:
        raise ValueError("no values")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be between 0 and 100, got {p!r}")
    if type(p) is int:  # a p95: integers are exact (fractions' import is not free)
        return p * (n - 1) // 100
    from fractions import Fraction

    exact = Fraction(str(p)) * (n - 1) / 100  # str(): the decimal the caller wrote
    return int(exact)  # floor: exact is never negative


def from_sorted(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile of ``values`` sorted ascending (``None`` when empty)."""
    if not values:
        return None
    return values[position(p, len(values))]
