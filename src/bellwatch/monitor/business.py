"""Business metrics the app records, shown in ``/metrics`` next to request numbers.

Counters live in the monitor's store (so a shared store makes them cluster-wide);
ratios are definitions, computed only when read::

    from bellwatch import metrics

    metrics.outcome("booking", ok=True)      # booking_success += 1
    metrics.incr("sms_sent", 2)

``outcome`` defines ``booking_success_rate`` = success / (success + failure), in %.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from .._guard import suppress_internal_errors
from .monitor import get_monitor

__all__ = ["clear_ratios", "incr", "outcome", "ratio", "section"]

_ratios: dict[str, tuple[str, tuple[str, ...]]] = {}
_lock = threading.Lock()


def incr(name: str, amount: float = 1.0) -> None:
    """Add ``amount`` to the business counter ``name``; never raises."""
    with suppress_internal_errors():
        get_monitor().incr(name, amount)


def ratio(name: str, numerator: str, denominator: str | Iterable[str]) -> None:
    """Define ``name`` as ``numerator / sum(denominator)`` in percent, shown in ``/metrics``.

    Raises:
        ValueError: an empty name or denominator (a programming error, raised at once).
    """
    names = (denominator,) if isinstance(denominator, str) else tuple(denominator)
    if not name or not numerator or not names:
        raise ValueError("ratio needs a name, a numerator and at least one denominator counter")
    with _lock:
        _ratios[name] = (numerator, names)


def outcome(name: str, *, ok: bool) -> None:
    """Count a success or failure of ``name`` and keep ``<name>_success_rate`` defined."""
    success, failure = f"{name}_success", f"{name}_failure"
    if f"{name}_success_rate" not in _ratios:
        ratio(f"{name}_success_rate", success, (success, failure))
    incr(success if ok else failure)


def clear_ratios() -> None:
    """Forget every ratio definition (for tests)."""
    with _lock:
        _ratios.clear()


def section(counters: Mapping[str, float]) -> dict[str, Any]:
    """The ``business`` section of ``/metrics``: counters, and ratios in % (None when 0/0)."""
    with _lock:
        defined = dict(_ratios)
    ratios: dict[str, float | None] = {}
    for name, (numerator, denominator) in sorted(defined.items()):
        total = sum(counters.get(d, 0.0) for d in denominator)
        ratios[name] = round(100.0 * counters.get(numerator, 0.0) / total, 2) if total else None
    return {"counters": {k: _number(v) for k, v in sorted(counters.items())}, "ratios": ratios}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
