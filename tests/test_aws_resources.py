"""Resources as AWS answers for them, where moto answers differently (moto, botocore validation)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.resources import Dashboard
from test_aws_plan import REGION, aws_env

BODY = {"widgets": [{"type": "text", "x": 0, "y": 0, "width": 6, "height": 3,
                     "properties": {"markdown": "hi"}}]}  # fmt: skip


@pytest.fixture
def clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    aws_env(monkeypatch)
    with mock_aws():
        yield Clients(region=REGION)


class TestDashboard:
    def test_validation_warnings_are_not_swallowed(self, clients: Clients) -> None:
        """PutDashboard "includes only warning messages" when the dashboard was stored but
        "some elements of the dashboard might not render": setup says so rather than report
        success (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html)."""

        def warn(parsed: dict[str, Any], **_: Any) -> None:
            parsed["DashboardValidationMessages"] = [
                {"DataPath": "/widgets/0/properties/metrics", "Message": "Should be an array"}
            ]

        clients.cloudwatch.meta.events.register("after-call.cloudwatch.PutDashboard", warn)
        with pytest.raises(AwsError, match=r"bellwatch-x.*/widgets/0/properties/metrics: "
                                           r"Should be an array"):  # fmt: skip
            Dashboard("bellwatch-x", BODY, {"managed-by": "bellwatch"}).write(clients)

    def test_a_clean_answer_writes_and_tags(self, clients: Clients) -> None:
        """Without validation messages the dashboard is stored and tagged."""
        Dashboard("bellwatch-x", BODY, {"managed-by": "bellwatch"}).write(clients)
        assert clients.cloudwatch.get_dashboard(DashboardName="bellwatch-x")["DashboardBody"]
