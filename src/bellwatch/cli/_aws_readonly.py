"""The ``bellwatch aws`` commands that change nothing: ``health`` (and :func:`health`,
which ``bellwatch health --source aws`` calls), ``policy`` and ``cost``.

Kept apart from :mod:`.aws` (the group, and setup and teardown, which change the account),
which registers them. May import ``bellwatch.aws`` (boto3 through
:mod:`bellwatch.aws.session`, inside the commands), ``bellwatch.cost`` (inside the command
that prints dollars), ``_settings``, click, and :mod:`._aws_options` / :mod:`.options`; never
:mod:`.aws`.
"""

from __future__ import annotations

import json

import click

from bellwatch._settings import resolve
from bellwatch.aws.discover import discover
from bellwatch.aws.health import ServiceHealth, service_health
from bellwatch.aws.permissions import PARTS, PolicyScope, policy
from bellwatch.aws.usage import read_usage

from ._aws_options import (
    aws_clients,
    aws_errors,
    check_name,
    cost_errors,
    prices_option,
    region_option,
)
from .options import UsageProblem

__all__ = ["cost_command", "health", "health_command", "policy_command"]


def health(
    *,
    cluster: str | None = None,
    service: str | None = None,
    target_group: str | None = None,
    region: str | None = None,
    profile: str | None = None,
    stack: str | None = None,
) -> ServiceHealth:
    """The ECS service's health and who its alarms reach (the topic setup made for
    ``stack``, by default the service's name), for ``bellwatch health --source aws``.

    Raises:
        click.ClickException: AWS could not be read (the message says why).
    """
    with aws_errors():
        clients = aws_clients(region, profile)
        targets = discover(clients, cluster=cluster, service=service, target_group=target_group)
        return service_health(clients, targets, stack=stack)


@click.command("health")
@click.option("--cluster", help="ECS cluster (default: the only one).")
@click.option("--service", help="ECS service (default: the only one in the cluster).")
@click.option("--target-group", help="Target group name or ARN (default: from the service).")
@click.option(
    "--name", "stack", help="The name setup used, whose alert topic is read (default: the service)."
)
@region_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def health_command(
    *,
    cluster: str | None,
    service: str | None,
    target_group: str | None,
    stack: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> None:
    """Task counts, deployments, recent events, target health, and who the alarms reach
    (an email subscription pending confirmation receives nothing).

    Exit codes: 0 healthy, 1 degraded, 2 could not ask (no credentials, no region,
    access denied, a bad option), so a script can tell "down" from "cannot see".
    """
    try:
        report = health(
            cluster=cluster,
            service=service,
            target_group=target_group,
            region=region,
            profile=profile,
            stack=check_name(stack) if stack else None,
        )
    except click.ClickException as exc:  # exit 2: not a verdict on the service
        raise UsageProblem(exc.format_message()) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo("\n".join(report.lines()))
    raise SystemExit(0 if report.ok else 1)


@click.command("policy")
@click.option(
    "--for", "parts", multiple=True, type=click.Choice(PARTS),
    help="Only what these need (repeatable; default: everything).",
)  # fmt: skip
@click.option("--name", "stack", default="*", help="The stack setup manages (default: any).")
@click.option("--region", default="*", help="The region (default: any).")
@click.option("--account", default="*", help="The AWS account id (default: any).")
@click.option("--log-group", default="*", help="The application log group (default: any).")
@click.option(
    "--alert-topic", help="Topic ARN in-process alerts publish to (default: the stack's)."
)
def policy_command(
    *,
    parts: tuple[str, ...],
    stack: str,
    region: str,
    account: str,
    log_group: str,
    alert_topic: str | None,
) -> None:
    """Print the IAM policy bellwatch needs (attach it to the role that runs it).

    One statement per job (setup, teardown, read, alerts, health) and resource kind,
    scoped to the stack's resources by ARN, with tag conditions on deletes.

    \b
    Examples:
      bellwatch aws policy --name bella-api --region ca-central-1 --account 123456789012
      bellwatch aws policy --for read --for alerts --log-group /ecs/bella-prod
    """
    if stack != "*":
        check_name(stack)
    scope = PolicyScope(stack, region, account, log_group, alert_topic)
    click.echo(json.dumps(policy(*parts, scope=scope), indent=2))


@click.command("cost")
@click.option("--log-group", help="The log group (default: BELLWATCH_LOG_GROUP).")
@region_option
@click.option(
    "--name", "stack",
    help="Count only the alarms and dashboards setup made for this name (default: all of them).",
)  # fmt: skip
@click.option(
    "--days", type=click.IntRange(1, 455), default=30, show_default=True,
    help="Days of IncomingBytes to read back.",
)  # fmt: skip
@click.option(
    "--queries-per-day", type=click.FloatRange(min=0), default=0.0,
    help="Logs Insights queries run a day on the group (people, widgets, scripts).",
)  # fmt: skip
@click.option(
    "--query-hours", type=click.FloatRange(min=0), default=24.0, show_default=True,
    help="Hours of logs each query scans.",
)  # fmt: skip
@prices_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def cost_command(
    *,
    log_group: str | None,
    region: str | None,
    profile: str | None,
    stack: str | None,
    days: int,
    queries_per_day: float,
    query_hours: float,
    prices_path: str | None,
    as_json: bool,
) -> None:
    """What a log group and its monitoring cost a month, from CloudWatch's own figures.

    Measured: IncomingBytes and IncomingLogEvents of the last --days (GetMetricData),
    stored bytes, retention and class (DescribeLogGroups), the metric filters, custom
    metrics, alarms and dashboards that exist. Estimated: the month projected from them.

    \b
    Examples:
      bellwatch aws cost --log-group /ecs/bella-prod
      bellwatch aws cost --log-group /ecs/bella-prod --name bella-api --queries-per-day 20
      bellwatch aws cost --log-group /ecs/bella-prod --prices our-prices.csv --json
    """
    from bellwatch.cost.aws_bill import aws_cost
    from bellwatch.cost.bill import LogOptions
    from bellwatch.cost.prices import load_prices

    settings = resolve(region=region, log_group=log_group)
    if not settings.log_group:
        raise click.UsageError("which log group? pass --log-group (or set BELLWATCH_LOG_GROUP)")
    if stack is not None:
        check_name(stack)
    with cost_errors():
        table = load_prices(prices_path)  # a bad file fails before any AWS call
        with aws_errors():
            usage = read_usage(
                aws_clients(region, profile),
                settings.log_group,
                stack=stack,
                namespaces=[settings.emf_namespace],
                days=days,
            )
        opts = LogOptions(queries_per_day=queries_per_day, query_hours=query_hours)
        result = aws_cost(usage, table.for_region(usage.region), opts)
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo("\n".join(result.lines()))
