"""Error aggregation: fingerprints, severity, every-Nth/window lines, spikes, alerts.

What lives here: the message parameterizer (:mod:`.parameterize`), the fingerprint,
its explanation and default severity (:mod:`.fingerprint`), the aggregator that
counts errors and writes their lines (:mod:`.aggregator`), and the in-process alerts:
which go out (:mod:`.alerts`, each channel's delivery in :mod:`._channel`) and the
alert and its notifiers, log, webhook and SNS (:mod:`.notifiers`).

May import: ``bellwatch.log``, ``bellwatch.store``, and the layers below them.
"""

from __future__ import annotations

from ..store.patterns import Hit, MemoryPatternStore, Pattern, PatternStore, Policy
from ._handover import ErrorStep
from .aggregator import ErrorAggregator
from .fingerprint import Explanation, default_severity, explain, explain_record

__all__ = [
    "ErrorAggregator",
    "ErrorStep",
    "Explanation",
    "Hit",
    "MemoryPatternStore",
    "Pattern",
    "PatternStore",
    "Policy",
    "default_severity",
    "explain",
    "explain_record",
]
