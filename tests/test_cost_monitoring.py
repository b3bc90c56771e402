"""Setup's billable resources, counted from bellwatch.aws's own specs."""

from __future__ import annotations

from dataclasses import replace

from bellwatch.aws.alarms import AlarmTargets, alarm_params
from bellwatch.aws.config import DEFAULT_RULES
from bellwatch.aws.metric_filters import metric_filter_specs
from bellwatch.aws.resources import Alarm
from bellwatch.cost.monitoring import (
    TYPICAL_TARGETS,
    Monitoring,
    alarm_metrics,
    setup_monitoring,
    setup_resources,
)


class TestSetupMonitoring:
    def test_every_alarm_for_an_ecs_service_behind_an_alb(self) -> None:
        """Nine alarms, ten alarm metrics (running-tasks reads two), one dashboard, seven
        metrics from nine filters: what setup creates today."""
        mon = setup_monitoring()
        assert (mon.alarms, mon.alarm_metrics, mon.high_resolution_alarm_metrics) == (9, 10, 0)
        assert (mon.dashboards, mon.metric_filters) == (1, 9)
        assert mon.filter_metrics == (
            "ErrorCount",
            "SevereErrorCount",
            "Http5xxCount",
            "SlowRequestCount",
            "TwilioSignatureFailures",
            "RequestCount",
            "RequestDuration",
        )

    def test_the_count_follows_the_specs(self) -> None:
        """The counts are those of alarm_params and metric_filter_specs, whatever they hold."""
        targets = AlarmTargets(
            "p",
            "arn",
            "ns",
            "ErrorCount",
            "c",
            "s",
            "app/a/1",
            "targetgroup/t/1",
            container_insights=True,
        )
        params, _ = alarm_params(targets, DEFAULT_RULES)
        mon = setup_monitoring()
        assert mon.alarms == len(params)
        assert mon.alarm_metrics == sum(alarm_metrics(p) for p in params)
        assert mon.metric_filters == len(metric_filter_specs())
        assert set(mon.filter_metrics) == {s.metric for s in metric_filter_specs()}

    def test_fewer_targets_fewer_alarms(self) -> None:
        """Without a load balancer or Container Insights, setup makes fewer alarms."""
        ecs_only = replace(
            TYPICAL_TARGETS, load_balancer=None, target_group=None, container_insights=False
        )
        mon = setup_monitoring(ecs_only)
        assert (mon.alarms, mon.alarm_metrics) == (3, 3)  # cpu, memory, error-spike

    def test_a_one_minute_period_is_not_high_resolution(self) -> None:
        """Alarms on periods under 60 s are billed as high resolution; setup's are not."""
        alarms = [r for r in setup_resources() if isinstance(r, Alarm)]
        fast = Alarm({**alarms[0].params, "Period": 10}, {})
        mon = Monitoring.of([*alarms, fast])
        assert mon.high_resolution_alarm_metrics == 1
        assert mon.alarm_metrics == 10

    def test_metric_math_alarms_count_each_metric_read(self) -> None:
        """An alarm of desired - running counts two metrics, an expression none."""
        params = {
            "Metrics": [
                {"Id": "a", "MetricStat": {}},
                {"Id": "b", "MetricStat": {}},
                {"Id": "e", "Expression": "a - b"},
            ]
        }
        assert alarm_metrics(params) == 2
        assert alarm_metrics({"MetricName": "CPUUtilization"}) == 1
