"""Everything ``bellwatch`` prints: records, closing notes, and (re-exported from where
they live) the text gate, JSON and tables.

A record is its own line with ``--json``, byte for byte, unless a value in it had to be
masked or escaped; a line that was not JSON is ``{"text": ...}``, so the output is JSON
Lines. Readable, it is one line of time, level, event, cid and ``k=v`` fields.
Logs written by other programs or by older versions can hold secrets: what is masked
is decided here, not trusted to the writer.

Log text reaches the terminal through one function, :func:`safe_text`, and JSON through
:func:`echo_json` (both in :mod:`._safe`, the gates); tables are laid out as plain text by
:mod:`._table` and :mod:`._layout`. This module keeps their names as its own (its
``__all__``). May import :mod:`._safe`, :mod:`._table`, :mod:`._redact`, :mod:`._escape`;
neither of those two imports it.
"""

from __future__ import annotations

import click

from ..schema import F
from ..sources.base import MESSAGE, TIMESTAMP, Record, ScanStats, TextRecord
from ..timeparse import format_ms
from . import _redact
from ._escape import json_safe
from ._safe import VALUE_MAX, Style, echo_json, plain, safe_text, shown, style, write_bytes
from ._table import MIN_WIDTH, Column, cell, table, terminal_width

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

_LEVEL_COLOR = {"DEBUG": "bright_black", "INFO": "green", "WARNING": "yellow", "ERROR": "red"}
_LEVEL_COLOR["CRITICAL"] = "magenta"
_SHOWN_FIRST = (F.TS, F.LEVEL, F.EVENT, F.CID)


def format_record(record: Record, color: bool) -> str:
    """One readable line: time, level, event, cid, then the other fields as k=v.

    A text event (a line that was not JSON) shows its time and the line itself. Values
    are masked by key and by value (:func:`scrub_json`) before they are shown.
    """
    ts = record.get(TIMESTAMP)
    when = format_ms(ts)[11:23] if isinstance(ts, int) else "?"
    if isinstance(record, TextRecord):
        line = safe_text(record.get(MESSAGE, ""), VALUE_MAX * 4)
        return f"{when} {style('text   ', color, fg='bright_black')} {line}"
    fields = _redact.fields_of(record)
    level = shown(plain(fields.get(F.LEVEL, "INFO")), 20)
    parts = [
        when,
        style(f"{level:<7}", color, fg=_LEVEL_COLOR.get(level, "white")),
        style(shown(plain(fields.get(F.EVENT, "")), VALUE_MAX), color, bold=True),
    ]
    if F.CID in fields:
        parts.append(style(shown(plain(fields[F.CID]), VALUE_MAX), color, fg="cyan"))
    for key, value in fields.items():
        if key in _SHOWN_FIRST:
            continue
        parts.append(f"{safe_text(key, 60)}={shown(plain(value), VALUE_MAX)}")
    return " ".join(parts)


def emit(record: Record, opts: Style) -> None:
    """The event's own line with ``--json`` (byte for byte unless a secret had to be
    masked or a character escaped; a text line as ``{"text": ...}``), else the readable
    line."""
    if opts.json:
        write_bytes(json_safe(_redact.record_line(record)))
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
