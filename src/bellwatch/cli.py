"""The ``bellwatch`` command: a thin shell over :mod:`bellwatch.sources`, the query engines
and :mod:`bellwatch.digest`.

Light commands (``--help``, ``tail``, ``trace``) import neither DuckDB nor Rich's
tables; the aggregate commands import them when they run. Domain errors (bad
input, missing files, bad queries) print one line and exit with code 2.
"""

from __future__ import annotations

import collections
import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from importlib.util import find_spec
from typing import Any, TypeVar

import click
import orjson

from . import _config
from .schema import LEVELS, F
from .sources.base import MESSAGE, TIMESTAMP, Record, ScanStats, Source, SourceError
from .timeparse import TimeParseError, format_ms, parse_instant

__all__ = ["cli", "main"]

FC = TypeVar("FC", bound=Callable[..., Any])
_PROGRESS_BYTES = 8 * 1024 * 1024  # show a progress indicator above this much input
_LEVEL_COLOR = {"DEBUG": "bright_black", "INFO": "green", "WARNING": "yellow", "ERROR": "red"}
_LEVEL_COLOR["CRITICAL"] = "magenta"
_SHOWN_FIRST = (F.TS, F.LEVEL, F.EVENT, F.CID)


class UsageProblem(click.ClickException):
    """A domain error shown as one clean line, exit code 2."""

    exit_code = 2


class Opts:
    """The options every command shares, resolved once."""

    def __init__(self, **kw: Any) -> None:
        self.logs: tuple[str, ...] = kw["logs"]
        self.log_group: str | None = kw["log_group"]
        self.region: str | None = kw["region"]
        self.json: bool = kw["as_json"]
        self.color: bool = not kw["no_color"] and "NO_COLOR" not in os.environ
        self.cache_dir: str | None = kw["cache_dir"]
        self.no_cache: bool = kw["no_cache"]
        try:
            self.settings = _config.resolve(log_group=self.log_group, region=self.region)
            self.since = parse_instant(kw["since"]) if kw["since"] else None
            self.until = parse_instant(kw["until"]) if kw["until"] else None
        except (TimeParseError, _config.ConfigError) as exc:
            raise UsageProblem(str(exc)) from None

    def source(self) -> Source:
        """Files by default; CloudWatch with ``--log-group``."""
        if self.log_group:
            try:
                from .sources.cloudwatch import CloudWatchSource
            except ImportError as exc:
                raise UsageProblem(f"{exc} (pip install 'bellwatch[aws]')") from None
            return CloudWatchSource(self.log_group, region=self.settings.region)
        from .sources.files import FileSource

        return FileSource(self.logs, self.settings.log_dir)


def shared_options(func: FC) -> FC:
    """Source, time window and output options, on every reading command."""
    options = [
        click.option(
            "--logs",
            "-l",
            multiple=True,
            metavar="PATH",
            help="File, directory or glob (repeatable); '-' reads stdin. "
            "Default: <BELLWATCH_LOG_DIR>/*.jsonl*",
        ),
        click.option("--log-group", metavar="NAME", help="Read a CloudWatch log group instead."),
        click.option("--region", metavar="REGION", help="AWS region for --log-group."),
        click.option("--since", metavar="WHEN", help="Start: 1h, 30m, 2d, 5h30m or ISO 8601."),
        click.option("--until", metavar="WHEN", help="End (exclusive), same forms as --since."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output."),
        click.option("--no-color", is_flag=True, help="Plain text (also: NO_COLOR set)."),
        click.option("--cache-dir", metavar="DIR", help="Columnar cache (~/.cache/bellwatch)."),
        click.option("--no-cache", is_flag=True, help="Read the JSON directly; write no cache."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def _opts(kw: dict[str, Any]) -> Opts:
    keys = ("logs", "log_group", "region", "since", "until", "as_json", "no_color")
    picked = {k: kw.pop(k) for k in (*keys, "cache_dir", "no_cache")}
    return Opts(**picked)


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """Turn the library's input errors into clean exit-2 messages."""
    try:
        yield
    except (SourceError, TimeParseError, ImportError) as exc:
        raise UsageProblem(str(exc)) from None
    except ValueError as exc:
        # the engines' PatternError / QueryError; checked without importing them here
        if type(exc).__name__ in {"PatternError", "QueryError"}:
            raise UsageProblem(str(exc)) from None
        raise


class _LazyGroup(click.Group):
    """Loads ``aws`` (:mod:`bellwatch.aws.cli`) only when asked for: ``--help`` stays light."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        if find_spec("bellwatch.aws.cli") is not None:
            names = sorted([*names, "aws"])
        return names

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Like click's, but the aws group is described without importing it.
        rows = []
        for name in self.list_commands(ctx):
            if name == "aws":
                rows.append((name, "Provision and check CloudWatch monitoring (aws --help)."))
                continue
            command = self.commands.get(name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "aws":
            try:
                from .aws.cli import aws_group
            except ImportError:
                return None
            return aws_group
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Read bellwatch logs: local JSONL files (default) or a CloudWatch log group.

    \b
    Examples:
      bellwatch tail -f --level WARNING
      bellwatch errors --since 1h
      bellwatch slow --threshold 2 -l 'logs/*.jsonl*'
      bellwatch trace 3f9a1c7e2b4d
      bellwatch insights 'stats count(*) by path | sort count desc'
      bellwatch summary --budget 1500
    """


# ---------------------------------------------------------------- record commands


def _style(text: str, color: bool, **kw: Any) -> str:
    return click.style(text, **kw) if color else text


def format_record(record: Record, color: bool) -> str:
    """One readable line: time, level, event, cid, then the other fields as k=v."""
    ts = record.get(TIMESTAMP)
    level = str(record.get(F.LEVEL, "INFO"))
    parts = [
        format_ms(ts)[11:23] if isinstance(ts, int) else "?",
        _style(f"{level:<7}", color, fg=_LEVEL_COLOR.get(level, "white")),
        _style(str(record.get(F.EVENT, "")), color, bold=True),
    ]
    if F.CID in record:
        parts.append(_style(str(record[F.CID]), color, fg="cyan"))
    for key, value in record.items():
        if key in _SHOWN_FIRST or key.startswith("@"):
            continue
        parts.append(f"{key}={value}")
    return " ".join(parts)


def _emit(record: Record, opts: Opts) -> None:
    if opts.json:
        click.echo(record[MESSAGE])
    else:
        click.echo(format_record(record, opts.color))


def _skipped(stats: ScanStats) -> None:
    note = stats.skipped_note()
    if note:
        click.echo(note, err=True)


def _level_ok(minimum: str | None) -> Callable[[Record], bool]:
    if not minimum:
        return lambda _r: True
    floor = LEVELS.index(minimum)
    order = {name: i for i, name in enumerate(LEVELS)}
    return lambda r: order.get(str(r.get(F.LEVEL, "INFO")).upper(), 1) >= floor


def _matcher(pattern: str | None) -> Callable[[Record], bool]:
    if not pattern:
        return lambda _r: True
    from .query import filterpattern

    compiled = filterpattern.compile(pattern)
    return lambda r: compiled.match(r[MESSAGE], r)


@cli.command()
@click.argument("pattern", required=False)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (follows rotation).")
@click.option("-n", "--lines", default=20, show_default=True, help="Lines shown before following.")
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
      kubectl logs app | bellwatch tail -l - --event request_complete
    """
    opts = _opts(kw)
    with domain_errors():
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
        from .sources.files import FileSource

        last: Sequence[Record]
        if isinstance(source, FileSource):
            # read backwards from the end: the last lines of a 200 MB file cost milliseconds
            last = source.latest(max(lines, 0), keep, opts.since, opts.until)
        else:
            last = collections.deque(maxlen=max(lines, 0))
            for record in _progress_records(source, opts, pattern):
                if keep(record):
                    last.append(record)
        for record in last:
            _emit(record, opts)
        if follow:
            with contextlib.suppress(KeyboardInterrupt):
                for record in source.follow(None, pattern=pattern, poll_interval=0.5):
                    if keep(record):
                        _emit(record, opts)
        _skipped(source.stats)


@cli.command()
@click.argument("correlation_id")
@shared_options
def trace(correlation_id: str, **kw: Any) -> None:
    """Every line of one request, in time order.

    \b
    Examples:
      bellwatch trace 3f9a1c7e2b4d
      bellwatch trace 3f9a1c7e2b4d --json | jq .
    """
    opts = _opts(kw)
    with domain_errors():
        source = opts.source()
        found = list(_trace_records(source, correlation_id, opts))
        found.sort(key=lambda r: r.get(TIMESTAMP) or 0)
        for record in found:
            _emit(record, opts)
        if not found:
            click.echo(f"no lines with correlation id {correlation_id}", err=True)


def _trace_records(source: Source, cid: str, opts: Opts) -> Iterator[Record]:
    from .sources.files import FileSource, in_window, make_record, parse_line, search

    if not isinstance(source, FileSource):
        for record in source.records(opts.since, opts.until, pattern=f'"{cid}"'):
            if record.get(F.CID) == cid:
                yield record
        return
    needle = orjson.dumps(cid)  # the quoted id, as it appears in a line
    for path, raw in search(source.paths(), needle):
        event = parse_line(raw)
        if event is not None and event.get(F.CID) == cid:
            record = make_record(event, raw, os.path.basename(path), os.path.dirname(path))
            if in_window(record[TIMESTAMP], opts.since, opts.until):
                yield record


@cli.command(name="filter")
@click.argument("pattern")
@shared_options
def filter_(pattern: str, **kw: Any) -> None:
    """Lines matching a CloudWatch Logs filter pattern, evaluated locally.

    \b
    Examples:
      bellwatch filter ERROR
      bellwatch filter '{ $.event = "request_complete" && $.duration > 2 }'
      bellwatch filter '?TimeoutError ?ConnectionError' --since 2h
    """
    opts = _opts(kw)
    with domain_errors():
        matches = _matcher(pattern)
        source = opts.source()
        for record in _progress_records(source, opts, pattern):
            if matches(record):
                _emit(record, opts)
        _skipped(source.stats)


@cli.command()
@click.argument("query", required=False)
@click.option("--list", "list_only", is_flag=True, help="List the saved queries and exit.")
@shared_options
def insights(query: str | None, list_only: bool, **kw: Any) -> None:
    """Run a CloudWatch Logs Insights query locally (or in CloudWatch with --log-group).

    With no QUERY, pick one of the saved queries from a menu.

    \b
    Examples:
      bellwatch insights --list
      bellwatch insights 'filter level = "ERROR" | stats count(*) by type'
      bellwatch insights 'stats avg(duration), pct(duration, 95) by path'
    """
    opts = _opts(kw)
    saved = _saved_queries()
    if list_only or (query is None and not sys.stdin.isatty()):
        for i, (name, description, text) in enumerate(saved, 1):
            click.echo(f"{i:>2}. {name}: {description}\n    {text}")
        return
    if query is None:
        if not saved:
            raise UsageProblem("no saved queries; pass a QUERY")
        for i, (name, description, _text) in enumerate(saved, 1):
            click.echo(f"{i:>2}. {name}: {description}")
        choice = click.prompt("query", type=click.IntRange(1, len(saved)))
        query = saved[choice - 1][2]
        click.echo(query, err=True)
    with domain_errors():
        from .query import insights as engine

        source = opts.source()
        rows = source.run_insights(query, opts.since, opts.until)
        if rows is None:
            parsed = engine.parse(query)
            rows = parsed.run(_progress_records(source, opts))
        _table(rows, opts, title=None)
        _skipped(source.stats)


def _saved_queries() -> list[tuple[str, str, str]]:
    from .query import saved

    entries: Sequence[Any] = getattr(saved, "SAVED_QUERIES", None) or getattr(saved, "SAVED", [])
    entries = entries or []
    return [(e.name, e.description, e.query) for e in entries]


def _progress_records(source: Source, opts: Opts, pattern: str | None = None) -> Iterator[Record]:
    """The source's records, with a byte progress bar on a terminal for large inputs."""
    records = source.records(opts.since, opts.until, pattern=pattern)
    if not sys.stderr.isatty():
        yield from records
        return
    first = next(records, None)
    if first is None:
        return
    total = source.stats.bytes_total
    if total < _PROGRESS_BYTES:
        yield first
        yield from records
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("scanning", total=total)
        yield first
        for i, record in enumerate(records):
            if not i % 20_000:
                bar.update(task, completed=source.stats.bytes_read)
            yield record


# ---------------------------------------------------------------- aggregate commands


def run_aggregate(opts: Opts, name: str, compute: Callable[[Any, Any], Any], need: Any) -> Any:
    """Plan the read (cache or raw JSON), run ``compute(con, frame)``, report skipped lines.

    ``name`` identifies the command and its parameters (for the answer memo);
    ``need`` (an :class:`~bellwatch.sources.aggregate.Need`) says which columns and
    rows ``compute`` reads: a cold run parses and keeps only those.
    """
    from .sources import aggregate, cache
    from .sources.files import STDIN, FileSource

    source = opts.source()
    spooled: str | None = None
    store: cache.Cache | None = None
    memo: cache.Memo | None = None
    if isinstance(source, FileSource) and STDIN not in source.paths() and not opts.no_cache:
        memo = cache.Memo(opts.cache_dir)
        key = memo.key(f"{name}|{opts.since}|{opts.until}", source.paths())
        hit = memo.get(key)
        if hit is not None:
            _skipped_total(hit["skipped"])
            return hit["result"]
    try:
        con = cache.connect()
        if isinstance(source, FileSource) and STDIN not in source.paths():
            store = cache.Cache(opts.cache_dir)
            if opts.no_cache:
                plan = cache.Plan(raw=list(source.paths()))
            else:
                plan = store.plan(source.paths(), con)
            size = source.total_bytes() if plan.raw else 0
        else:
            spooled = _spool(source, opts)
            plan, size = cache.Plan(raw=[spooled]), os.path.getsize(spooled)
        with _spinner(size, opts):
            plan.load_raw(con, need.columns, need.where)
            frame = aggregate.Frame(
                plan.relation(), opts.since, opts.until, full=plan.full_relation()
            )
            result = compute(con, frame)
            skipped = plan.skipped
        _skipped_total(skipped)
        if memo is not None:
            memo.put(key, result, skipped)
        if store is not None:
            store.build_later(plan)
        return result
    finally:
        if spooled:
            os.unlink(spooled)


def _skipped_total(skipped: int) -> None:
    if skipped:
        what = (
            "line that was not a JSON log record"
            if skipped == 1
            else "lines that were not JSON log records"
        )
        click.echo(f"skipped {skipped:,} {what}", err=True)


def _spool(source: Source, opts: Opts) -> str:
    """Write a non-file source's lines to a temporary JSONL file for DuckDB."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="bellwatch-", suffix=".jsonl")
    with os.fdopen(fd, "wb") as out:
        for record in source.records(opts.since, opts.until):
            out.write(record[MESSAGE].encode() + b"\n")
    _skipped(source.stats)
    return path


@contextlib.contextmanager
def _spinner(size: int, opts: Opts) -> Iterator[None]:
    if size < _PROGRESS_BYTES or not sys.stderr.isatty() or opts.json:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(f"scanning {size / 1e6:,.0f} MB of JSON"):
        yield


def _table(
    rows: Sequence[dict[str, Any]],
    opts: Opts,
    title: str | None,
    columns: Sequence[str] | None = None,
) -> None:
    """Rows as JSON (``--json``) or a Rich table; ``*_ts`` columns shown as times."""
    if opts.json:
        click.echo(orjson.dumps(list(rows), option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("(no matching records)")
        return
    from rich.console import Console
    from rich.table import Table

    names = list(columns or dict.fromkeys(k for row in rows for k in row))
    table = Table(title=title, show_lines=False)
    for name in names:
        table.add_column(name, overflow="fold")
    for row in rows:
        table.add_row(*(_cell(name, row.get(name)) for name in names))
    Console(
        no_color=not opts.color, highlight=False, width=None if sys.stdout.isatty() else 200
    ).print(table)


def _cell(name: str, value: Any) -> str:
    if value is None:
        return ""
    if name in {"ts", "first_ts", "last_ts"} and isinstance(value, int):
        return format_ms(value)
    if isinstance(value, float):
        return f"{value:.1%}" if name.endswith("rate") else f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


@cli.command()
@click.option("--limit", default=50, show_default=True)
@shared_options
def errors(limit: int, **kw: Any) -> None:
    """Errors grouped by fingerprint: count, severity, type, message, endpoints, example id.

    \b
    Examples:
      bellwatch errors --since 1h
      bellwatch errors --json | jq '.[0]'
    """
    from .sources import aggregate

    opts = _opts(kw)
    with domain_errors():
        rows = run_aggregate(
            opts,
            f"errors:{limit}",
            lambda con, fr: aggregate.errors(con, fr, limit),
            aggregate.need("errors"),
        )
    _table(rows, opts, title="errors by fingerprint")


@cli.command()
@click.option("--threshold", type=float, help="Seconds (default BELLWATCH_SLOW_THRESHOLD, 2).")
@click.option("--limit", default=50, show_default=True)
@shared_options
def slow(threshold: float | None, limit: int, **kw: Any) -> None:
    """The slowest requests over a threshold: endpoint, duration, status, correlation id.

    \b
    Examples:
      bellwatch slow
      bellwatch slow --threshold 0.5 --since 30m
    """
    from .sources import aggregate

    opts = _opts(kw)
    limit_s = opts.settings.slow_threshold if threshold is None else threshold
    with domain_errors():
        rows = run_aggregate(
            opts,
            f"slow:{limit_s}:{limit}",
            lambda con, fr: aggregate.slow(con, fr, limit_s, limit),
            aggregate.need("slow", limit_s),
        )
    _table(rows, opts, title=f"requests >= {limit_s:g}s")


@cli.command()
@click.option("--limit", default=100, show_default=True)
@shared_options
def endpoints(limit: int, **kw: Any) -> None:
    """Per endpoint: requests, average and p95 seconds, slowest, 5xx rate.

    \b
    Examples:
      bellwatch endpoints --since 1d
    """
    from .sources import aggregate

    opts = _opts(kw)
    with domain_errors():
        rows = run_aggregate(
            opts,
            f"endpoints:{limit}",
            lambda con, fr: aggregate.endpoints(con, fr, limit),
            aggregate.need("endpoints"),
        )
    _table(rows, opts, title="endpoints")


@cli.command()
@click.option("--limit", default=50, show_default=True)
@shared_options
def twilio(limit: int, **kw: Any) -> None:
    """Twilio webhook failures (non-2xx, bad signatures) grouped by CallSid.

    \b
    Examples:
      bellwatch twilio --since 2h
    """
    from .sources import aggregate

    opts = _opts(kw)
    with domain_errors():
        rows = run_aggregate(
            opts,
            f"twilio:{limit}",
            lambda con, fr: aggregate.twilio(con, fr, limit),
            aggregate.need("twilio"),
        )
    _table(rows, opts, title="Twilio failures by CallSid")


@cli.command()
@click.option(
    "--budget", default=1500, show_default=True, type=click.IntRange(min=100), help="Token budget."
)
@shared_options
def summary(budget: int, **kw: Any) -> None:
    """A digest for a person or an LLM: health, traffic, errors, slow endpoints, Twilio.

    Fits the token budget and says what it left out.

    \b
    Examples:
      bellwatch summary --since 1h
      bellwatch summary --budget 500 | pbcopy
    """
    from . import digest

    opts = _opts(kw)
    with domain_errors():
        facts = run_aggregate(opts, "summary", digest.collect, digest.NEED)
    text = digest.render(facts, budget, slow_threshold=opts.settings.slow_threshold)
    if opts.json:
        click.echo(orjson.dumps({"summary": text, "facts": facts}, default=str).decode())
    else:
        click.echo(text)


# ---------------------------------------------------------------- service commands


def _fetch(url: str, token: str | None) -> tuple[int, str, str]:
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise UsageProblem(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url)  # noqa: S310 - scheme checked above
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310 - scheme checked
            return resp.status, resp.headers.get("content-type", ""), resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("content-type", ""), exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise UsageProblem(f"cannot reach {url}: {reason} (is the service running?)") from None


def _service(path: str, url: str | None, as_json: bool, no_color: bool) -> int:
    try:
        settings = _config.resolve()
    except _config.ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    base = (url or settings.url).rstrip("/")
    status, ctype, body = _fetch(base + path, settings.metrics_token)
    if status == 401:
        raise UsageProblem(f"{base + path}: 401 unauthorized (set BELLWATCH_METRICS_TOKEN)")
    if "json" in ctype and not as_json:
        from rich.console import Console

        with contextlib.suppress(orjson.JSONDecodeError):
            Console(no_color=no_color).print_json(body)
            return status
    click.echo(body.rstrip())
    return status


def _url_options(func: FC) -> FC:
    func = click.option("--no-color", is_flag=True, help="Plain text.")(func)
    func = click.option("--json", "as_json", is_flag=True, help="Raw response body.")(func)
    return click.option("--url", metavar="URL", help="Service base URL (BELLWATCH_URL).")(func)


@cli.command()
@_url_options
def metrics(url: str | None, as_json: bool, no_color: bool) -> None:
    """Fetch the running service's /metrics (bearer BELLWATCH_METRICS_TOKEN when set).

    \b
    Examples:
      bellwatch metrics --url http://127.0.0.1:8000
    """
    status = _service("/metrics", url, as_json, no_color)
    if status >= 400:
        raise SystemExit(1)


@cli.command()
@_url_options
def health(url: str | None, as_json: bool, no_color: bool) -> None:
    """Fetch the running service's /health; exit 1 when it is not healthy.

    \b
    Examples:
      bellwatch health
      bellwatch health --url https://api.example.com --json
    """
    status = _service("/health", url, as_json, no_color)
    if status >= 400:
        raise SystemExit(1)


@cli.command()
@click.option("--serve", is_flag=True, help="Run the reference service with traffic.")
@click.option("--duration", default=30.0, show_default=True, help="Seconds of traffic.")
def demo(serve: bool, duration: float) -> None:
    """Run the bellwatch demo (the reference service and its traffic when available).

    \b
    Examples:
      bellwatch demo                   # traffic for 30 s, then the summary digest
      bellwatch demo --serve           # keep serving; try bellwatch tail -f
    """
    from . import demo as demo_pkg

    cli_main = getattr(demo_pkg, "cli_main", None)
    if cli_main is not None:
        raise SystemExit(cli_main(serve=serve, duration=duration))
    from .demo import scenario

    raise SystemExit(scenario.main())


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: never a traceback for our own failures."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="bellwatch")
    except BrokenPipeError:
        # piped into head: stop quietly, like coreutils
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - interpreter closes it at exit
        raise SystemExit(0) from None
    except Exception as exc:
        click.echo(f"bellwatch: internal error: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
