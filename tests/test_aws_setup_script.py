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


def run(
    args: list[str], stdin: str = "", script: Path = SCRIPT, path: str | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    if path is None:
        path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
    full_env = {**os.environ, "PATH": path, **env}
    return subprocess.run(
        ["bash", str(script), *args], input=stdin, capture_output=True, text=True,
        env=full_env, timeout=90, check=False,
    )  # fmt: skip


def outside_checkout(tmp_path: Path) -> Path:
    """The script copied where no .venv is beside it, as in an installed copy."""
    copy = tmp_path / "aws" / "setup-monitoring.sh"
    copy.parent.mkdir()
    copy.write_text(SCRIPT.read_text())
    return copy


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

    def test_nothing_to_read_is_refused_as_the_command_refuses(self, clients: Clients) -> None:
        """No terminal, no ALERT_EMAIL and nothing piped (a CI job): the script stops as
        `bellwatch aws setup` does, saying to pass --email, instead of making alarms that
        notify nobody."""
        result = run([], stdin="", ALERT_EMAIL="")
        assert result.returncode == 2
        assert "no --email and no terminal to ask on" in result.stderr
        assert clients.sns.list_topics()["Topics"] == []

    def test_export_passes_through(self, clients: Clients) -> None:
        """--export cloudformation prints a template through the script and creates nothing."""
        result = run(["--email", "ops@example.com", "--export", "cloudformation"])
        assert result.returncode == 0, result.stderr
        assert (
            "AWS::CloudWatch::Alarm"
            in json.loads(result.stdout)["Resources"]["AlarmCpuHigh"]["Type"]
        )
        assert clients.sns.list_topics()["Topics"] == []


class TestEntryPoint:
    def test_help_runs_the_installed_command(self, tmp_path: Path) -> None:
        """Without a .venv beside it, the script runs the bellwatch command found on PATH."""
        result = run(["--help"], script=outside_checkout(tmp_path))
        assert result.returncode == 0, result.stderr
        assert "Usage: bellwatch aws setup" in result.stdout
        assert "Traceback" not in result.stderr

    def test_dry_run_reaches_aws_without_asking(self, clients: Clients, tmp_path: Path) -> None:
        """A dry run with no email and no ALERT_EMAIL asks nothing and prints the plan."""
        result = run(["--dry-run"], script=outside_checkout(tmp_path), ALERT_EMAIL="")
        assert result.returncode == 0, result.stderr
        assert "Email address" not in result.stdout + result.stderr
        assert "Plan for ca-central-1 (dry run, nothing changed" in result.stdout

    def test_without_bellwatch_says_what_to_install(self, tmp_path: Path) -> None:
        """No bellwatch command anywhere: one line naming the pip install, exit 2."""
        bash = Path(subprocess.check_output(["bash", "-c", "command -v bash"], text=True).strip())
        result = run(["--help"], script=outside_checkout(tmp_path), path=str(bash.parent))
        assert result.returncode == 2
        assert result.stderr.strip().endswith("pip install 'bellwatch[cli,aws]'")
        assert "Traceback" not in result.stderr

    def test_calls_no_module_path(self) -> None:
        """The script runs the console entry point, not a module path that can move."""
        assert "python -m" not in SCRIPT.read_text()
        assert "-m bellwatch" not in SCRIPT.read_text()
