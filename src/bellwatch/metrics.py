"""Business metrics the app records, shown in ``/metrics`` next to request numbers::

    from bellwatch import metrics

    metrics.outcome("booking", ok=True)      # booking_success += 1
    metrics.incr("sms_sent", 2)

Counters live in the monitor's store (a shared store makes them cluster-wide);
``outcome`` defines ``booking_success_rate`` = success / (success + failure), in %.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ._guard import suppress_internal_errors
from ._runtime import runtime

__all__ = ["clear_ratios", "incr", "outcome", "ratio", "section"]


def incr(name: str, amount: float = 1.0) -> None:
    """Add ``amount`` to the business counter ``name``; never raises."""
    with suppress_internal_errors():
        runtime.monitor().incr(name, amount)


def ratio(name: str, numerator: str, denominator: str | Iterable[str]) -> None:
    """Define ``name`` as ``numerator / sum(denominator)`` in percent, shown in ``/metrics``.

    Raises:
        ValueError: an empty name or denominator (a programming error, raised at once).
    """
    runtime.ratios.define(name, numerator, denominator)


def outcome(name: str, *, ok: bool) -> None:
    """Count a success or failure of ``name`` and keep ``<name>_success_rate`` defined."""
    runtime.ratios.outcome(name)
    incr(f"{name}_success" if ok else f"{name}_failure")


def clear_ratios() -> None:
    """Forget every ratio definition (for tests)."""
    runtime.ratios.clear()


def section(counters: Mapping[str, float]) -> dict[str, Any]:
    """The ``business`` section of ``/metrics``: counters, and ratios in % (None when 0/0)."""
    return runtime.ratios.section(counters)
