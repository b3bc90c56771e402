"""Business metrics the app records, shown in ``/metrics`` next to request numbers::

    from bellwatch import metrics

    metrics.outcome("booking", ok=True)      # booking_success += 1
    metrics.incr("sms_sent", 2)

See :mod:`bellwatch.monitor.business`.
"""

from __future__ import annotations

from .monitor.business import clear_ratios, incr, outcome, ratio, section

__all__ = ["clear_ratios", "incr", "outcome", "ratio", "section"]
