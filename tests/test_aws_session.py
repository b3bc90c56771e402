"""aws.session: the one place boto3 clients are made, and the region they get."""

from __future__ import annotations

from pathlib import Path

import pytest

from bellwatch.aws import session


@pytest.fixture(autouse=True)
def _no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for key in ("AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE", "BELLWATCH_REGION"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))


class TestRegion:
    def test_aws_region_is_honoured(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """AWS_REGION alone (what the CLI's messages tell people to set) gives the region."""
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        assert session.client("logs").meta.region_name == "eu-west-1"

    def test_aws_region_before_aws_default_region(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """AWS_REGION wins over AWS_DEFAULT_REGION, as the AWS CLI documents it."""
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
        assert session.client("logs").meta.region_name == "eu-west-1"

    def test_a_given_region_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """--region (or BELLWATCH_REGION, resolved by the caller) beats AWS_REGION."""
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        assert session.client("logs", region="ap-south-1").meta.region_name == "ap-south-1"

    def test_configured_region_reads_aws_region(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The region pricing falls back to is the one a client would get."""
        monkeypatch.setenv("AWS_REGION", "eu-west-1")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
        assert session.configured_region() == "eu-west-1"
