"""Business metrics the app records, shown in ``/metrics`` next to request numbers.

Counters live in the monitor's store (so a shared store makes them cluster-wide);
ratios are definitions, computed only when read. The runtime owns one
:class:`Ratios`; apps use the public face, :mod:`bellwatch.metrics`::

    from bellwatch import metrics

    metrics.outcome("booking", ok=True)      # booking_success += 1
    metrics.incr("sms_sent", 2)

``outcome`` defines ``booking_success_rate`` = success / (success + failure), in %.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Ratios"]


class Ratios:
    """Ratio definitions: ``name`` = ``numerator / sum(denominator)`` in percent."""

    def __init__(self) -> None:
        self._defined: dict[str, tuple[str, tuple[str, ...]]] = {}
        self._lock = threading.Lock()

    def define(self, name: str, numerator: str, denominator: str | Iterable[str]) -> None:
        """Define ``name``; a later definition of the same name replaces it.

        Raises:
            ValueError: an empty name or denominator (a programming error, raised at once).
        """
        names = (denominator,) if isinstance(denominator, str) else tuple(denominator)
        if not name or not numerator or not names:
            raise ValueError("ratio needs a name, a numerator and at least one denominator counter")
        with self._lock:
            self._defined[name] = (numerator, names)

    def outcome(self, name: str) -> None:
        """Make sure ``<name>_success_rate`` is defined over success and failure."""
        if f"{name}_success_rate" not in self._defined:
            success, failure = f"{name}_success", f"{name}_failure"
            self.define(f"{name}_success_rate", success, (success, failure))

    def clear(self) -> None:
        """Forget every definition."""
        with self._lock:
            self._defined.clear()

    def section(self, counters: Mapping[str, float]) -> dict[str, Any]:
        """The ``business`` section of ``/metrics``: counters, and ratios in % (None when 0/0)."""
        with self._lock:
            defined = dict(self._defined)
        ratios: dict[str, float | None] = {}
        for name, (numerator, denominator) in sorted(defined.items()):
            total = sum(counters.get(d, 0.0) for d in denominator)
            share = 100.0 * counters.get(numerator, 0.0) / total if total else None
            ratios[name] = round(share, 2) if share is not None else None
        return {"counters": {k: _number(v) for k, v in sorted(counters.items())}, "ratios": ratios}


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value
