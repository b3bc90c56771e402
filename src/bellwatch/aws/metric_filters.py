"""Metric filters on the JSON log lines, with patterns built from :mod:`bellwatch.schema`.

CloudWatch's JSON form ``{ $.key = "value" }`` is the only one that reads our
lines: the space-delimited form ``[timestamp, level, ...]`` splits on spaces and
never matches a JSON object.

Errors are counted with the counting rule every reader uses: the occurrences of
a fingerprint are the sum of ``n`` over its error lines, and a line without ``n``
(written before lines carried it) counts 1 if its event is ``error``, else 0.
``error_escalated`` and ``alert_*`` lines are never occurrences. An error line is
one that carries ``n`` and a fingerprint: the first line of an error logged with
``log.exception("...")`` keeps the app's own event text, so matching on the
``error``/``aggregated_error`` event names alone would miss it.

Each count therefore takes two filters publishing to the same metric: one
publishes ``$.n`` from the lines that have it, one publishes 1 for an ``error``
line without it. CloudWatch only takes a metric value from a field the pattern
matched ("make sure the field is in the pattern, if only as ``$.fieldName = *``"),
so the first pattern requires ``$.n = *`` and a line without ``n`` never reaches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from bellwatch.schema import Ev, F, Sev

__all__ = ["MetricFilterSpec", "metric_filter_specs"]


@dataclass(frozen=True, slots=True)
class MetricFilterSpec:
    """One metric filter: ``key`` names it; alarms and the dashboard name the ``metric``."""

    key: str
    metric: str
    pattern: str
    value: str
    meaning: str


def _eq(field: str, value: str) -> str:
    return f'$.{field} = "{value}"'


def _ne(field: str, value: str) -> str:
    return f'$.{field} != "{value}"'


# Lines that carry n and a fingerprint, and are not an escalation or alert line.
_NUMBERED = " && ".join(
    (
        f"$.{F.OCCURRENCES} = *",
        f"$.{F.ERROR_HASH} = *",
        _ne(F.EVENT, Ev.ERROR_ESCALATED),
        _ne(F.EVENT, Ev.ALERT_FIRED),
        _ne(F.EVENT, Ev.ALERT_FAILED),
    )
)
# A first-occurrence line from before lines carried n: one occurrence.
_UNNUMBERED = f"{_eq(F.EVENT, Ev.ERROR)} && $.{F.OCCURRENCES} NOT EXISTS"
_SEVERE = f"({_eq(F.SEVERITY, Sev.HIGH)} || {_eq(F.SEVERITY, Sev.CRITICAL)})"


def metric_filter_specs(slow_threshold: float = 2.0) -> tuple[MetricFilterSpec, ...]:
    """The filters setup installs; ``slow_threshold`` is seconds, as the middleware uses."""
    request = _eq(F.EVENT, Ev.REQUEST)
    # Millisecond precision, plain decimal notation (no exponent) in the pattern.
    slow = f"{round(slow_threshold, 3):.3f}".rstrip("0").rstrip(".")
    return (
        MetricFilterSpec(
            "errors",
            "ErrorCount",
            f"{{ {_NUMBERED} }}",
            f"$.{F.OCCURRENCES}",
            "error occurrences: the n of each error line",
        ),
        MetricFilterSpec(
            "errors_unnumbered",
            "ErrorCount",
            f"{{ {_UNNUMBERED} }}",
            "1",
            "error occurrences: 1 for an error line without n (older logs)",
        ),
        MetricFilterSpec(
            "severe_errors",
            "SevereErrorCount",
            f"{{ {_NUMBERED} && {_SEVERE} }}",
            f"$.{F.OCCURRENCES}",
            "occurrences on error lines rated high or critical",
        ),
        MetricFilterSpec(
            "severe_errors_unnumbered",
            "SevereErrorCount",
            f"{{ {_UNNUMBERED} && {_SEVERE} }}",
            "1",
            "1 for a high or critical error line without n (older logs)",
        ),
        MetricFilterSpec(
            "server_errors",
            "Http5xxCount",
            f"{{ {request} && $.{F.STATUS} >= 500 }}",
            "1",
            "requests answered with a 5xx status",
        ),
        MetricFilterSpec(
            "slow_requests",
            "SlowRequestCount",
            f"{{ {request} && $.{F.DURATION} > {slow} }}",
            "1",
            f"requests slower than {slow} s",
        ),
        MetricFilterSpec(
            "signature_failures",
            "TwilioSignatureFailures",
            f"{{ {_eq(F.EVENT, Ev.SIGNATURE_FAILED)} }}",
            "1",
            "Twilio webhooks whose X-Twilio-Signature did not validate",
        ),
        MetricFilterSpec(
            "requests",
            "RequestCount",
            f"{{ {request} }}",
            "1",
            "requests completed (the error-rate denominator)",
        ),
        MetricFilterSpec(
            "latency",
            "RequestDuration",
            f"{{ {request} && $.{F.DURATION} = * }}",
            f"$.{F.DURATION}",
            "request duration in seconds (dashboard p95)",
        ),
    )
