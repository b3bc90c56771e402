"""One health verdict: the same thresholds and words everywhere a service's health is shown.

``/metrics`` (``status``), ``/health`` (``verdict``), the dashboard's badge and
colours, the CLI's digest and the MCP server's ``digest`` all call :func:`verdict`
with the numbers they have (the rolling window's for a running service, the time
span read for logs), so one set of numbers never gets two words.

=============  ==============================================================
word           when
=============  ==============================================================
``healthy``    5xx rate under 1 % and p95 latency under the slow threshold
``warning``    5xx rate from 1 % (or p95 at or over the slow threshold)
``degraded``   5xx rate from 5 %
``unhealthy``  a ``/health`` check failed
=============  ==============================================================
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "DEGRADED",
    "DEGRADED_ERROR_RATE",
    "HEALTHY",
    "UNHEALTHY",
    "WARNING",
    "WARN_ERROR_RATE",
    "WORDS",
    "verdict",
]

HEALTHY: Final = "healthy"
WARNING: Final = "warning"
DEGRADED: Final = "degraded"
UNHEALTHY: Final = "unhealthy"
WORDS: Final = (HEALTHY, WARNING, DEGRADED, UNHEALTHY)  # better to worse

# Percent of requests answered 5xx.
WARN_ERROR_RATE: Final = 1.0
DEGRADED_ERROR_RATE: Final = 5.0


def verdict(
    error_rate: float,
    p95: float | None = None,
    slow_threshold: float | None = None,
    *,
    checks_ok: bool = True,
) -> str:
    """The word for these numbers.

    Args:
        error_rate: 5xx responses, in percent of requests (0 with no requests).
        p95: 95th-percentile latency in seconds, when known.
        slow_threshold: the ``slow_threshold`` setting, in seconds.
        checks_ok: whether the last ``/health`` checks passed.
    """
    if not checks_ok:
        return UNHEALTHY
    if error_rate >= DEGRADED_ERROR_RATE:
        return DEGRADED
    if error_rate >= WARN_ERROR_RATE:
        return WARNING
    if p95 is not None and slow_threshold is not None and p95 >= slow_threshold:
        return WARNING
    return HEALTHY
