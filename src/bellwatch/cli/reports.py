"""The report commands: ``errors``, ``slow``, ``endpoints``, ``twilio``, ``summary``.

Each calls its function in :mod:`bellwatch.reports` and only renders the answer: a
table that fits the terminal (the columns below; ``--json`` gives every field), or the
digest, then the closing notes.
"""

from __future__ import annotations

from typing import Any

import click

from ._safe import echo_json
from ._table import Column, table
from .options import Opts, domain_errors, opts_from, shared_options, width_option
from .output import closing, echo_lines, echo_text
from .progress import byte_spinner

__all__ = ["COMMANDS"]

# What each table shows at 80 columns and wider; the lowest priority goes first when the
# terminal is narrower. Ids, hashes, routes and times are never cut; free text is.
ERRORS = (
    Column("count", "count", "number", 9),
    Column("users", "users", "number", 8),
    Column("sev", "sev", "id", 3),
    Column("hash", "hash", "id", 8),
    Column("type", "type", "id", 6),
    Column("msg", "message", "text", 5, least=24),
    Column("endpoints", "endpoints", "list", 4, least=16),
    Column("last_ts", "last seen", "time", 2),
    Column("cid", "example cid", "id", 7),
)
SLOW = (
    Column("duration", "seconds", "number", 9),
    Column("ts", "time", "time", 5),
    Column("method", "method", "id", 6),
    Column("path", "endpoint", "id", 8),
    Column("status", "status", "number", 4),
    Column("cid", "cid", "id", 7),
)
ENDPOINTS = (
    Column("method", "method", "id", 8),
    Column("path", "endpoint", "id", 9),
    Column("count", "requests", "number", 7),
    Column("avg", "avg s", "number", 4),
    Column("p95", "p95 s", "number", 6),
    Column("max", "max s", "number", 3),
    Column("error_rate", "5xx", "fraction", 5),
)
TWILIO = (
    Column("sid", "CallSid", "id", 9),
    Column("failures", "failures", "number", 8),
    Column("bad_signatures", "bad sig", "number", 6),
    Column("statuses", "statuses", "list", 4),
    Column("last_ts", "last seen", "time", 3),
    Column("cid", "example cid", "id", 5),
)


def _size(source: Any) -> int:
    """Bytes a local report may scan (0 for a log group: Insights shows its own progress)."""
    total = getattr(source, "total_bytes", None)
    return int(total()) if callable(total) else 0


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True,
    help="Fingerprints shown at most.",
)  # fmt: skip
@click.option(
    "--explain",
    "explain_hash",
    metavar="HASH",
    help="How this fingerprint was built (type, message, frames), from its first line.",
)
@width_option
@shared_options
def errors(limit: int, explain_hash: str | None, **kw: Any) -> None:
    """Errors grouped by fingerprint: count, severity, type, message, endpoints, example id.

    With a log group, runs the saved 'top-errors' Logs Insights query in CloudWatch.
    --explain HASH recomputes a fingerprint from the first line that has it and says
    what a log line cannot recover; exits 1 when no line has it.

    \b
    Examples:
      bellwatch errors --since 1h
      bellwatch errors --json --limit 5
      bellwatch errors --explain 9c1e5a7b
      bellwatch errors --log-group /ecs/bella-prod --since 1d
    """
    from .. import reports  # when a report runs: --help and the light commands skip it

    opts = opts_from(kw)
    if explain_hash is not None:
        _explain(explain_hash, opts)
        return
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), quiet=opts.json):
            report = reports.errors(source, opts.since, opts.until, limit=limit)
    shown = report.rows if opts.json else [_at_most(row) for row in report.rows]
    table(shown, opts, "errors by fingerprint (times UTC)", columns=ERRORS)
    if not opts.json and any(row.get("count_is_upper_bound") for row in report.rows):
        click.echo(f"bellwatch: ≤ {_AT_MOST}", err=True)
    closing(report.stats)


_AT_MOST = "(at most): some of these occurrences may be from before --since (see README)"


def _at_most(row: dict[str, Any]) -> dict[str, Any]:
    """A row whose count may include occurrences before the window shows it as ``≤N``."""
    return {**row, "count": f"≤{row['count']}"} if row.get("count_is_upper_bound") else row


def _explain(fingerprint: str, opts: Opts) -> None:
    from .. import reports

    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), quiet=opts.json):
            found = reports.explain(source, fingerprint, opts.since, opts.until)
    if opts.json:
        echo_json(found.as_dict())
    elif found.line is not None:
        echo_lines("\n".join(found.lines()))
    closing(found.stats)
    if found.line is None:
        echo_text(f"bellwatch: no error line has hash {fingerprint}", err=True)
        raise SystemExit(1)


@click.command()
@click.option("--threshold", type=float, help="Seconds (default BELLWATCH_SLOW_THRESHOLD, 2).")
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True,
    help="Requests shown at most.",
)  # fmt: skip
@width_option
@shared_options
def slow(threshold: float | None, limit: int, **kw: Any) -> None:
    """The slowest requests over a threshold: endpoint, duration, status, correlation id.

    With a log group, runs the saved 'slow' Logs Insights query in CloudWatch.

    \b
    Examples:
      bellwatch slow
      bellwatch slow --threshold 0.5 --since 30m
    """
    from .. import reports  # when a report runs: --help and the light commands skip it

    opts = opts_from(kw)
    limit_s = opts.settings.slow_threshold if threshold is None else threshold
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), quiet=opts.json):
            report = reports.slow(source, opts.since, opts.until, threshold=limit_s, limit=limit)
    table(report.rows, opts, f"requests slower than {limit_s:g}s", columns=SLOW)
    closing(report.stats)


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=1), default=100, show_default=True,
    help="Endpoints shown at most.",
)  # fmt: skip
@width_option
@shared_options
def endpoints(limit: int, **kw: Any) -> None:
    """Per endpoint: requests, average and p95 seconds, slowest, 5xx rate.

    With a log group, runs the saved 'latency' and 'error-rate' queries in CloudWatch.

    \b
    Examples:
      bellwatch endpoints --since 1d
    """
    from .. import reports  # when a report runs: --help and the light commands skip it

    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), quiet=opts.json):
            report = reports.endpoints(source, opts.since, opts.until, limit=limit)
    table(report.rows, opts, "endpoints", columns=ENDPOINTS)
    closing(report.stats)


@click.command()
@click.option(
    "--limit", type=click.IntRange(min=1), default=50, show_default=True,
    help="CallSids shown at most.",
)  # fmt: skip
@width_option
@shared_options
def twilio(limit: int, **kw: Any) -> None:
    """Twilio webhook failures (non-2xx, bad signatures) grouped by CallSid.

    With a log group, runs the saved 'twilio-failures' query in CloudWatch.

    \b
    Examples:
      bellwatch twilio --since 2h
    """
    from .. import reports  # when a report runs: --help and the light commands skip it

    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), quiet=opts.json):
            report = reports.twilio(source, opts.since, opts.until, limit=limit)
    table(report.rows, opts, "failed Twilio webhooks by CallSid", columns=TWILIO)
    closing(report.stats)


@click.command()
@click.option(
    "--budget", default=1500, show_default=True, type=click.IntRange(min=100), help="Token budget."
)
@shared_options
def summary(budget: int, **kw: Any) -> None:
    """A digest for a person or an LLM: health, traffic, errors, slow endpoints, Twilio.

    Fits the token budget and says what it left out. With a log group, the facts come
    from Logs Insights queries run in CloudWatch.

    \b
    Examples:
      bellwatch summary --since 1h
      bellwatch summary --budget 500 > digest.md
    """
    from .. import reports  # when a report runs: --help and the light commands skip it

    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), quiet=opts.json):
            digest = reports.summary(
                source,
                opts.since,
                opts.until,
                budget=budget,
                slow_threshold=opts.settings.slow_threshold,
            )
    if opts.json:
        echo_json({"summary": digest.text, "facts": digest.facts}, indent=False)
    else:
        echo_lines(digest.text)
    closing(digest.stats)


COMMANDS = (errors, slow, endpoints, twilio, summary)
