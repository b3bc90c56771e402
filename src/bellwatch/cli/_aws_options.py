"""What every ``bellwatch aws`` command shares: AWS and price errors as one clean line,
the region/profile and ECS target options, the boto3 clients, ``--name`` and retention
checking.

Kept apart from :mod:`.aws` (the commands) so that file holds one concept.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from bellwatch._settings import resolve
from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.config import retention_problem
from bellwatch.aws.plan import check_stack

from .options import UsageProblem

__all__ = [
    "aws_clients",
    "aws_errors",
    "check_name",
    "check_retention",
    "cost_errors",
    "prices_option",
    "region_option",
    "target_options",
]


@contextmanager
def cost_errors() -> Iterator[None]:
    """A price file that cannot be used, or nothing to price: one clean line."""
    from bellwatch.cost import CostError, PriceError

    try:
        yield
    except PriceError as exc:
        raise click.BadParameter(str(exc), param_hint="--prices") from None
    except CostError as exc:
        raise UsageProblem(str(exc)) from None


def prices_option(f: Any) -> Any:
    return click.option(
        "--prices", "prices_path", type=click.Path(dir_okay=False),
        help="CSV of prices laid over the shipped table (region,item,unit,usd,date,source).",
    )(f)  # fmt: skip


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn AWS failures into one clean CLI error line (exit code 2, no traceback), as
    every domain error of the CLI: exit 1 is kept for verdicts (``health``: not healthy)."""
    try:
        yield
    except AwsError as exc:
        raise UsageProblem(str(exc)) from None
    except Exception as exc:
        if not type(exc).__module__.startswith("botocore"):
            raise
        name = type(exc).__name__
        hint = ""
        if name == "NoRegionError":
            hint = " (pass --region, or set AWS_REGION or BELLWATCH_REGION)"
        elif name in ("NoCredentialsError", "ProfileNotFound"):
            hint = " (configure credentials: aws configure, AWS_PROFILE or --profile)"
        raise UsageProblem(f"AWS: {_one_line(str(exc))}{hint}") from None


def _one_line(message: str) -> str:
    """botocore's message on one line: an HTML page in place of an AWS answer (a proxy,
    or an endpoint that is not AWS's) is named, not printed over several lines."""
    head, markup, _ = message.partition("<")
    if markup and "html" in message.lower():
        where = " ".join(head.split()).rstrip(":")
        return f"{where}: an HTML page, not an AWS answer (a proxy, or a wrong endpoint or region?)"
    return " ".join(message.split())


def aws_clients(region: str | None, profile: str | None) -> Clients:
    return Clients(region=resolve(region=region).region, profile=profile)


def check_name(name: str) -> str:
    """``--name`` (what setup creates is named and tagged after it), checked: a clean
    usage error naming the option when AWS would refuse it."""
    try:
        return check_stack(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None


def check_retention(ctx: click.Context, param: click.Parameter, value: int | None) -> int | None:
    problem = None if value is None else retention_problem(value)
    if problem is not None:
        raise click.BadParameter(problem)
    return value


def region_option(f: Any) -> Any:
    f = click.option("--profile", help="AWS profile (default: the usual AWS chain).")(f)
    return click.option("--region", help="AWS region (default: BELLWATCH_REGION, AWS_REGION).")(f)


def target_options(f: Any) -> Any:
    for name, text in reversed(
        (
            ("--cluster", "ECS cluster (default: the only one)."),
            ("--service", "ECS service (default: the only one in the cluster)."),
            ("--load-balancer", "ALB name, ARN or app/<name>/<id> (default: from the service)."),
            ("--target-group", "Target group name or ARN (default: from the service)."),
        )
    ):
        f = click.option(name, help=text)(f)
    return f
