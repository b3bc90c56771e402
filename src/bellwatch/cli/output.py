"""Everything ``bellwatch`` prints: records, tables, the digest, closing notes, and JSON.

Log text reaches the terminal through one function, :func:`safe_text`: the single place
to mask secrets (the one redactor, :mod:`bellwatch.log.redact`, as the settings of the
command describe it), to escape what a terminal would act on, and to cut very long
values. It escapes, visibly, C0 and C1 control characters, DEL, Unicode format
characters (bidirectional overrides and isolates, zero-width marks), line and paragraph
separators, and bytes that were not UTF-8 (``\\x1b``, ``\\u202e``, ``\\xff``). Nothing from
a log is ever given to Rich as markup: tables are laid out here (:mod:`._layout`) as
plain text.

JSON goes through :func:`scrub_json` (the same redactor, by key and by value, at any
depth) and :func:`json_safe` (the characters :func:`safe_text` escapes are written as
JSON ``\\u`` escapes: the same values, nothing a terminal acts on); ``--json`` is exact
otherwise. A record is its own line, byte for byte, unless a value in it had to be
masked or escaped; a line that was not JSON is ``{"text": ...}``, so the output is
JSON Lines.
Logs written by other programs or by older versions can hold secrets: what is masked
is decided here, not trusted to the writer.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import click
import orjson

from ..schema import F
from ..sources.base import MESSAGE, TIMESTAMP, Record, ScanStats, TextRecord
from ..timeparse import format_ms
from . import _layout, _redact
from ._escape import dangerous, escape, json_safe

__all__ = [
    "MIN_WIDTH",
    "VALUE_MAX",
    "Column",
    "Style",
    "cell",
    "closing",
    "echo_json",
    "echo_lines",
    "echo_text",
    "emit",
    "format_record",
    "json_safe",
    "safe_text",
    "scrub_json",
    "table",
    "terminal_width",
    "use_settings",
]

scrub_json = _redact.scrub_json
use_settings = _redact.use_settings

VALUE_MAX = 240
"""Characters of one value a readable line shows before cutting it with a marker."""
_LEVEL_COLOR = {"DEBUG": "bright_black", "INFO": "green", "WARNING": "yellow", "ERROR": "red"}
_LEVEL_COLOR["CRITICAL"] = "magenta"
_SHOWN_FIRST = (F.TS, F.LEVEL, F.EVENT, F.CID)
# Epoch-ms columns shown as times: the records' own and the saved queries' (top-errors).
_TIME_COLUMNS = frozenset({"ts", "first_ts", "last_ts", TIMESTAMP, "first_seen", "last_seen"})
# A time as Insights writes @timestamp: kept whole in a table, like an id (its seconds
# are what a reader matches against other lines).
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z?")


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


# ---------------------------------------------------------------- the one text gate


def safe_text(value: Any, limit: int | None = None) -> str:
    """``value`` as text a terminal shows and never acts on, secrets masked, cut to
    ``limit`` characters.

    Every readable output passes log text through here (and only here). Secrets are
    masked first, on the whole value, so a cut can never split one past recognition;
    a cut value ends in ``…[+N chars]`` so the reader knows it is not the whole value.
    """
    text = value if isinstance(value, str) else str(value)
    return _shown(_redact.text(text), limit)


def _shown(text: str, limit: int | None = None) -> str:
    """Escaped and cut: for text already masked (a record's or a row's scrubbed values)."""
    if not text.isprintable():
        text = "".join(escape(ch) if dangerous(ch) else ch for ch in text)
    if limit is not None and len(text) > limit:
        rest = len(text) - limit
        text = f"{text[:limit]}…[+{rest:,} chars]"
    return text


# ---------------------------------------------------------------- records


def _style(text: str, color: bool, **kw: Any) -> str:
    return click.style(text, **kw) if color else text


def format_record(record: Record, color: bool) -> str:
    """One readable line: time, level, event, cid, then the other fields as k=v.

    A text event (a line that was not JSON) shows its time and the line itself. Values
    are masked by key and by value (:func:`scrub_json`) before they are shown.
    """
    ts = record.get(TIMESTAMP)
    when = format_ms(ts)[11:23] if isinstance(ts, int) else "?"
    if isinstance(record, TextRecord):
        line = safe_text(record.get(MESSAGE, ""), VALUE_MAX * 4)
        return f"{when} {_style('text   ', color, fg='bright_black')} {line}"
    fields = _redact.fields_of(record)
    level = _shown(_plain(fields.get(F.LEVEL, "INFO")), 20)
    parts = [
        when,
        _style(f"{level:<7}", color, fg=_LEVEL_COLOR.get(level, "white")),
        _style(_shown(_plain(fields.get(F.EVENT, "")), VALUE_MAX), color, bold=True),
    ]
    if F.CID in fields:
        parts.append(_style(_shown(_plain(fields[F.CID]), VALUE_MAX), color, fg="cyan"))
    for key, value in fields.items():
        if key in _SHOWN_FIRST:
            continue
        parts.append(f"{safe_text(key, 60)}={_shown(_plain(value), VALUE_MAX)}")
    return " ".join(parts)


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def emit(record: Record, opts: Style) -> None:
    """The event's own line with ``--json`` (byte for byte unless a secret had to be
    masked or a character escaped; a text line as ``{"text": ...}``), else the readable
    line."""
    if opts.json:
        _write_bytes(json_safe(_redact.record_line(record)))
    else:
        click.echo(format_record(record, opts.color))


def echo_text(text: str, *, err: bool = False) -> None:
    """A line of our own words that may quote outside text (an id, a name): made safe."""
    click.echo(safe_text(text), err=err)


def echo_lines(text: str) -> None:
    """Lines that quote log text (the digest, a service's answer), each through
    :func:`safe_text`."""
    click.echo("\n".join(safe_text(line) for line in text.split("\n")))


def closing(stats: ScanStats, *, counts: bool = True) -> None:
    """The end-of-command notes on stderr: what could not be read, the cache, and (with
    ``counts``, for commands that read their whole input) how many text lines it held."""
    for skipped in stats.skipped_sources:
        click.echo(f"bellwatch: skipped {safe_text(skipped, VALUE_MAX)}", err=True)
    for warning in stats.warnings:
        click.echo(f"bellwatch: {safe_text(warning, VALUE_MAX)}", err=True)
    note = stats.text_note() if counts else None
    if note:
        click.echo(f"bellwatch: {note}", err=True)


# ---------------------------------------------------------------- JSON


def _write_bytes(data: bytes) -> None:
    """Bytes straight to stdout's buffer: exact, and no decode and re-encode of megabytes."""
    out = sys.stdout
    raw = getattr(out, "buffer", None)
    if raw is None:
        click.echo(data.decode("utf-8", "replace"))
        return
    out.flush()  # text written before stays before
    raw.write(data + b"\n")
    raw.flush()


def echo_json(data: Any, *, indent: bool = True, numbers: bool = True) -> None:
    """``data`` as JSON on stdout, secrets masked (:func:`scrub_json`; ``numbers=False``
    when every number in it was computed here). Text that was not UTF-8 becomes U+FFFD:
    JSON has no bytes."""
    data = scrub_json(data, numbers=numbers)
    option = orjson.OPT_INDENT_2 if indent else 0
    try:
        encoded = orjson.dumps(data, option=option, default=str)
    except TypeError:  # a str holding surrogate escapes: replace them, keep the rest exact
        encoded = orjson.dumps(_valid(data), option=option, default=str)
    _write_bytes(json_safe(encoded))


def _valid(data: Any) -> Any:
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(data, dict):
        return {_valid(k): _valid(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_valid(v) for v in data]
    return data


# ---------------------------------------------------------------- tables


@dataclass(frozen=True)
class Column:
    """One column of a readable table.

    ``kind``: ``id`` (ids, hashes, routes, names: never cut), ``text`` (free text: cut
    with ``…`` to fit), ``number``, ``fraction`` (a 0..1 share shown as a percentage),
    ``time`` (epoch ms) or ``list``. ``priority``: the lowest goes first when the terminal
    is too narrow for every column.
    """

    key: str
    header: str = ""
    kind: str = "id"
    priority: int = 5
    least: int = 0
    """Free text only: the width below which the column is not worth showing; less
    important columns go first to keep it."""


MIN_WIDTH = 20
"""The narrowest table laid out; ``--width`` below it is a usage error."""


def terminal_width(width: int | None = None) -> int:
    """Columns to fit: ``width`` (``--width``), else ``COLUMNS``, else the terminal's,
    else 80.

    ``COLUMNS`` counts when stdout is piped too (``COLUMNS=200 bellwatch errors | less``):
    it is how a shell or a script says the width it wants.
    """
    import os
    import shutil

    if width is not None:
        return max(width, MIN_WIDTH)
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return max(int(columns), MIN_WIDTH)
    if sys.stdout.isatty():
        return max(shutil.get_terminal_size((80, 24)).columns, MIN_WIDTH)
    return 80


def table(
    rows: Sequence[dict[str, Any]],
    opts: Style,
    title: str | None,
    *,
    columns: Sequence[Column] | None = None,
    fractions: Collection[str] = (),
) -> None:
    """Rows as JSON (``--json``: every field) or as a table that fits the terminal
    (``opts.width`` when the command has ``--width``; see :func:`terminal_width`).

    ``columns`` chooses and orders what the table shows (default: every field, kinds
    guessed); ``fractions`` names columns *we* computed as 0..1 shares, shown as
    percentages. Nothing else is rescaled: a query's own ``* 100 as rate`` is shown as is.
    Values are masked by key and by value first, in both forms.
    """
    if opts.json:
        echo_json(list(rows))
        return
    rows = scrub_json(list(rows))
    if columns is None:
        columns = _guess(rows, fractions)
    if not columns or not any(rows):
        click.echo("(no matching records)")
        return
    headers = [c.header or c.key for c in columns]
    cells = [[_cell(c, row.get(c.key)) for c in columns] for row in rows]
    items = [[_items(c, row.get(c.key)) for c in columns] for row in rows]
    flexible = [
        _list_floor(c.least, [row[i] for row in items]) if c.kind == "list" else
        c.least if c.kind == "text" else None
        for i, c in enumerate(columns)
    ]  # fmt: skip
    priority = [c.priority for c in columns]
    total = terminal_width(getattr(opts, "width", None))
    layout = _layout.fit(headers, cells, flexible, priority, total)
    if title:
        click.echo(_style(safe_text(title), opts.color, bold=True))
    click.echo(_line(columns, layout, headers, opts.color, header=True))
    for row, lists in zip(cells, items, strict=True):
        click.echo(_line(columns, layout, row, opts.color, lists))
    hidden = [headers[i] for i in range(len(columns)) if i not in layout.shown]
    if hidden:
        note = f"(too narrow for {', '.join(hidden)}: a wider terminal or --json shows them)"
        click.echo(safe_text(note), err=True)


def _list_floor(least: int, lists: Sequence[list[str] | None]) -> int:
    """A list column's narrowest useful width: every row's first item whole, with room
    for the ``+N`` of the rest. Narrower, a cell would be a bare ``+N`` (no route at
    all); then the column is better dropped, with the note that says so."""
    needed = [
        _layout.width(items[0]) + (len(f" +{len(items) - 1}") if len(items) > 1 else 0)
        for items in lists
        if items
    ]
    return max([least, *needed])


def _line(
    columns: Sequence[Column],
    layout: _layout.Layout,
    values: Sequence[str],
    color: bool,
    lists: Sequence[list[str] | None] = (),
    *,
    header: bool = False,
) -> str:
    parts = []
    for i, w in zip(layout.shown, layout.widths, strict=True):
        whole = lists[i] if lists else None
        text = _layout.cut_items(whole, w) if whole is not None else _layout.cut(values[i], w)
        pad = " " * (w - _layout.width(text))
        right = columns[i].kind in ("number", "fraction")
        text = pad + text if right else text + pad
        parts.append(_style(text, color, bold=True) if header else text)
    return (" " * _layout.GAP).join(parts).rstrip()


def _guess(rows: Sequence[dict[str, Any]], fractions: Collection[str]) -> list[Column]:
    names = list(dict.fromkeys(k for row in rows for k in row))
    out = []
    for name in names:
        values = [row.get(name) for row in rows if row.get(name) is not None]
        if name in fractions:
            kind = "fraction"
        elif name in _TIME_COLUMNS and all(isinstance(v, int) for v in values):
            kind = "time"
        elif values and all(isinstance(v, int | float) for v in values):
            kind = "number"
        elif any(isinstance(v, list) for v in values):
            kind = "list"
        elif values and all(isinstance(v, str) and _STAMP.fullmatch(v) for v in values):
            kind = "id"
        elif any(isinstance(v, str) and (" " in v or len(v) > 40) for v in values):
            kind = "text"
        else:
            kind = "id"
        out.append(Column(name, name, kind))
    return out


def _cell(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.kind == "time" and isinstance(value, int):
        return _short_time(value)
    if column.kind == "list" and isinstance(value, list):
        return _shown(", ".join(_plain(v) for v in value), VALUE_MAX)
    return _shown(cell(column.key, value, column.kind == "fraction"), VALUE_MAX)


def _items(column: Column, value: Any) -> list[str] | None:
    """A list cell's items, each made safe, so the table shortens the list, not an item."""
    if column.kind != "list" or not isinstance(value, list):
        return None
    return [_shown(_plain(v), VALUE_MAX) for v in value]


def _short_time(ms: int) -> str:
    """``09-26 20:30:15`` (UTC): a table's times, short enough for 80 columns."""
    full = format_ms(ms)
    return f"{full[5:10]} {full[11:19]}" if len(full) == 24 else full


def cell(name: str, value: Any, fraction: bool = False) -> str:
    """One value as table text (not yet made safe: :func:`table` does that)."""
    if value is None:
        return ""
    if name in _TIME_COLUMNS and isinstance(value, int) and not isinstance(value, bool):
        return format_ms(value)
    if isinstance(value, float):
        return f"{value:.1%}" if fraction else f"{value:.3f}"
    if isinstance(value, list):
        return ", ".join(_plain(v) for v in value)
    return _plain(value)
