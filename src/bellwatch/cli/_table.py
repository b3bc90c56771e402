"""Readable tables: :class:`Column` (what a column shows and how), :func:`table` (rows as
a table that fits the terminal, or as JSON), :func:`terminal_width`, :func:`cell`.

Values are masked and made safe through :mod:`._safe` before they are laid out, and the
layout itself (display widths, cutting, dropping columns) is :mod:`._layout`'s: nothing
from a log is given to Rich as markup. May import :mod:`._safe`, :mod:`._layout`,
:mod:`._redact`, ``bellwatch.timeparse``, ``bellwatch.sources.base`` and click; never
:mod:`.output`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import click

from ..sources.base import TIMESTAMP
from ..timeparse import format_ms
from . import _layout
from ._redact import scrub_json
from ._safe import VALUE_MAX, Style, echo_json, plain, safe_text, shown, style

__all__ = ["MIN_WIDTH", "Column", "cell", "table", "terminal_width"]

# Epoch-ms columns shown as times: the records' own and the saved queries' (top-errors).
_TIME_COLUMNS = frozenset({"ts", "first_ts", "last_ts", TIMESTAMP, "first_seen", "last_seen"})
# A time as Insights writes @timestamp: kept whole in a table, like an id (its seconds
# are what a reader matches against other lines).
_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?Z?")


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
        echo_json(rows if isinstance(rows, list) else list(rows))  # a report's marked rows
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
        click.echo(style(safe_text(title), opts.color, bold=True))
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
        parts.append(style(text, color, bold=True) if header else text)
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
        return shown(", ".join(plain(v) for v in value), VALUE_MAX)
    return shown(cell(column.key, value, column.kind == "fraction"), VALUE_MAX)


def _items(column: Column, value: Any) -> list[str] | None:
    """A list cell's items, each made safe, so the table shortens the list, not an item."""
    if column.kind != "list" or not isinstance(value, list):
        return None
    return [shown(plain(v), VALUE_MAX) for v in value]


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
        return ", ".join(plain(v) for v in value)
    return plain(value)
