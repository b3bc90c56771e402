"""Error aggregation: fingerprints, severity, every-Nth/window lines, spikes, alerts.

What lives here: the fingerprint and default severity (:mod:`.fingerprint`), the
aggregator that counts errors and writes their lines (:mod:`.aggregator`), and the
in-process alerts (:mod:`.alerts`).

May import: ``bellwatch.log``, ``bellwatch.store``, and the layers below them.
"""

from __future__ import annotations

from ..store.patterns import Hit, MemoryPatternStore, Pattern, PatternStore, Policy
from .aggregator import ErrorAggregator, aggregate_errors, get_aggregator
from .fingerprint import default_severity

__all__ = [
    "ErrorAggregator",
    "Hit",
    "MemoryPatternStore",
    "Pattern",
    "PatternStore",
    "Policy",
    "aggregate_errors",
    "default_severity",
    "get_aggregator",
]
