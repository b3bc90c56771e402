"""``bellwatch aws setup | teardown | health | policy | cost``: the click group the main
CLI registers, and the two commands that change the account (setup, teardown). The
commands that change nothing (health, policy, cost) are in :mod:`._aws_readonly`; the
options and error handling every command shares in :mod:`._aws_options`.

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

from bellwatch._settings import ConfigError as SettingsError
from bellwatch._settings import resolve
from bellwatch.aws.clients import Clients
from bellwatch.aws.config import ConfigError, load_rules
from bellwatch.aws.discover import discover
from bellwatch.aws.export import cloudformation
from bellwatch.aws.plan import (
    Plan,
    SetupOptions,
    apply,
    build_plan,
    check_email,
    log_filters_allowed,
)
from bellwatch.aws.teardown import teardown_plan

from ._aws_options import (
    aws_clients,
    aws_errors,
    check_name,
    check_retention,
    cost_errors,
    prices_option,
    region_option,
    target_options,
)
from ._aws_readonly import cost_command, health, health_command, policy_command
from .options import UsageProblem

__all__ = ["aws_group", "health"]


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
    "--slow-threshold", type=float, metavar="SECONDS",
    help="What the slow-requests metric filter counts: duration > SECONDS; use the "
    "service's slow_threshold (default: BELLWATCH_SLOW_THRESHOLD here, else 2).",
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
    slow_threshold: float | None,
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
    try:
        settings = resolve(region=region, log_group=log_group, slow_threshold=slow_threshold)
    except SettingsError as exc:
        if slow_threshold is None or "slow_threshold" not in str(exc):
            raise  # an environment variable's: the CLI's own handler names it
        raise click.BadParameter(str(exc), param_hint="--slow-threshold") from None
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
            stack=check_name(stack or targets.service or settings.service),
            email=email or None,
            targets=targets,
            retention_days=retention,
            slow_threshold=settings.slow_threshold,
            rules=rules,
            create_log_group=create_log_group,
            resend_confirmation=resend_confirmation,
        )
        if export:
            # The group's class decides, as for setup: no metric filters off Standard.
            log_filters, notes = log_filters_allowed(opts, clients)
            region_name = str(clients.cloudwatch.meta.region_name)
            template = cloudformation(opts, region=region_name, log_filters=log_filters)
            output.write(json.dumps(template, indent=2) + "\n")
            for note in notes:  # stdout (or -o) holds the template alone
                click.echo(f"note: {note}", err=True)
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
    # A new subscription's plan note says the address must confirm (in --json too).
    _print_plan(plan, as_json=as_json, title="Applied:" if done else "Nothing to change:")


def _setup_cost(opts: SetupOptions, plan: Plan, clients: Clients, prices_path: str | None) -> Any:
    """What the plan's resources cost a month (a ``bellwatch.cost.aws_bill.SetupCost``)."""
    from bellwatch.aws.plan import desired_resources
    from bellwatch.cost.aws_bill import setup_cost
    from bellwatch.cost.prices import load_prices

    region = str(clients.cloudwatch.meta.region_name)
    # The topic ARN goes into alarm actions only, which cost nothing: no lookup needed.
    resources = desired_resources(opts, region=region, topic_arn="-", log_filters=plan.log_filters)
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
        plan = teardown_plan(check_name(stack), clients)
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


# The commands that change nothing (click lists every command by name, wherever defined).
aws_group.add_command(health_command)
aws_group.add_command(policy_command)
aws_group.add_command(cost_command)
