"""The printed IAM policy allows every call bellwatch makes, and nothing else.

Every API call of setup, teardown, health, the CLI's CloudWatch source and SNS alerts
is recorded with botocore's ``before-parameter-build`` hook against moto, turned into
an IAM request (action, resource ARN, the resource's tags and the request's condition
keys, read from moto before the call), and judged by the small evaluator below, since
moto evaluates no IAM policy. The rules it applies, from the IAM User Guide:

- "Policy evaluation logic": with only Allow statements, a request is allowed when a
  statement matches its action, resource and conditions; otherwise it is denied.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- Action: case-insensitive, ``*`` and ``?`` wildcards. Resource: ARN match, case-sensitive,
  with ``*`` and ``?`` wildcards within and across ARN segments.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html
- Conditions: every operator block must hold; ``StringEquals``/``StringLike`` hold when
  the key is present and equals (matches) one of the values; ``ForAllValues:`` holds when
  every value of the key is among them, so also when the key is absent.
  ``aws:ResourceTag/<key>`` is the tag of the resource the request names.
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourcetag

Which resource a request names comes from the Service Authorization Reference (the
"Resource types" column: none means the request is on ``*``; a listing call names every
resource of its type, ``alarm:*``). Creating a resource with tags also needs the
service's ``TagResource`` on it ("tag on create").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner
from moto import mock_aws

from bellwatch.aws import session
from bellwatch.aws.clients import Clients
from bellwatch.aws.discover import discover
from bellwatch.aws.health import service_health
from bellwatch.aws.permissions import PARTS, PolicyScope, policy
from bellwatch.aws.plan import SetupOptions, apply, build_plan
from bellwatch.aws.teardown import teardown_plan
from bellwatch.aws.usage import read_usage
from bellwatch.cli.aws import aws_group
from bellwatch.errors.alerts import Alert, SnsNotifier
from bellwatch.sources.base import SourceError
from bellwatch.sources.cloudwatch import CloudWatchSource
from test_aws_plan import GROUP, REGION, World, aws_env, build_world

ACCOUNT = "123456789012"  # moto's
_IAM_PREFIX = {"monitoring": "cloudwatch"}  # CloudWatch signs as "monitoring"

# action -> the parameter naming its resource, for actions with a resource type
# (Service Authorization Reference, "Actions defined by ..."). Absent: no resource type.
_NAMED_BY: dict[str, tuple[str, str]] = {
    # (resource type, parameter)
    "cloudwatch:PutMetricAlarm": ("alarm", "AlarmName"),
    "cloudwatch:DescribeAlarms": ("alarm", "AlarmNames"),
    "cloudwatch:DeleteAlarms": ("alarm", "AlarmNames"),
    "cloudwatch:TagResource": ("arn", "ResourceARN"),
    "cloudwatch:ListTagsForResource": ("arn", "ResourceARN"),
    "cloudwatch:GetDashboard": ("dashboard", "DashboardName"),
    "cloudwatch:PutDashboard": ("dashboard", "DashboardName"),
    "cloudwatch:DeleteDashboards": ("dashboard", "DashboardNames"),
    "sns:CreateTopic": ("topic-name", "Name"),
    "sns:TagResource": ("arn", "ResourceArn"),
    "sns:ListTagsForResource": ("arn", "ResourceArn"),
    "sns:ListSubscriptionsByTopic": ("arn", "TopicArn"),
    "sns:Subscribe": ("arn", "TopicArn"),
    "sns:DeleteTopic": ("arn", "TopicArn"),
    "sns:Publish": ("arn", "TopicArn"),
    "logs:CreateLogGroup": ("log-group", "logGroupName"),
    "logs:PutRetentionPolicy": ("log-group", "logGroupName"),
    "logs:DescribeMetricFilters": ("log-group", "logGroupName"),
    "logs:PutMetricFilter": ("log-group", "logGroupName"),
    "logs:DeleteMetricFilter": ("log-group", "logGroupName"),
    "logs:FilterLogEvents": ("log-group", "logGroupName"),
    "logs:StartQuery": ("log-group", "logGroupName"),
}
_TAG_ON_CREATE = {
    "logs:CreateLogGroup": "tags",
    "sns:CreateTopic": "Tags",
    "cloudwatch:PutMetricAlarm": "Tags",
    "cloudwatch:PutDashboard": "Tags",
}
# "No permissions are required to perform this operation." (STS GetCallerIdentity)
_FREE = {"sts:GetCallerIdentity"}


@dataclass(frozen=True)
class Request:
    """One IAM authorization request."""

    action: str
    resource: str
    context: dict[str, list[str]] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


def _arn(kind: str, name: str, region: str) -> str:
    return {
        "alarm": f"arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}",
        "dashboard": f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{name}",
        "topic-name": f"arn:aws:sns:{region}:{ACCOUNT}:{name}",
        "log-group": f"arn:aws:logs:{region}:{ACCOUNT}:log-group:{name}",
        "arn": name,
    }[kind]


_REAL_CLIENT = session.client  # before the recorder replaces it


def _tags_of(arn: str, region: str) -> dict[str, str]:
    """The resource's tags in moto right now (through a client nobody records)."""
    service = arn.split(":")[2]
    if service == "cloudwatch":
        raw = _REAL_CLIENT("cloudwatch", region=region).list_tags_for_resource(ResourceARN=arn)
    elif service == "sns":
        try:
            raw = _REAL_CLIENT("sns", region=region).list_tags_for_resource(ResourceArn=arn)
        except Exception:
            return {}  # not created yet
    else:
        return {}
    return {t["Key"]: t["Value"] for t in raw.get("Tags", [])}


def requests_for(action: str, params: dict[str, Any], region: str) -> list[Request]:
    """The IAM requests one API call makes."""
    if action in _FREE:
        return []
    if action not in _NAMED_BY:
        return [Request(action, "*")]
    kind, param = _NAMED_BY[action]
    names = params.get(param)
    if names is None:  # a listing call: every resource of the type
        wildcard = {"alarm": "alarm:*", "log-group": "log-group:*"}[kind]
        service = action.split(":", maxsplit=1)[0]
        return [Request(action, f"arn:aws:{service}:{region}:{ACCOUNT}:{wildcard}")]
    out = []
    for name in [names] if isinstance(names, str) else names:
        arn = _arn(kind, name, region)
        context = {f"aws:ResourceTag/{k}": [v] for k, v in _tags_of(arn, region).items()}
        if action == "cloudwatch:PutMetricAlarm":
            context["cloudwatch:AlarmActions"] = list(params.get("AlarmActions", []))
        out.append(Request(action, arn, context))
        if params.get(_TAG_ON_CREATE.get(action, "-")):
            out.append(Request(f"{action.split(':', maxsplit=1)[0]}:TagResource", arn))
    return out


def _like(pattern: str, value: str, *, case: bool = True) -> bool:
    """IAM wildcard match: ``*`` any run of characters, ``?`` one; nothing else special."""
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, flags=0 if case else re.IGNORECASE) is not None


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else value


def _condition(block: dict[str, dict[str, Any]], context: dict[str, list[str]]) -> bool:
    for operator, tests in block.items():
        qualifier, _, op = operator.rpartition(":")
        for key, allowed in tests.items():
            wanted = [allowed] if isinstance(allowed, str) else allowed
            values = context.get(key)

            def match(value: str, wanted: list[str] = wanted, op: str = op) -> bool:
                if op == "StringLike":
                    return any(_like(w, value) for w in wanted)
                return value in wanted  # StringEquals

            if qualifier == "ForAllValues":
                ok = all(match(v) for v in values or [])
            else:
                ok = values is not None and any(match(v) for v in values)
            if not ok:
                return False
    return True


def allows(statement: dict[str, Any], request: Request) -> bool:
    """Whether one Allow statement matches the request (action, resource, conditions)."""
    return (
        statement["Effect"] == "Allow"
        and any(_like(a, request.action, case=False) for a in _listed(statement["Action"]))
        and any(_like(r, request.resource) for r in _listed(statement["Resource"]))
        and _condition(statement.get("Condition", {}), request.context)
    )


class TestEvaluator:
    """The evaluator applies the IAM rules quoted above."""

    STATEMENT: ClassVar[dict[str, Any]] = {"Effect": "Allow", "Action": ["logs:Put*"],
                 "Resource": "arn:aws:logs:*:1:log-group:/ecs/*",
                 "Condition": {"StringEquals": {"aws:ResourceTag/team": "a"}}}  # fmt: skip

    @pytest.mark.parametrize(
        ("action", "resource", "tags", "allowed"),
        [
            ("logs:PutRetentionPolicy", "arn:aws:logs:r:1:log-group:/ecs/x", {"team": "a"}, True),
            ("LOGS:putretentionpolicy", "arn:aws:logs:r:1:log-group:/ecs/x", {"team": "a"}, True),
            ("logs:DeleteLogGroup", "arn:aws:logs:r:1:log-group:/ecs/x", {"team": "a"}, False),
            ("logs:PutRetentionPolicy", "arn:aws:logs:r:1:log-group:/ECS/x", {"team": "a"}, False),
            ("logs:PutRetentionPolicy", "arn:aws:logs:r:1:log-group:/ecs/x", {"team": "b"}, False),
            ("logs:PutRetentionPolicy", "arn:aws:logs:r:1:log-group:/ecs/x", {}, False),
            ("logs:PutRetentionPolicy", "arn:aws:logs:r:2:log-group:/ecs/x", {"team": "a"}, False),
        ],
    )  # fmt: skip
    def test_rules(self, action: str, resource: str, tags: dict[str, str], allowed: bool) -> None:
        """Wildcards, case, resource and tag conditions decide as IAM does."""
        context = {f"aws:ResourceTag/{k}": [v] for k, v in tags.items()}
        assert allows(self.STATEMENT, Request(action, resource, context)) is allowed

    def test_for_all_values_holds_without_the_key(self) -> None:
        """ForAllValues holds when the key is absent, and checks every value when present."""
        st = {"Effect": "Allow", "Action": "cw:Put", "Resource": "*",
              "Condition": {"ForAllValues:StringLike": {"k": ["arn:t:*"]}}}  # fmt: skip
        assert allows(st, Request("cw:Put", "x"))
        assert allows(st, Request("cw:Put", "x", {"k": ["arn:t:1"]}))
        assert not allows(st, Request("cw:Put", "x", {"k": ["arn:t:1", "arn:u:2"]}))


@dataclass
class Recorder:
    """The IAM requests made through ``session.client`` while ``part`` is set."""

    part: str = ""
    seen: dict[str, list[Request]] = field(default_factory=dict)

    def hook(self, prefix: str, region: str) -> Any:
        def record(params: dict[str, Any], model: Any, **_: Any) -> None:
            if self.part:
                action = f"{prefix}:{model.name}"
                self.seen.setdefault(self.part, []).extend(requests_for(action, params, region))

        return record


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    aws_env(monkeypatch)
    rec = Recorder()
    real = session.client

    def recording(service: str, **kwargs: Any) -> Any:
        client = real(service, **kwargs)
        prefix = client.meta.service_model.signing_name
        prefix = _IAM_PREFIX.get(prefix, prefix)
        client.meta.events.register(
            "before-parameter-build", rec.hook(prefix, client.meta.region_name)
        )
        return client

    monkeypatch.setattr(session, "client", recording)
    with mock_aws():
        yield rec


def _run_everything(rec: Recorder, w: World) -> None:
    """Every AWS call path of every part, as the tests of each part run them."""
    c = Clients(region=REGION)
    quiet = _REAL_CLIENT("sns", region=REGION)  # not recorded: rec.part is "" meanwhile
    rec.part = "setup"
    opts = SetupOptions("bella", "ops@example.com", discover(c), retention_days=90)
    apply(build_plan(opts, c), c)
    apply(build_plan(opts, c), c)  # the second run reads and writes nothing
    rec.part = ""
    _REAL_CLIENT("logs", region=REGION).delete_log_group(logGroupName=GROUP)
    rec.part = "setup"
    new_group = SetupOptions("bella", "new@example.com", discover(c), create_log_group=True)
    apply(build_plan(new_group, Clients(region=REGION)), c)  # another address: topic re-tagged
    named = discover(c, load_balancer="bella-alb", target_group="bella-tg")  # names, not ARNs
    apply(build_plan(SetupOptions("bella", None, named, resend_confirmation=True), c), c)
    rec.part = ""
    (topic,) = quiet.list_topics()["Topics"]
    arn = topic["TopicArn"]
    bob = quiet.subscribe(TopicArn=arn, Protocol="email", Endpoint="bob@example.com",
                          ReturnSubscriptionArn=True)["SubscriptionArn"]  # fmt: skip
    rec.part = "alerts"
    SnsNotifier(arn).send(Alert("ab12cd34", "DBError", "down", "critical", 1, "/book", False,
                                "bella-api", "prod"))  # fmt: skip
    rec.part = "health"
    service_health(Clients(region=REGION), discover(Clients(region=REGION)))
    service_health(c, discover(c, target_group=w.tg_arn))
    service_health(c, discover(c), stack="bella")  # the topic setup made: its subscriptions
    rec.part = "read"
    src = CloudWatchSource(GROUP, region=REGION, sleep=lambda _: None)
    list(src.records())
    list(src.follow(stop=lambda: True))
    src.latest(5)
    src.run_insights("fields @message", 0, 1000)
    slow = CloudWatchSource(GROUP, region=REGION, sleep=lambda _: None, query_timeout=0)
    slow.client.meta.events.register(
        "before-call.cloudwatch-logs.GetQueryResults",
        lambda **_: (type("R", (), {"status_code": 200, "headers": {}})(),
                     {"status": "Running", "statistics": {}}),
    )  # fmt: skip
    with pytest.raises(SourceError):
        slow.run_insights("fields @message", 0, 1000)  # timed out: StopQuery
    read_usage(Clients(region=REGION), GROUP, stack="bella", namespaces=["Bellwatch"])  # aws cost
    read_usage(Clients(region=REGION), GROUP)  # every alarm and dashboard
    rec.part = "teardown"
    apply(teardown_plan("bella", Clients(region=REGION)), c)  # keeps the topic for bob
    rec.part = ""
    quiet.unsubscribe(SubscriptionArn=bob)
    rec.part = "teardown"
    apply(teardown_plan("bella", Clients(region=REGION)), c)  # now the topic goes
    rec.part = ""


class TestPolicy:
    SCOPE = PolicyScope("bella", REGION, ACCOUNT, GROUP)

    @pytest.fixture
    def seen(self, recorder: Recorder) -> dict[str, list[Request]]:
        w = build_world(Clients(region=REGION))
        _run_everything(recorder, w)
        assert set(recorder.seen) == set(PARTS)
        return recorder.seen

    def test_every_call_is_allowed_by_its_part(self, seen: dict[str, list[Request]]) -> None:
        """Each request of each part is allowed by that part's statements alone."""
        for part, requests in seen.items():
            statements = policy(part, scope=self.SCOPE)["Statement"]
            denied = [str(r) for r in requests if not any(allows(s, r) for s in statements)]
            assert denied == [], part

    def test_nothing_else_is_granted(self, seen: dict[str, list[Request]]) -> None:
        """Every action of every statement allows some recorded call of its part."""
        for part, requests in seen.items():
            for st in policy(part, scope=self.SCOPE)["Statement"]:
                for action in st["Action"]:
                    used = [r for r in requests if r.action == action and allows(st, r)]
                    assert used, f"{part}: {st['Sid']} grants {action}, which nothing uses"

    def test_star_only_where_iam_cannot_scope(self, seen: dict[str, list[Request]]) -> None:
        """A statement on "*" holds only actions whose requests name no resource."""
        named = {r.action for rs in seen.values() for r in rs if r.resource != "*"}
        for st in policy(scope=self.SCOPE)["Statement"]:
            if st["Resource"] == "*":
                assert not set(st["Action"]) & named, st["Sid"]

    def test_deletes_need_our_tags(self, seen: dict[str, list[Request]]) -> None:
        """Deleting an alarm or the topic without the stack's tags is denied."""
        statements = policy("teardown", scope=self.SCOPE)["Statement"]
        deletes = [r for r in seen["teardown"] if r.action in ("cloudwatch:DeleteAlarms",
                                                                "sns:DeleteTopic")]  # fmt: skip
        assert deletes
        for r in deletes:
            untagged = Request(r.action, r.resource, {})
            other = Request(r.action, r.resource, {**r.context,
                            "aws:ResourceTag/bellwatch:stack": ["other"]})  # fmt: skip
            assert not any(allows(s, untagged) or allows(s, other) for s in statements)

    def test_other_stacks_and_groups_are_out_of_scope(self) -> None:
        """The scoped policy names only this stack's alarms, dashboard, topic and group."""
        text = json.dumps(policy(scope=self.SCOPE))
        arns = set(re.findall(r'"(arn:[^"]+)"', text))
        assert arns == {
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:bellwatch-bella-*",
            f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*",
            f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/bellwatch-bella-*",
            f"arn:aws:sns:{REGION}:{ACCOUNT}:bellwatch-bella-alerts",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{GROUP}:*",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:*",
        }


class TestCommand:
    def test_prints_the_scoped_policy(self) -> None:
        """`bellwatch aws policy` prints the document policy() builds for its options."""
        args = ["policy", "--name", "bella", "--region", REGION, "--account", ACCOUNT,
                "--log-group", GROUP, "--for", "read", "--for", "alerts"]  # fmt: skip
        out = CliRunner().invoke(aws_group, args)
        assert out.exit_code == 0, out.output
        doc = json.loads(out.output)
        assert doc == policy("read", "alerts", scope=PolicyScope("bella", REGION, ACCOUNT, GROUP))
        assert [s["Sid"] for s in doc["Statement"]] == ["ReadLogGroup", "ReadAlarms",
                                                         "ReadUnscoped", "Alerts"]  # fmt: skip

    def test_separate_statements_per_part(self) -> None:
        """Setup, teardown, read, alerts and health each get their own statements."""
        sids = [s["Sid"] for s in policy()["Statement"]]
        for prefix in ("Setup", "Teardown", "Read", "Alerts", "Health"):
            assert any(sid.startswith(prefix) for sid in sids), prefix
        assert len(sids) == len(set(sids))

    def test_unknown_part(self) -> None:
        """An unknown part is a KeyError naming the known ones."""
        with pytest.raises(KeyError, match="known: setup"):
            policy("nope")
