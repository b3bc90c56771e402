"""Metric filters on the JSON log lines, with patterns built from :mod:`bellwatch.schema`.

CloudWatch's JSON form ``{ $.key = "value" }`` is the only one that reads our
lines: the space-delimited form ``[timestamp, level, ...]`` splits on spaces and
never matches a JSON object.
"""

from __future__ import annotations

from dataclasses import dataclass

from bellwatch.schema import Ev, F, Sev

__all__ = ["MetricFilterSpec", "metric_filter_specs"]


@dataclass(frozen=True, slots=True)
class MetricFilterSpec:
    """One metric filter: ``key`` names the metric in alarms and the dashboard."""

    key: str
    metric: str
    pattern: str
    value: str
    meaning: str


def _eq(field: str, value: str) -> str:
    return f'$.{field} = "{value}"'


def metric_filter_specs(slow_threshold: float = 2.0) -> tuple[MetricFilterSpec, ...]:
    """The filters setup installs; ``slow_threshold`` is seconds, as the middleware uses."""
    request = _eq(F.EVENT, Ev.REQUEST)
    # Millisecond precision, plain decimal notation (no exponent) in the pattern.
    slow = f"{round(slow_threshold, 3):.3f}".rstrip("0").rstrip(".")
    return (
        MetricFilterSpec(
            "errors",
            "ErrorCount",
            f"{{ {_eq(F.LEVEL, 'ERROR')} || {_eq(F.LEVEL, 'CRITICAL')} }}",
            "1",
            "lines at level ERROR or CRITICAL",
        ),
        MetricFilterSpec(
            "severe_errors",
            "SevereErrorCount",
            f"{{ {_eq(F.SEVERITY, Sev.HIGH)} || {_eq(F.SEVERITY, Sev.CRITICAL)} }}",
            "1",
            "errors the aggregator rated high or critical",
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
            f"{{ {request} }}",
            f"$.{F.DURATION}",
            "request duration in seconds (dashboard p95)",
        ),
    )
