"""``bellwatch cost``: what the logs read cost a month on CloudWatch, and what would save.

A thin shell over :func:`bellwatch.cost.cost_report`: it reads the records of any
source (the shared options: files, stdin or a log group, and the time window), turns
its options into :class:`~bellwatch.cost.CostOptions`, and prints the report's table
or, with ``--json``, its dict. A price file that cannot be used or logs that span no
time (:class:`~bellwatch.cost.PriceError`, :class:`~bellwatch.cost.CostError`) are one
clean line and exit code 2.

Names from the logs (event types, loggers, routes, levels, and the suggestions that
quote them) are masked by the one redactor before the report is rendered, so a raw
URL with a token in it shows as ``?token=***`` and is never cut in the middle of a
secret first. The byte counts are the lines' own: they are measured before that.
"""

from __future__ import annotations

import dataclasses
import re
import time
from typing import TYPE_CHECKING, Any

import click

from ._safe import echo_json
from .options import UsageProblem, domain_errors, opts_from, shared_options
from .output import closing, echo_lines
from .progress import progress_records

if TYPE_CHECKING:
    from ..cost import CostReport

__all__ = ["COMMANDS", "LOOKBACK_MS", "cost"]

NEVER = "never"
LOOKBACK_MS = 86_400_000
"""How far back ``cost`` reads a CloudWatch log group without ``--since`` (the library's
``cost.LOG_GROUP_LOOKBACK_MS``, repeated so --help does not import the cost library)."""


def _retention(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Any:
    """Days of retention (one CloudWatch accepts), ``never``, or None when not given."""
    from ..aws.config import retention_problem

    if value is None:
        return None
    text = value.strip().lower()
    if text == NEVER:
        return NEVER
    if not re.fullmatch(r"[1-9]\d{0,4}", text):
        raise click.BadParameter(f"{value!r} is not a number of days or 'never'")
    problem = retention_problem(int(text))
    if problem is not None:  # CloudWatch refuses it: pricing it would price nothing real
        raise click.BadParameter(f"{problem}, or 'never'")
    return int(text)


@click.command()
@click.option(
    "--prices",
    "prices_path",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="CSV of prices laid over the shipped table (region,item,unit,usd,date,source).",
)
@click.option(
    "--retention",
    callback=_retention,
    metavar="DAYS|never",
    help="The log group's retention: days CloudWatch accepts (1, 3, 5, 7, 14, 30, 60, 90, "
    "...) or never (the default, CloudWatch's).",
)
@click.option(
    "--log-class",
    type=click.Choice(["standard", "infrequent_access"]),
    default="standard",
    show_default=True,
    help="The log group's class: which ingestion price is in the total.",
)
@click.option(
    "--queries-per-day",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    help="Logs Insights queries run a day (people, dashboard widgets, scripts).",
)
@click.option(
    "--query-hours",
    type=click.FloatRange(min=0),
    default=24.0,
    show_default=True,
    help="Hours of logs each query scans.",
)
@click.option(
    "--what-if",
    type=click.Choice(["verbose"]),
    help="Also price the same events as a verbose JSON logger and as the guide's BEFORE text.",
)
@shared_options
def cost(  # click passes every option by keyword
    *,
    prices_path: str | None,
    retention: int | str | None,
    log_class: str,
    queries_per_day: float,
    query_hours: float,
    what_if: str | None,
    **kw: Any,
) -> None:
    """What the logs cost a month on CloudWatch, per event type, level and route.

    Bytes and events are measured on the lines read (with the 26 bytes CloudWatch
    counts per event, included), projected to a day and a month from their time
    span, and priced with the dated table shipped with bellwatch (or --prices FILE
    laid over it; the region is --region, else BELLWATCH_REGION, else the AWS
    profile's, else us-east-1). The bill adds Logs Insights scans at
    --queries-per-day and what `bellwatch aws setup` creates (metric filters, EMF
    metrics, alarms, a dashboard). Ends with the three biggest savings. No network
    call is made for prices. A log group is read from 24 hours back unless --since
    says otherwise (`bellwatch aws cost` reads its measured totals instead).

    \b
    Examples:
      bellwatch cost
      bellwatch cost --retention 30 --queries-per-day 20
      bellwatch cost --what-if verbose
      bellwatch cost --region eu-west-1 --log-class infrequent_access --json
      bellwatch cost -l 'logs/*.jsonl*' --retention never
    """
    from ..cost import CostError, CostOptions, cost_report

    opts = opts_from(kw)
    options = CostOptions(
        region=opts.region,
        profile=opts.profile,
        prices=prices_path,
        retention_days=retention if isinstance(retention, int) else None,
        retention_known=retention is not None,
        log_class="infrequent_access" if log_class == "infrequent_access" else "standard",
        queries_per_day=queries_per_day,
        query_hours=query_hours,
        slow_threshold=opts.settings.slow_threshold,
        what_if=what_if == "verbose",
    )
    if opts.log_group is not None and opts.since is None:
        # A log group can hold years: read a day, which is enough to project a month.
        opts.since = int(time.time() * 1000) - LOOKBACK_MS
        click.echo("bellwatch: reading the log group's last 24 hours (--since widens it)", err=True)
    with domain_errors(opts):
        source = opts.source()
        try:
            report = cost_report(progress_records(source, opts.since, opts.until), options)
        except CostError as exc:  # PriceError too: the message names the file and line
            raise UsageProblem(str(exc)) from None
    report = _masked(report)
    if opts.json:
        echo_json(report.as_dict(), numbers=False)  # every number here is computed
    else:
        echo_lines("\n".join(report.lines()))
    closing(source.stats)


NO_LEVEL = "(none)"
"""The level row of the lines that carry none (text lines, EMF, JSON without ``level``),
which the cost library tallies under ``-``: a dash reads as a missing value."""


def _masked(report: CostReport) -> CostReport:
    """``report`` with the names it took from the logs masked, whole, before rendering.

    Two names that mask alike (the same route with two tokens) become one row.
    """
    from ..cost.usage import Tally
    from ._redact import text

    usage = report.usage
    for name in ("by_event", "by_logger", "by_level", "by_route"):
        merged: dict[str, Tally] = {}
        for key, tally in getattr(usage, name).items():
            shown = NO_LEVEL if name == "by_level" and key == "-" else text(key)
            before = merged.get(shown)
            merged[shown] = (
                tally
                if before is None
                else Tally(before.events + tally.events, before.bytes + tally.bytes)
            )
        setattr(usage, name, merged)
    suggestions = [dataclasses.replace(s, text=text(s.text)) for s in report.suggestions]
    return dataclasses.replace(report, suggestions=suggestions)


COMMANDS = (cost,)
