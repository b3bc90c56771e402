"""The gates between log text and stdout: :func:`safe_text` for readable text,
:func:`echo_json` for JSON. Every byte of log text the CLI prints passes one of them.

:func:`safe_text` is the single place to mask secrets (the one redactor,
:mod:`bellwatch.log.redact`, as the settings of the command describe it), to escape what a
terminal would act on, and to cut very long values. It escapes, visibly, C0 and C1 control
characters, DEL, Unicode format characters (bidirectional overrides and isolates,
zero-width marks), line and paragraph separators, and bytes that were not UTF-8
(``\\x1b``, ``\\u202e``, ``\\xff``). Nothing from a log is ever given to Rich as markup.

JSON goes through :func:`~._redact.scrub_json` (the same redactor, by key and by value, at
any depth) and :func:`~._escape.json_safe` (the characters :func:`safe_text` escapes are
written as JSON ``\\u`` escapes: the same values, nothing a terminal acts on); ``--json``
is exact otherwise.

May import :mod:`._redact`, :mod:`._escape`, click and orjson; never the modules that print
with it (:mod:`.output`, :mod:`._table`).
"""

from __future__ import annotations

import sys
from typing import Any, Protocol

import click
import orjson

from . import _redact
from ._escape import dangerous, escape, json_safe

__all__ = [
    "VALUE_MAX",
    "Style",
    "echo_json",
    "plain",
    "safe_text",
    "shown",
    "style",
    "write_bytes",
]

VALUE_MAX = 240
"""Characters of one value a readable line shows before cutting it with a marker."""


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


def safe_text(value: Any, limit: int | None = None) -> str:
    """``value`` as text a terminal shows and never acts on, secrets masked, cut to
    ``limit`` characters.

    Every readable output passes log text through here (and only here). Secrets are
    masked first, on the whole value, so a cut can never split one past recognition;
    a cut value ends in ``…[+N chars]`` so the reader knows it is not the whole value.
    """
    text = value if isinstance(value, str) else str(value)
    return shown(_redact.text(text), limit)


def shown(text: str, limit: int | None = None) -> str:
    """Escaped and cut: for text already masked (a record's or a row's scrubbed values)."""
    if not text.isprintable():
        text = "".join(escape(ch) if dangerous(ch) else ch for ch in text)
    if limit is not None and len(text) > limit:
        rest = len(text) - limit
        text = f"{text[:limit]}…[+{rest:,} chars]"
    return text


def plain(value: Any) -> str:
    """``value`` as text, not yet made safe: a string as it is, a dict or list as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return orjson.dumps(value).decode()
    return str(value)


def style(text: str, color: bool, **kw: Any) -> str:
    """``text`` in click's style ``kw`` with ``color``, else as it is."""
    return click.style(text, **kw) if color else text


def write_bytes(data: bytes) -> None:
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
    data = _redact.scrub_json(data, numbers=numbers)
    option = orjson.OPT_INDENT_2 if indent else 0
    try:
        encoded = orjson.dumps(data, option=option, default=str)
    except TypeError:  # a str holding surrogate escapes: replace them, keep the rest exact
        encoded = orjson.dumps(_valid(data), option=option, default=str)
    write_bytes(json_safe(encoded))


def _valid(data: Any) -> Any:
    if isinstance(data, str):
        return data.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if isinstance(data, dict):
        return {_valid(k): _valid(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_valid(v) for v in data]
    return data
