"""``aws/setup-monitoring.sh`` end to end: a real subprocess against a moto server on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bellwatch.aws.clients import Clients
from loopback import moto_server
from test_aws_plan import REGION, aws_env, build_world

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "aws" / "setup-monitoring.sh"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """One moto server for the module (each test uses its own stack name)."""
    with moto_server() as url:
        yield url


@pytest.fixture
def clients(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Clients]:
    aws_env(monkeypatch)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    # A clean account per test: moto's reset endpoint.
    urllib.request.urlopen(
        urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    ).close()
    c = Clients(region=REGION)
    build_world(c)
    yield c


def run(args: list[str], stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}", **env}
    return subprocess.run(
        ["bash", str(SCRIPT), *args], input=stdin, capture_output=True, text=True,
        env=full_env, timeout=90, check=False,
    )  # fmt: skip


class TestSetupScript:
    def test_asks_for_the_email_then_is_idempotent(self, clients: Clients) -> None:
        """The script reads the email from stdin, provisions, and a re-run changes nothing."""
        first = run([], stdin="ops@example.com\n")
        assert first.returncode == 0, first.stderr
        assert "create    sns-subscription ops@example.com" in first.stdout
        assert "confirmation link" in first.stdout
        second = run(["--email", "ops@example.com"])
        assert second.returncode == 0, second.stderr
        assert "total: 22 unchanged" in second.stdout
        topics = clients.sns.list_topics()["Topics"]
        assert [t["TopicArn"].rsplit(":", 1)[1] for t in topics] == ["bellwatch-bella-api-alerts"]

    def test_alert_email_variable_and_dry_run(self, clients: Clients) -> None:
        """ALERT_EMAIL is used without asking, and --dry-run creates nothing."""
        result = run(["--dry-run"], ALERT_EMAIL="oncall@example.com")
        assert result.returncode == 0, result.stderr
        assert "create    sns-subscription oncall@example.com" in result.stdout
        assert clients.cloudwatch.describe_alarms()["MetricAlarms"] == []

    def test_export_passes_through(self, clients: Clients) -> None:
        """--export cloudformation prints a template through the script and creates nothing."""
        result = run(["--email", "ops@example.com", "--export", "cloudformation"])
        assert result.returncode == 0, result.stderr
        assert (
            "AWS::CloudWatch::Alarm"
            in json.loads(result.stdout)["Resources"]["AlarmCpuHigh"]["Type"]
        )
        assert clients.sns.list_topics()["Topics"] == []
