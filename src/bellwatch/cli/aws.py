"""``bellwatch aws setup | teardown | health | policy | cost``: the click group the main
CLI registers.

boto3 is imported inside the commands (through :mod:`bellwatch.aws.session`), so
importing this module to build ``bellwatch --help`` stays light. Prices come from
:mod:`bellwatch.cost` (imported by the commands that print dollars): this module is the
aws layer's CLI, which sits above it (see the import contracts in pyproject.toml).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from bellwatch._settings import resolve
from bellwatch.aws.clients import Clients
from bellwatch.aws.config import ConfigError, load_rules
from bellwatch.aws.discover import discover
from bellwatch.aws.export import cloudformation
from bellwatch.aws.health import ServiceHealth, service_health
from bellwatch.aws.permissions import PARTS, PolicyScope, policy
from bellwatch.aws.plan import Plan, SetupOptions, apply, build_plan, check_email, check_stack
from bellwatch.aws.teardown import teardown_plan
from bellwatch.aws.usage import read_usage

from ._aws_options import (
    aws_clients,
    aws_errors,
    check_retention,
    cost_errors,
    prices_option,
    region_option,
    target_options,
)
from .options import UsageProblem

__all__ = ["aws_group", "health"]


def _stack(name: str) -> str:
    try:
        return check_stack(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None


def _print_plan(plan: Plan, *, as_json: bool, title: str) -> None:
    if as_json:
        click.echo(json.dumps(plan.as_dict(), indent=2))
        return
    click.echo(title)
    for change in plan.changes:
        click.echo(f"  {change}")
    for note in plan.notes:
        click.echo(f"  note: {note}")
    counts = ", ".join(f"{n} {a}" for a, n in sorted(plan.counts().items()))
    click.echo(f"  total: {counts or 'nothing'}")


def interactive() -> bool:
    """Whether someone can answer a question: stdin is a terminal."""
    return sys.stdin.isatty()


def _email(given: str | None, *, asks: bool) -> str:
    """The alert email: ``--email``, else asked for on a terminal when ``asks``.

    A dry run or an export never asks (its plan says when the alarms would reach nobody);
    with no terminal nothing is asked and the missing value is an error that says what
    to pass.
    """
    if given is not None:
        return given
    if not asks:
        return ""
    if not interactive():
        raise click.UsageError(
            "no --email and no terminal to ask on: pass --email ADDRESS "
            "(or --email '' for alarms that notify nobody)"
        )
    return str(
        click.prompt(
            "Alert email for SNS notifications (empty to skip)", default="", show_default=False
        )
    )


@click.group("aws")
def aws_group() -> None:
    """Provision CloudWatch monitoring for an ECS service, check its health and its cost.

    \b
    Examples:
      bellwatch aws setup --email ops@example.com --dry-run
      bellwatch aws setup --set response-time.statistic=p99 --config monitoring.toml
      bellwatch aws setup --email ops@example.com --export cloudformation -o monitoring.json
      bellwatch aws setup --cluster bella-prod --service bella-api --log-group /ecs/bella-prod
      bellwatch aws teardown --name bella-api
      bellwatch aws cost --log-group /ecs/bella-prod --name bella-api
    """


@aws_group.command("setup")
@click.option(
    "--email",
    help="Address the alarms notify ('' for none); asked for on a terminal when missing, "
    "never by --dry-run or --export.",
)  # fmt: skip
@target_options
@click.option("--log-group", help="Application log group (default: BELLWATCH_LOG_GROUP, ECS).")
@region_option
@click.option("--name", "stack", help="Name for what setup creates (default: the ECS service).")
@click.option(
    "--retention",
    type=int,
    callback=check_retention,
    help="Set the log group's retention in days (1, 3, 7, 14, 30, 90, ...); without it an "
    "existing retention is left as it is.",
)
@click.option(
    "--create-log-group", is_flag=True,
    help="Create the log group when it does not exist (30-day retention unless --retention).",
)  # fmt: skip
@click.option(
    "--config", "config_path", type=click.Path(dir_okay=False),
    help="TOML file of alarm settings ([alarms.<name>] threshold, statistic, period, ...).",
)  # fmt: skip
@click.option(
    "--set", "overrides", multiple=True, metavar="ALARM.KEY=VALUE",
    help="Override one alarm setting, e.g. response-time.statistic=p99 (repeatable).",
)  # fmt: skip
@click.option(
    "--resend-confirmation", is_flag=True,
    help="Have AWS mail the subscription link again when it is still unconfirmed.",
)  # fmt: skip
@click.option(
    "--dry-run", is_flag=True, help="Print the plan and its monthly cost; change nothing."
)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@prices_option
@click.option(
    "--export", type=click.Choice(["cloudformation"]),
    help="Write a CloudFormation template of the same resources instead; change nothing.",
)  # fmt: skip
@click.option(
    "--output", "-o", type=click.File("w"), default="-",
    help="Where --export writes the template (default: stdout).",
)  # fmt: skip
def setup_command(  # click passes every option by keyword
    *,
    email: str | None,
    cluster: str | None,
    service: str | None,
    load_balancer: str | None,
    target_group: str | None,
    log_group: str | None,
    region: str | None,
    profile: str | None,
    stack: str | None,
    retention: int | None,
    create_log_group: bool,
    config_path: str | None,
    overrides: tuple[str, ...],
    resend_confirmation: bool,
    dry_run: bool,
    as_json: bool,
    prices_path: str | None,
    export: str | None,
    output: Any,
) -> None:
    """Create or update the SNS topic, retention, metric filters, alarms and dashboard.

    Idempotent: a second run reports every resource unchanged and writes nothing.
    An update says `key: old -> new` for each attribute it changes.
    """
    settings = resolve(region=region, log_group=log_group)
    email = _email(email, asks=not (dry_run or export)).strip()
    if email:
        try:
            check_email(email)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--email") from None
    try:
        rules = load_rules(config_path, overrides)
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--config/--set") from None
    with aws_errors():
        clients = aws_clients(region, profile)
        targets = discover(
            clients,
            cluster=cluster,
            service=service,
            load_balancer=load_balancer,
            target_group=target_group,
            log_group=settings.log_group,
        )
        if targets.empty:
            # Usually the wrong --region: a topic and an alarm on a metric nothing feeds
            # would be all setup made.
            where = clients.cloudwatch.meta.region_name
            raise UsageProblem(
                f"nothing to monitor in {where}: no ECS cluster there and no --log-group; "
                "check --region (or pass --cluster/--service/--log-group)"
            )
        opts = SetupOptions(
            stack=_stack(stack or targets.service or settings.service),
            email=email or None,
            targets=targets,
            retention_days=retention,
            slow_threshold=settings.slow_threshold,
            rules=rules,
            create_log_group=create_log_group,
            resend_confirmation=resend_confirmation,
        )
        if export:
            template = cloudformation(opts, region=str(clients.cloudwatch.meta.region_name))
            output.write(json.dumps(template, indent=2) + "\n")
            return
        plan = build_plan(opts, clients)
        if dry_run:
            with cost_errors():
                cost = _setup_cost(opts, plan, clients, prices_path)
            if as_json:
                click.echo(json.dumps({**plan.as_dict(), "cost": cost.as_dict()}, indent=2))
                return
            # Dashboards are global but everything else is regional: say which region.
            where = clients.cloudwatch.meta.region_name
            _print_plan(plan, as_json=False, title=f"Plan for {where} (dry run, nothing changed):")
            click.echo("\n".join(cost.lines()))
            return
        done = apply(plan, clients)
    _print_plan(plan, as_json=as_json, title="Applied:" if done else "Nothing to change:")
    if not as_json and any(c.kind == "sns-subscription" and c.action == "create" for c in done):
        click.echo(
            f"AWS has emailed {opts.email} a confirmation link: open it, or no alert is delivered."
        )


def _setup_cost(opts: SetupOptions, plan: Plan, clients: Clients, prices_path: str | None) -> Any:
    """What the plan's resources cost a month (a ``bellwatch.cost.aws_bill.SetupCost``)."""
    from bellwatch.aws.plan import desired_resources
    from bellwatch.cost.aws_bill import setup_cost
    from bellwatch.cost.prices import load_prices

    region = str(clients.cloudwatch.meta.region_name)
    # The topic ARN goes into alarm actions only, which cost nothing: no lookup needed.
    resources = desired_resources(opts, region=region, topic_arn="-")
    creating = [(c.kind, c.name) for c in plan.changes if c.action == "create"]
    return setup_cost(resources, load_prices(prices_path).for_region(region), creating)


@aws_group.command("teardown")
@click.option("--name", "stack", required=True, help="The name setup used (its ECS service).")
@region_option
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def teardown_command(
    *, stack: str, region: str | None, profile: str | None, dry_run: bool, yes: bool, as_json: bool
) -> None:
    """Delete what setup created for --name (found by its tags), and nothing else."""
    with aws_errors():
        clients = aws_clients(region, profile)
        plan = teardown_plan(_stack(stack), clients)
        if dry_run or not plan.changes:
            where = clients.cloudwatch.meta.region_name
            title = f"Would delete in {where}:" if dry_run else f"Nothing to delete in {where}"
            _print_plan(plan, as_json=as_json, title=title)
            return
        if not yes:
            if not interactive():
                raise click.UsageError("no terminal to confirm on: pass --yes to delete")
            _print_plan(plan, as_json=False, title="Will delete:")
            click.confirm("Delete these resources?", abort=True)
        apply(plan, clients)
    _print_plan(plan, as_json=as_json, title="Deleted:")


def health(
    *,
    cluster: str | None = None,
    service: str | None = None,
    target_group: str | None = None,
    region: str | None = None,
    profile: str | None = None,
) -> ServiceHealth:
    """The ECS service's health, for ``bellwatch health --source aws``.

    Raises:
        click.ClickException: AWS could not be read (the message says why).
    """
    with aws_errors():
        clients = aws_clients(region, profile)
        targets = discover(clients, cluster=cluster, service=service, target_group=target_group)
        return service_health(clients, targets)


@aws_group.command("health")
@click.option("--cluster", help="ECS cluster (default: the only one).")
@click.option("--service", help="ECS service (default: the only one in the cluster).")
@click.option("--target-group", help="Target group name or ARN (default: from the service).")
@region_option
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def health_command(
    *,
    cluster: str | None,
    service: str | None,
    target_group: str | None,
    region: str | None,
    profile: str | None,
    as_json: bool,
) -> None:
    """Task counts, deployments, recent events and target health.

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
        )
    except click.ClickException as exc:  # exit 2: not a verdict on the service
        raise UsageProblem(exc.format_message()) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        click.echo("\n".join(report.lines()))
    raise SystemExit(0 if report.ok else 1)


@aws_group.command("policy")
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
        _stack(stack)
    scope = PolicyScope(stack, region, account, log_group, alert_topic)
    click.echo(json.dumps(policy(*parts, scope=scope), indent=2))


@aws_group.command("cost")
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
        _stack(stack)
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
