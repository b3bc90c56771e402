"""What setup's monitoring adds to the bill, counted from :mod:`bellwatch.aws`'s own specs.

The alarms, the dashboard and the metric filters are the ones ``bellwatch aws setup``
builds (:func:`bellwatch.aws.plan.desired_resources`, which reads nothing from AWS),
so the count follows the code: add an alarm there and the bill has it.

Custom metrics are billed by the hour, and only for hours in which the metric
receives data. A metric filter publishes only when a line matches it, so
:class:`FilterHours` replays setup's filter patterns over the records (with the
local CloudWatch filter-pattern engine) and counts, for each metric, the hours of
the time read in which it would have received data. EMF lines in the logs say their
own metrics; :class:`EmfHours` counts those the same way.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..aws.config import DEFAULT_RULES, AlarmRule
from ..aws.discover import Targets
from ..aws.metric_filters import metric_filter_specs
from ..aws.plan import SetupOptions, desired_resources
from ..aws.resources import Alarm, Dashboard, MetricFilter, Resource
from ..query import filterpattern
from ..sources.base import Record

__all__ = [
    "HOUR_MS",
    "TYPICAL_TARGETS",
    "EmfHours",
    "FilterHours",
    "Monitoring",
    "alarm_metrics",
    "setup_monitoring",
]

HOUR_MS: Final = 3_600_000
_HIGH_RESOLUTION = 60  # seconds: alarms on shorter periods are high-resolution alarms

TYPICAL_TARGETS: Final = Targets(
    cluster="cluster",
    service="service",
    load_balancer="app/alb/0",
    target_group="targetgroup/tg/0",
    log_group="/ecs/service",
    container_insights=True,
)
"""An ECS service behind an ALB with Container Insights: setup creates every alarm for it."""


def alarm_metrics(params: Mapping[str, Any]) -> int:
    """Metrics an alarm is billed for: one, or each metric a metric-math alarm reads."""
    queries = params.get("Metrics")
    if not queries:
        return 1
    return sum(1 for q in queries if "MetricStat" in q)


def _high_resolution(params: Mapping[str, Any]) -> bool:
    periods = [params.get("Period")]
    periods += [
        q["MetricStat"].get("Period") for q in params.get("Metrics") or () if "MetricStat" in q
    ]
    return any(isinstance(p, int) and p < _HIGH_RESOLUTION for p in periods)


@dataclass(frozen=True, slots=True)
class Monitoring:
    """The billable parts of setup's resources."""

    alarms: int
    alarm_metrics: int
    """Standard-resolution alarm metrics (a metric-math alarm counts each metric it reads)."""
    high_resolution_alarm_metrics: int
    dashboards: int
    metric_filters: int
    filter_metrics: tuple[str, ...]
    """The distinct metrics the filters publish (two filters may feed one metric)."""

    @classmethod
    def of(cls, resources: Iterable[Resource]) -> Monitoring:
        """Count the billable parts of ``resources`` (setup's, or a plan's)."""
        resources = list(resources)
        alarms = [r for r in resources if isinstance(r, Alarm)]
        filters = [r for r in resources if isinstance(r, MetricFilter)]
        high = [_high_resolution(a.params) for a in alarms]
        return cls(
            alarms=len(alarms),
            alarm_metrics=sum(
                alarm_metrics(a.params) for a, h in zip(alarms, high, strict=True) if not h
            ),
            high_resolution_alarm_metrics=sum(
                alarm_metrics(a.params) for a, h in zip(alarms, high, strict=True) if h
            ),
            dashboards=sum(isinstance(r, Dashboard) for r in resources),
            metric_filters=len(filters),
            filter_metrics=tuple(dict.fromkeys(str(f.desired["metric"]) for f in filters)),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts."""
        return {
            "alarms": self.alarms,
            "alarm_metrics": self.alarm_metrics,
            "high_resolution_alarm_metrics": self.high_resolution_alarm_metrics,
            "dashboards": self.dashboards,
            "metric_filters": self.metric_filters,
            "filter_metrics": list(self.filter_metrics),
        }


def setup_resources(
    targets: Targets | None = None,
    *,
    rules: Mapping[str, AlarmRule] = DEFAULT_RULES,
    slow_threshold: float = 2.0,
    region: str = "us-east-1",
) -> list[Resource]:
    """What ``bellwatch aws setup`` would manage for ``targets`` (default: every alarm)."""
    opts = SetupOptions(
        stack="estimate",
        email=None,
        targets=targets or TYPICAL_TARGETS,
        rules=rules,
        slow_threshold=slow_threshold,
    )
    # Reads nothing: the topic ARN only goes into the alarm actions, which cost nothing.
    return desired_resources(opts, region=region, topic_arn="arn:aws:sns:estimate")


def setup_monitoring(
    targets: Targets | None = None,
    *,
    rules: Mapping[str, AlarmRule] = DEFAULT_RULES,
    slow_threshold: float = 2.0,
) -> Monitoring:
    """The billable parts of what setup creates for ``targets`` (default: every alarm)."""
    return Monitoring.of(setup_resources(targets, rules=rules, slow_threshold=slow_threshold))


class FilterHours:
    """For each metric setup's filters publish: the hours in which a record would feed it."""

    __slots__ = ("_filters", "hours")

    def __init__(self, slow_threshold: float = 2.0) -> None:
        self._filters: list[tuple[str, filterpattern.Matcher]] = [
            (spec.metric, filterpattern.compile(spec.pattern, spec.value))
            for spec in metric_filter_specs(slow_threshold)
        ]
        self.hours: dict[str, set[int]] = {metric: set() for metric, _ in self._filters}

    def add(self, record: Record, message: str, hour: int) -> None:
        """Count ``record`` (a structured line of hour ``hour``); cheap once an hour is seen."""
        for metric, matcher in self._filters:
            seen = self.hours[metric]
            # A metric is billed for the hour whatever the number of datapoints in it.
            if hour not in seen and matcher.value(message, record) is not None:
                seen.add(hour)


class EmfHours:
    """EMF lines in the logs: each metric they define (namespace, name, dimensions), and
    the hours it received data."""

    __slots__ = ("hours",)

    def __init__(self) -> None:
        self.hours: dict[tuple[str, str, tuple[tuple[str, str], ...]], set[int]] = {}

    def add(self, record: Record, hour: int | None) -> None:
        """Count one EMF line (a record with an ``_aws`` key)."""
        meta = record.get("_aws")
        directives = meta.get("CloudWatchMetrics") if isinstance(meta, dict) else None
        if not isinstance(directives, list):
            return
        for directive in directives:
            if not isinstance(directive, dict):
                continue
            namespace = str(directive.get("Namespace", ""))
            names = [m.get("Name") for m in directive.get("Metrics") or () if isinstance(m, dict)]
            dimsets: list[Any] = directive.get("Dimensions") or [[]]
            for dimset in dimsets:
                dims = tuple(sorted((str(d), str(record.get(d, ""))) for d in dimset or ()))
                for name in names:
                    if isinstance(name, str):
                        hours = self.hours.setdefault((namespace, name, dims), set())
                        if hour is not None:
                            hours.add(hour)
