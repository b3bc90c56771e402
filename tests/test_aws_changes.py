"""Plans as setup and teardown print and run them: the diff wording and a failure half-way."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from bellwatch.aws.changes import Change, Plan, apply, describe_diff
from bellwatch.aws.clients import AwsError, Clients


def throttled(_: Clients) -> None:
    raise ClientError(
        {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "PutMetricAlarm"
    )


class TestDescribeDiff:
    def test_each_changed_key_is_old_to_new(self) -> None:
        """Only the keys that differ are shown, each as key: old -> new, absent as none."""
        text = describe_diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": "x"})
        assert text == "b: 2 -> 3; c: none -> x"


class TestApply:
    def test_runs_pending_steps_in_order(self) -> None:
        """Steps run in plan order; unchanged lines run nothing and are not returned."""
        ran: list[str] = []
        plan = Plan()
        plan.add(Change("create", "alarm", "a"), lambda _: ran.append("a"))
        plan.add(Change("unchanged", "alarm", "b"), None)
        plan.add(Change("update", "alarm", "c"), lambda _: ran.append("c"))
        done = apply(plan, Clients(region="ca-central-1"))
        assert ran == ["a", "c"] and [c.name for c in done] == ["a", "c"]

    def test_an_aws_failure_says_how_far_it_got(self) -> None:
        """An AWS error half-way names the resource, the count made before it and that a
        re-run finishes; the account is then half set up."""
        plan = Plan()
        plan.add(Change("create", "sns-topic", "t"), lambda _: None)
        plan.add(Change("create", "alarm", "bellwatch-x-cpu-high"), throttled)
        plan.add(Change("create", "dashboard", "d"), lambda _: None)
        with pytest.raises(AwsError) as caught:
            apply(plan, Clients(region="ca-central-1"))
        text = str(caught.value)
        assert "Rate exceeded (alarm bellwatch-x-cpu-high)" in text
        assert "1 of 3 changes were made before it: run it again to finish" in text

    def test_a_bug_is_not_dressed_as_an_aws_error(self) -> None:
        """Anything but a botocore error propagates as it is (a bug, not the account)."""

        def broken(_: Clients) -> None:
            raise KeyError("x")

        plan = Plan()
        plan.add(Change("create", "alarm", "a"), broken)
        with pytest.raises(KeyError):
            apply(plan, Clients(region="ca-central-1"))
