"""The aggregate commands: ``errors``, ``slow``, ``endpoints``, ``twilio``, ``summary``.

Each first asks the source to run its saved Logs Insights query where the logs live
(CloudWatch); when the source has no query engine (files) the report is computed
locally with DuckDB over the columnar cache (:mod:`bellwatch.sources.aggregate`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

import click
import orjson

from ._cli_options import Opts, domain_errors, opts_from, shared_options
from ._cli_output import byte_spinner, skipped, skipped_total, table
from .schema import F
from .sources.base import MESSAGE, Source

__all__ = ["COMMANDS", "run_aggregate", "saved_query"]


def saved_query(name: str, **replace: tuple[str, str]) -> str:
    """The text of the saved query ``name``, with literal parts swapped (``old``, ``new``).

    Raises:
        ValueError: a part to swap is not in the query (the saved text changed).
    """
    from .query.saved import by_name

    text = by_name(name).query
    for old, new in replace.values():
        if old not in text:
            raise ValueError(f"saved query {name!r} has no {old!r} to replace")
        text = text.replace(old, new)
    return text


def _local(source: Source) -> bool:
    """True for local files: they run no Insights of their own, so the query engine and
    the saved queries are not even imported (it keeps a cold command near raw DuckDB)."""
    from .sources.files import FileSource

    return isinstance(source, FileSource)


def _runner(source: Source, opts: Opts) -> Callable[[str], list[dict[str, Any]] | None]:
    """``run(query_text)``: the source's Logs Insights over the window (``None``: none)."""
    return lambda text: source.run_insights(text, opts.since, opts.until)


def run_aggregate(
    opts: Opts, source: Source, name: str, compute: Callable[[Any, Any], Any], need: Any
) -> Any:
    """Plan the read (cache or raw JSON), run ``compute(con, frame)``, report skipped lines.

    ``name`` identifies the command and its parameters (for the answer memo);
    ``need`` (an :class:`~bellwatch.sources.aggregate.Need`) says which columns and
    rows ``compute`` reads: a cold run parses and keeps only those.
    """
    from .sources import aggregate, cache
    from .sources.files import STDIN, FileSource

    spooled: str | None = None
    store: cache.Cache | None = None
    memo: cache.Memo | None = None
    key = ""
    files = isinstance(source, FileSource) and STDIN not in source.paths()
    use_cache = files and not opts.no_cache
    if use_cache:
        assert isinstance(source, FileSource)  # for mypy: files implies it
        memo, key, hit = _memo_lookup(opts, source.paths(), name)
        use_cache = memo is not None
        if hit is not None:
            skipped_total(hit["skipped"])
            return hit["result"]
    try:
        con = cache.connect()
        if isinstance(source, FileSource) and files:
            store = cache.Cache(opts.cache_dir)
            plan = cache.Plan(raw=list(source.paths()))
            if use_cache:
                try:
                    plan = store.plan(source.paths(), con)
                except OSError as exc:  # a cache dir that is a file, unwritable, full...
                    _cache_unusable(exc)
                    store = None
            else:
                store = None
            size = source.total_bytes() if plan.raw else 0
        else:
            spooled = _spool(source, opts)
            plan, size = cache.Plan(raw=[spooled]), os.path.getsize(spooled)
        with byte_spinner(size, opts):
            plan.load_raw(con, need.columns, need.where)
            frame = aggregate.Frame(
                plan.relation(), opts.since, opts.until, full=plan.full_relation()
            )
            result = compute(con, frame)
            skipped_count = plan.skipped
        skipped_total(skipped_count)
        if memo is not None and not (plan.rollup is not None and _large(result)):
            # A large answer read from the rollup costs as much to store and reload
            # as to compute again (slow's ~13k rows: ~5 ms each way); keep the rest.
            with contextlib.suppress(OSError):
                memo.put(key, result, skipped_count)
        if store is not None:
            with contextlib.suppress(OSError):
                store.build_later(plan)
        return result
    finally:
        if spooled:
            os.unlink(spooled)


def _large(result: Any) -> bool:
    return isinstance(result, list) and len(result) > _MEMO_ROWS


_MEMO_ROWS = 1000


def _memo_lookup(opts: Opts, paths: Any, name: str) -> tuple[Any, str, Any]:
    """The answer memo, its key for this command, and a stored answer if any."""
    from .sources import cache

    try:
        memo = cache.Memo(opts.cache_dir)
        key = memo.key(f"{name}|{opts.since}|{opts.until}", paths)
        return memo, key, memo.get(key)
    except OSError as exc:
        _cache_unusable(exc)
        return None, "", None


def _saved_or_local(opts: Opts, report: str, limit: int) -> list[dict[str, Any]]:
    """``endpoints``/``twilio``: the source's own Insights answer, else the local aggregate."""
    from . import digest
    from .sources import aggregate

    insights = {"endpoints": digest.insights_endpoints, "twilio": digest.insights_twilio}[report]
    compute = {"endpoints": aggregate.endpoints, "twilio": aggregate.twilio}[report]
    with domain_errors(opts):
        source = opts.source()
        rows = None if _local(source) else insights(_runner(source, opts))
        if rows is not None:
            return rows[:limit]
        result: list[dict[str, Any]] = run_aggregate(
            opts,
            source,
            f"{report}:{limit}",
            lambda con, fr: compute(con, fr, limit),
            aggregate.need(report),
        )
        return result


def _cache_unusable(exc: OSError) -> None:
    """The answer is still computed, from the files themselves; say why it is slower."""
    click.echo(f"bellwatch: cache not used ({exc}); reading the files", err=True)


def _spool(source: Source, opts: Opts) -> str:
    """Write a non-file source's lines to a temporary JSONL file for DuckDB."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="bellwatch-", suffix=".jsonl")
    with os.fdopen(fd, "wb") as out:
        for record in source.records(opts.since, opts.until):
            out.write(record[MESSAGE].encode() + b"\n")
    skipped(source.stats)
    return path


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
    from .sources import aggregate

    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        rows = None
        if not _local(source):
            text = saved_query("top-errors", limit=("| limit 20", f"| limit {limit}"))
            rows = source.run_insights(text, opts.since, opts.until)
        if rows is None:
            rows = run_aggregate(
                opts,
                source,
                f"errors:{limit}",
                lambda con, fr: aggregate.errors(con, fr, limit),
                aggregate.need("errors"),
            )
    table(rows, opts, title="errors by fingerprint")


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
    from .sources import aggregate

    opts = opts_from(kw)
    limit_s = opts.settings.slow_threshold if threshold is None else threshold
    with domain_errors(opts):
        source = opts.source()
        rows = None
        if not _local(source):
            text = saved_query(
                "slow",
                threshold=(f"{F.DURATION} > 2", f"{F.DURATION} >= {limit_s!r}"),
                limit=("| limit 50", f"| limit {limit}"),
            )
            rows = source.run_insights(text, opts.since, opts.until)
        if rows is None:
            rows = run_aggregate(
                opts,
                source,
                f"slow:{limit_s}:{limit}",
                lambda con, fr: aggregate.slow(con, fr, limit_s, limit),
                aggregate.need("slow", limit_s),
            )
    table(rows, opts, title=f"requests >= {limit_s:g}s")


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
    rows = _saved_or_local(opts, "endpoints", limit)
    table(rows, opts, title="endpoints", fractions={"error_rate"})


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
    rows = _saved_or_local(opts, "twilio", limit)
    table(rows, opts, title="Twilio failures by CallSid")


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
    from . import digest

    opts = opts_from(kw)
    with domain_errors(opts):
        source = opts.source()
        facts = None if _local(source) else digest.collect_insights(_runner(source, opts))
        if facts is None:
            facts = run_aggregate(opts, source, "summary", digest.collect, digest.NEED)
    text = digest.render(facts, budget, slow_threshold=opts.settings.slow_threshold)
    if opts.json:
        click.echo(orjson.dumps({"summary": text, "facts": facts}, default=str).decode())
    else:
        click.echo(text)


COMMANDS = (errors, slow, endpoints, twilio, summary)
