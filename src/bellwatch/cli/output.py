"""How ``bellwatch`` prints: readable lines, tables, JSON, and progress on a terminal.

Rich is imported only when a table or an indicator is actually drawn, so ``--help``
and ``tail`` stay light.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import click
import orjson

from ..schema import F
from ..sources.base import MESSAGE, TIMESTAMP, Record, ScanStats, Source
from ..timeparse import format_ms

if TYPE_CHECKING:
    from rich.status import Status

__all__ = [
    "InsightsSpinner",
    "Style",
    "byte_spinner",
    "cell",
    "closing",
    "emit",
    "format_record",
    "progress_records",
    "table",
]


class Style(Protocol):
    """How a command prints (the shared options carry it)."""

    @property
    def json(self) -> bool:
        """Machine-readable JSON instead of readable text."""
        ...

    @property
    def color(self) -> bool:
        """Colour and styles in readable text."""
        ...


PROGRESS_BYTES = 8 * 1024 * 1024  # show a progress indicator above this much input
_LEVEL_COLOR = {"DEBUG": "bright_black", "INFO": "green", "WARNING": "yellow", "ERROR": "red"}
_LEVEL_COLOR["CRITICAL"] = "magenta"
_SHOWN_FIRST = (F.TS, F.LEVEL, F.EVENT, F.CID)
_TIME_COLUMNS = frozenset({"ts", "first_ts", "last_ts", TIMESTAMP})
_DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout"})


def _style(text: str, color: bool, **kw: Any) -> str:
    return click.style(text, **kw) if color else text


def _one_line(value: Any) -> str:
    # A stdlib message like "Exception in ASGI application\n" must not break the line:
    # control and separator characters are shown escaped (\n, \x85, \u2028).
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


def format_record(record: Record, color: bool) -> str:
    """One readable line: time, level, event, cid, then the other fields as k=v."""
    ts = record.get(TIMESTAMP)
    level = str(record.get(F.LEVEL, "INFO"))
    parts = [
        format_ms(ts)[11:23] if isinstance(ts, int) else "?",
        _style(f"{level:<7}", color, fg=_LEVEL_COLOR.get(level, "white")),
        _style(_one_line(record.get(F.EVENT, "")), color, bold=True),
    ]
    if F.CID in record:
        parts.append(_style(_one_line(record[F.CID]), color, fg="cyan"))
    for key, value in record.items():
        if key in _SHOWN_FIRST or key.startswith("@"):
            continue
        parts.append(f"{key}={_one_line(value)}")
    return " ".join(parts)


def emit(record: Record, opts: Style) -> None:
    """The raw line with ``--json``, else the readable one."""
    if opts.json:
        click.echo(record[MESSAGE])
    else:
        click.echo(format_record(record, opts.color))


def closing(stats: ScanStats) -> None:
    """The end-of-command notes on stderr: what could not be used, then skipped lines."""
    for warning in stats.warnings:
        click.echo(f"bellwatch: {warning}", err=True)
    note = stats.skipped_note()
    if note:
        click.echo(note, err=True)


def progress_records(
    source: Source,
    since_ms: int | None,
    until_ms: int | None,
    pattern: str | None = None,
) -> Iterator[Record]:
    """The source's records, with a byte progress bar on a terminal for large inputs."""
    records = source.records(since_ms, until_ms, pattern=pattern)
    if not sys.stderr.isatty():
        yield from records
        return
    first = next(records, None)
    if first is None:
        return
    total = source.stats.bytes_total
    if total < PROGRESS_BYTES:
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


@contextlib.contextmanager
def byte_spinner(size: int, opts: Style) -> Iterator[None]:
    """A spinner while a report scans ``size`` bytes (terminal only, large inputs only)."""
    if size < PROGRESS_BYTES or not sys.stderr.isatty() or opts.json:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(f"scanning {size / 1e6:,.0f} MB of JSON"):
        yield


class InsightsSpinner:
    """The ``progress`` callback of a CloudWatch source: a Rich spinner on a terminal.

    Called after each ``get_query_results`` poll with the query's status and statistics;
    the spinner shows them and disappears when the query is done (or on :meth:`stop`).
    Off a terminal, or with ``--json``, it draws nothing.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.polls = 0
        self.last: tuple[str, dict[str, float]] | None = None
        self._status: Status | None = None

    def __call__(self, status: str, statistics: Mapping[str, float]) -> None:
        self.polls += 1
        self.last = (status, dict(statistics))
        if status in _DONE:
            self.stop()
            return
        if not self.enabled:
            return
        text = f"Logs Insights: {status.lower()}" + describe_statistics(statistics)
        if self._status is None:
            from rich.console import Console

            self._status = Console(stderr=True).status(text)
            self._status.start()
        else:
            self._status.update(text)

    def stop(self) -> None:
        """Remove the spinner (idempotent)."""
        if self._status is not None:
            self._status.stop()
            self._status = None


def describe_statistics(statistics: Mapping[str, float]) -> str:
    """``, 12,345 records, 3.2 MB scanned`` from Insights' statistics (empty when none)."""
    records = statistics.get("recordsScanned")
    scanned = statistics.get("bytesScanned")
    parts = []
    if records:
        parts.append(f"{int(records):,} records")
    if scanned:
        parts.append(f"{scanned / 1e6:,.1f} MB")
    return f", {', '.join(parts)} scanned" if parts else ""


def _echo_json_bytes(data: bytes) -> None:
    """UTF-8 JSON straight to stdout's bytes: no decode and re-encode of megabytes."""
    out = sys.stdout
    raw = getattr(out, "buffer", None)
    if raw is None:
        click.echo(data.decode())
        return
    out.flush()  # text written before stays before
    raw.write(data + b"\n")
    raw.flush()


def table(
    rows: Sequence[dict[str, Any]],
    opts: Style,
    title: str | None,
    *,
    fractions: Collection[str] = (),
) -> None:
    """Rows as JSON (``--json``) or a Rich table.

    Time columns are shown as times; ``fractions`` names the columns *we* computed as
    a 0..1 fraction, shown as percentages. Nothing else is rescaled: a query's own
    ``... * 100 as error_rate`` is already a percentage.
    """
    if opts.json:
        _echo_json_bytes(orjson.dumps(list(rows), option=orjson.OPT_INDENT_2))
        return
    names = list(dict.fromkeys(k for row in rows for k in row))
    if not names:
        click.echo("(no matching records)")
        return
    from rich.console import Console
    from rich.table import Table

    shown = Table(title=title, show_lines=False)
    for name in names:
        shown.add_column(name, overflow="fold")
    for row in rows:
        shown.add_row(*(cell(name, row.get(name), name in fractions) for name in names))
    Console(
        no_color=not opts.color, highlight=False, width=None if sys.stdout.isatty() else 200
    ).print(shown)


def cell(name: str, value: Any, fraction: bool = False) -> str:
    """One table cell as text."""
    if value is None:
        return ""
    if name in _TIME_COLUMNS and isinstance(value, int):
        return format_ms(value)
    if isinstance(value, float):
        return f"{value:.1%}" if fraction else f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)
