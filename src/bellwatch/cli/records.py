"""The commands that print records or query them: ``tail``, ``trace``, ``filter``, ``insights``."""

from __future__ import annotations

import collections
import contextlib
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import Any

import click

from ..schema import LEVELS, F
from ..sources.base import Record
from ._safe import echo_json
from ._table import table
from .options import UsageProblem, domain_errors, opts_from, shared_options, width_option
from .output import closing, echo_text, emit
from .progress import progress_records

__all__ = ["COMMANDS", "TAIL_LOOKBACK_MS"]

TAIL_LOOKBACK_MS = 600_000
"""How far back ``tail`` reads a CloudWatch log group without ``--since``."""


def _level_ok(minimum: str | None) -> Callable[[Record], bool]:
    if not minimum:
        return lambda _r: True
    floor = LEVELS.index(minimum)
    order = {name: i for i, name in enumerate(LEVELS)}
    return lambda r: order.get(str(r.get(F.LEVEL, "INFO")).upper(), 1) >= floor


def _matcher(pattern: str | None) -> Callable[[Record], bool]:
    from ..reports.search import matcher

    return matcher(pattern)


@click.command()
@click.argument("pattern", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (follows rotation).")
@click.option(
    "-n", "--lines", type=click.IntRange(min=0), default=20, show_default=True,
    help="Lines shown before following (0: none, with -f only new ones).",
)  # fmt: skip
@click.option("--level", type=click.Choice(LEVELS, case_sensitive=False), help="At least.")
@click.option("--cid", help="Only this correlation id.")
@click.option("--event", help="Only this event name.")
@shared_options
def tail(
    *,
    pattern: str | None,
    follow: bool,
    lines: int,
    level: str | None,
    cid: str | None,
    event: str | None,
    **kw: Any,
) -> None:
    """Show the latest lines, readable and coloured; PATTERN is a CloudWatch filter pattern.

    \b
    Examples:
      bellwatch tail                      # last 20 lines of logs/*.jsonl*
      bellwatch tail -f --level WARNING   # follow, warnings and worse
      bellwatch tail '{ $.status >= 500 }' -n 50
      bellwatch tail -l - --event request_complete < logs/app.jsonl
      bellwatch tail -f --log-group /ecs/bella-prod --region eu-west-1

    A log group is read from 10 minutes back unless --since says otherwise; with
    -f and -l -, every line of the pipe is shown as it arrives.
    """
    opts = opts_from(kw)
    with domain_errors(opts):
        level_ok = _level_ok(level.upper() if level else None)
        matches = _matcher(pattern)

        def keep(r: Record) -> bool:
            return (
                level_ok(r)
                and (cid is None or r.get(F.CID) == cid)
                and (event is None or r.get(F.EVENT) == event)
                and matches(r)
            )

        source = opts.source()
        from ..sources.cloudwatch import CloudWatchSource
        from ..sources.files import FileSource

        last: Sequence[Record]
        if follow and isinstance(source, FileSource) and source.specs == ("-",):
            # A pipe has no end to count -n lines back from until it closes: following
            # it, every line is shown as it arrives (`docker logs -f app | bellwatch tail -f -l -`).
            last = ()
        elif isinstance(source, FileSource):
            # read backwards from the end: the last lines of a 200 MB file cost milliseconds
            last = source.latest(lines, keep, opts.since, opts.until)
        elif isinstance(source, CloudWatchSource):
            # A log group holds months of history: like `aws logs tail`, look back 10 minutes
            # unless --since says otherwise; newest first within that, a minute back and then
            # wider windows, so a busy group answers from its last minutes.
            if opts.since is None:
                opts.since = int(time.time() * 1000) - TAIL_LOOKBACK_MS
            last = source.latest(lines, keep, opts.since, opts.until, pattern=pattern)
        else:
            last = collections.deque(maxlen=lines)
            for record in progress_records(source, opts.since, opts.until, pattern):
                if keep(record):
                    last.append(record)
        for record in last:
            emit(record, opts)
        if follow:
            closing(source.stats, counts=False)  # a skipped file is said before waiting
            source.stats.skipped_sources.clear()
            with contextlib.suppress(KeyboardInterrupt):
                for record in source.follow(None, pattern=pattern, poll_interval=0.5):
                    if keep(record):
                        emit(record, opts)
        # tail reads only the end of the files: counting their text lines would differ
        closing(source.stats, counts=False)


@click.command()
@click.argument("correlation_id")
@shared_options
def trace(correlation_id: str, **kw: Any) -> None:
    """Every line of one request, in time order: its events, and text lines naming it.

    Exits 1 when no line has the id.

    \b
    Examples:
      bellwatch trace 3f9a1c7e2b4d
      bellwatch trace 3f9a1c7e2b4d --json
      bellwatch trace 3f9a1c7e2b4d --log-group /ecs/bella-prod --since 2h
    """
    from ..reports.search import trace as trace_records

    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        found = trace_records(source, correlation_id, opts.since, opts.until)
    for record in found:
        emit(record, opts)
    closing(source.stats, counts=False)
    if not found:
        echo_text(f"bellwatch: no lines with correlation id {correlation_id}", err=True)
        raise SystemExit(1)


@click.command(name="filter")
@click.argument("pattern")
@shared_options
def filter_(pattern: str, **kw: Any) -> None:
    """Lines matching a CloudWatch Logs filter pattern, evaluated locally.

    With a log group, the pattern runs in CloudWatch (and is checked again here).

    \b
    Examples:
      bellwatch filter ERROR
      bellwatch filter '{ $.event = "request_complete" && $.duration > 2 }'
      bellwatch filter '?TimeoutError ?ConnectionError' --since 2h
    """
    from ..reports.search import matching

    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        scan = progress_records
        for record in matching(source, pattern, opts.since, opts.until, scan=scan):
            emit(record, opts)
        closing(source.stats)


@click.command()
@click.argument("query", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the saved queries and exit.")
@width_option
@shared_options
def insights(query: str | None, list_only: bool, **kw: Any) -> None:
    """Run a CloudWatch Logs Insights query locally (or in CloudWatch with a log group).

    QUERY is a query, or the name of a saved one; with no QUERY, pick a saved one
    from a menu.

    \b
    Examples:
      bellwatch insights --list
      bellwatch insights top-errors --since 1h
      bellwatch insights 'filter level = "ERROR" | stats count(*) as n by type'
      bellwatch insights 'stats count(*) as n by path | sort n desc'
      bellwatch insights 'stats avg(duration), pct(duration, 95) by path'
    """
    opts = opts_from(kw)
    saved = _saved_queries(opts.settings.slow_threshold)
    by_name = {name: text for name, _description, text in saved}
    if query in by_name:  # a saved query's name: no Insights query is a bare name
        query = by_name[query]
    if list_only or (query is None and not sys.stdin.isatty()):
        if opts.json:
            echo_json([{"name": n, "description": d, "query": q} for n, d, q in saved])
            return
        for i, (name, description, text) in enumerate(saved, 1):
            click.echo(f"{i:>2}. {name}: {description}\n{textwrap.indent(text, ' ' * 4)}")
        return
    if query is None:
        if not saved:
            raise UsageProblem("no saved queries; pass a QUERY")
        for i, (name, description, _text) in enumerate(saved, 1):
            click.echo(f"{i:>2}. {name}: {description}")
        choice = click.prompt("query", type=click.IntRange(1, len(saved)))
        query = saved[choice - 1][2]
        click.echo(query, err=True)
    with domain_errors(opts):
        from ..reports.search import insights as run_query

        source = opts.source()
        rows = run_query(source, query, opts.since, opts.until, scan=progress_records)
        table(rows, opts, title=None)
        closing(source.stats)


def _saved_queries(slow_threshold: float) -> list[tuple[str, str, str]]:
    """The menu as (name, description, text); ``slow`` counts requests over
    ``slow_threshold`` seconds, as the middleware and the metric filter do."""
    from ..query.saved import saved_queries

    return [(e.name, e.description, e.query) for e in saved_queries(slow_threshold)]


COMMANDS = (tail, trace, filter_, insights)
