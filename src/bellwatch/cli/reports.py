"""The report commands: ``errors``, ``slow``, ``endpoints``, ``twilio``, ``summary``.

Each calls its function in :mod:`bellwatch.reports` and only renders the answer: a
table or JSON, then the closing notes.
"""

from __future__ import annotations

from typing import Any

import click
import orjson

from .. import reports
from .options import domain_errors, opts_from, shared_options
from .output import byte_spinner, closing, table

__all__ = ["COMMANDS"]


def _size(source: Any) -> int:
    """Bytes a local report may scan (0 for a log group: Insights shows its own progress)."""
    total = getattr(source, "total_bytes", None)
    return int(total()) if callable(total) else 0


@click.command()
@click.option("--limit", default=50, show_default=True, help="Fingerprints shown at most.")
@shared_options
def errors(limit: int, **kw: Any) -> None:
    """Errors grouped by fingerprint: count, severity, type, message, endpoints, example id.

    With a log group, runs the saved 'top-errors' Logs Insights query in CloudWatch.

    \b
    Examples:
      bellwatch errors --since 1h
      bellwatch errors --json --limit 5
      bellwatch errors --log-group /ecs/bella-prod --since 1d
    """
    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), opts):
            report = reports.errors(source, opts.since, opts.until, limit=limit)
    table(report.rows, opts, title="errors by fingerprint")
    closing(report.stats)


@click.command()
@click.option("--threshold", type=float, help="Seconds (default BELLWATCH_SLOW_THRESHOLD, 2).")
@click.option("--limit", default=50, show_default=True, help="Requests shown at most.")
@shared_options
def slow(threshold: float | None, limit: int, **kw: Any) -> None:
    """The slowest requests over a threshold: endpoint, duration, status, correlation id.

    With a log group, runs the saved 'slow' Logs Insights query in CloudWatch.

    \b
    Examples:
      bellwatch slow
      bellwatch slow --threshold 0.5 --since 30m
    """
    opts = opts_from(kw)
    limit_s = opts.settings.slow_threshold if threshold is None else threshold
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), opts):
            report = reports.slow(source, opts.since, opts.until, threshold=limit_s, limit=limit)
    table(report.rows, opts, title=f"requests >= {limit_s:g}s")
    closing(report.stats)


@click.command()
@click.option("--limit", default=100, show_default=True, help="Endpoints shown at most.")
@shared_options
def endpoints(limit: int, **kw: Any) -> None:
    """Per endpoint: requests, average and p95 seconds, slowest, 5xx rate.

    With a log group, runs the saved 'latency' and 'error-rate' queries in CloudWatch.

    \b
    Examples:
      bellwatch endpoints --since 1d
    """
    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), opts):
            report = reports.endpoints(source, opts.since, opts.until, limit=limit)
    table(report.rows, opts, title="endpoints", fractions={"error_rate"})
    closing(report.stats)


@click.command()
@click.option("--limit", default=50, show_default=True, help="CallSids shown at most.")
@shared_options
def twilio(limit: int, **kw: Any) -> None:
    """Twilio webhook failures (non-2xx, bad signatures) grouped by CallSid.

    With a log group, runs the saved 'twilio-failures' query in CloudWatch.

    \b
    Examples:
      bellwatch twilio --since 2h
    """
    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), opts):
            report = reports.twilio(source, opts.since, opts.until, limit=limit)
    table(report.rows, opts, title="Twilio failures by CallSid")
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
    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        with byte_spinner(_size(source), opts):
            digest = reports.summary(
                source,
                opts.since,
                opts.until,
                budget=budget,
                slow_threshold=opts.settings.slow_threshold,
            )
    if opts.json:
        click.echo(
            orjson.dumps({"summary": digest.text, "facts": digest.facts}, default=str).decode()
        )
    else:
        click.echo(digest.text)
    closing(digest.stats)


COMMANDS = (errors, slow, endpoints, twilio, summary)
