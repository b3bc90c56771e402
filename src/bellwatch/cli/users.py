"""The ``users`` command: distinct users, top users, and the users each error hurt.

Calls :func:`bellwatch.reports.users` and renders its sections as tables (``--json``
gives the report's rows, every field).
"""

from __future__ import annotations

from typing import Any

import click

from ._safe import echo_json
from ._table import Column, table
from .options import domain_errors, opts_from, shared_options, width_option
from .output import closing, echo_text
from .progress import byte_spinner

__all__ = ["users"]

PERIOD = (
    Column("start", "from (UTC)", "time", 9),
    Column("users", "users", "number", 8),
    Column("requests", "requests", "number", 7),
)
TOP_REQUESTS = (
    Column("uid", "uid", "id", 9),
    Column("requests", "requests", "number", 8),
    Column("errors", "errors", "number", 7),
)
TOP_ERRORS = (
    Column("uid", "uid", "id", 9),
    Column("errors", "errors", "number", 8),
    Column("requests", "requests", "number", 7),
)
PER_ERROR = (
    Column("users", "users", "number", 9),
    Column("hash", "hash", "id", 8),
    Column("type", "type", "id", 6),
    Column("msg", "message", "text", 5, least=24),
)


@click.command()
@click.option(
    "--by",
    type=click.Choice(["hour", "day"]),
    default="hour",
    show_default=True,
    help="Count distinct users per hour or per day.",
)
@click.option(
    "--limit", type=click.IntRange(min=1), default=10, show_default=True,
    help="Top users and errors shown.",
)  # fmt: skip
@width_option
@shared_options
def users(by: str, limit: int, **kw: Any) -> None:
    """Distinct users (the bound uid) per hour or day, top users, users per error.

    Exact over local files; over a log group, Logs Insights' count_distinct (an
    approximation when there are many users).

    \b
    Examples:
      bellwatch users --since 1d
      bellwatch users --by day --since 7d --json
      bellwatch users --log-group /ecs/bella-prod --since 1h
    """
    from .. import reports  # when a report runs: --help and the light commands skip it

    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        total = getattr(source, "total_bytes", None)
        with byte_spinner(int(total()) if callable(total) else 0, quiet=opts.json):
            report = reports.users(source, opts.since, opts.until, by=by, limit=limit)
    if opts.json:
        echo_json(report.rows)  # like every report: its rows, every field
        closing(report.stats)
        return
    sections: dict[str, list[dict[str, Any]]] = {}
    for row in report.rows:
        sections.setdefault(row["section"], []).append(row)
    (head,) = sections.get("total", [{"users": 0, "requests": 0, "exact": True}])
    how = "exact" if head["exact"] else "approximate (Logs Insights count_distinct)"
    # requests naming a user: fewer than summary's, which counts every request
    echo_text(f"{head['users']} distinct users, {head['requests']} requests with a uid ({how})")
    if not head["users"] and report.stats.records:
        # a bare 0 reads as "no traffic": say why, and what the app has to do
        echo_text(
            f"no line read names a user ({report.stats.records:,} records): bind one in the "
            "app, bellwatch.bind(uid=user.id), to count users"
        )
    for key, title, columns in (
        ("period", f"users per {by}", PERIOD),
        ("top_requests", "top users by requests", TOP_REQUESTS),
        ("top_errors", "top users by failed requests (5xx or an error recorded)", TOP_ERRORS),
        ("error", "users affected per error fingerprint", PER_ERROR),
    ):
        if sections.get(key):
            click.echo("")
            table(sections[key], opts, title, columns=columns)
    closing(report.stats)
