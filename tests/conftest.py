"""Shared fixtures: a clean pipeline per test, and no swallowed internal errors."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from bellwatch import _guard
from bellwatch._runtime import runtime
from bellwatch.log import context

# Shared, noisy 2-core machines: no per-example deadline. In CI (CI=true) examples are
# derandomized, so a run is reproducible and cannot fail on a case no one saw locally;
# local runs keep exploring new cases.
settings.register_profile("local", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "local")


@pytest.fixture(autouse=True)
def _clean_bellwatch(request: pytest.FixtureRequest) -> Iterator[None]:
    """Reset bellwatch between tests and fail a test that swallowed an internal error.

    Tests that provoke internal errors on purpose mark themselves
    ``@pytest.mark.internal_errors``.
    """
    swallowed: list[BaseException] = []
    _guard._hooks.append(swallowed.append)
    _guard.counters.reset()
    context.clear()
    try:
        yield
    finally:
        _guard._hooks.remove(swallowed.append)
        runtime.reset()
        context.clear()
    if swallowed and request.node.get_closest_marker("internal_errors") is None:
        pytest.fail(f"bellwatch swallowed internal errors: {swallowed!r}")


@pytest.fixture(scope="session")
def demo_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The log folder of one real demo run (three seconds of traffic), shared by the tests
    that read it (the MCP server's)."""
    from demo_logs import run_demo

    return run_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def sns_inbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any, str]]:
    """An SNS topic on moto with an SQS queue subscribed: (topic ARN, sqs client, queue URL)."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        client = boto3.client("sns", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        topic = client.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        client.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
        yield topic, sqs, queue
