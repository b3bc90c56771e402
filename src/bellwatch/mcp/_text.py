"""Log text as data: escaped, quoted, cut, and made safe for an assistant to read.

Everything an MCP reply quotes from a log goes through :func:`value` (structured
content) and :func:`cell` (the text rows). A value can never end a line, start a
Markdown heading, hide behind a bidirectional override or carry a terminal escape:
C0 and C1 control characters, DEL, Unicode format characters, line and paragraph
separators and bytes that were not UTF-8 are written as visible escapes (``\\n``,
``\\x1b``, ``\\u202e``), the rules of the CLI's own gate. In the text rows any value
that is not a plain token (an id, a route, a number) is a JSON string literal, so
free text reads as a quotation, never as the reply's own words.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import orjson

from ..timeparse import format_ms

__all__ = ["TEXT_MAX", "cell", "clip", "escape", "stamp", "value"]

TEXT_MAX = 300
"""Characters of one value a reply shows before cutting it with a marker."""
_ESCAPED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
# A value shown bare in a text row: an id, a hash, a route template, a word, a number.
_PLAIN = re.compile(r"[A-Za-z0-9_.:/{}@+=<>*%-]{1,80}")


def _escape_char(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def escape(text: str, *, json: bool = False) -> str:
    """``text`` with every character a reader could act on written as a visible escape.

    ``json``: leave C0 controls (newline, ESC...) as they are, for text JSON will carry:
    a JSON string writes those as escapes itself, but not DEL, C1 or format characters.
    """
    if text.isprintable():
        return text
    return "".join(
        _escape_char(ch)
        if unicodedata.category(ch) in _ESCAPED and not (json and ord(ch) < 0x20)
        else ch
        for ch in text
    )


def clip(text: str, limit: int = TEXT_MAX) -> str:
    """``text`` cut to ``limit`` characters, ending ``…[+N chars]`` when cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…[+{len(text) - limit:,} chars]"


def stamp(ms: Any) -> str | None:
    """Epoch milliseconds as ``2026-11-27T02:03:35Z`` (UTC, to the second)."""
    if not isinstance(ms, int) or isinstance(ms, bool):
        return None
    return format_ms(ms)[:19] + "Z"


def value(item: Any, limit: int = TEXT_MAX) -> Any:
    """A JSON-ready value with its text escaped and cut (lists and objects too)."""
    if isinstance(item, str):
        return clip(escape(item, json=True), limit)
    if isinstance(item, float):
        return round(item, 4)
    if isinstance(item, dict):
        return {escape(str(k), json=True): value(v, limit) for k, v in item.items()}
    if isinstance(item, list | tuple | set | frozenset):
        return [value(v, limit) for v in item]
    return item


def cell(item: Any, limit: int = TEXT_MAX) -> str:
    """One value in a text row: plain tokens bare, free text as a JSON string literal,
    lists joined with ``;`` (quoted whole when an item is not plain), nothing as ``-``."""
    if item is None:
        return "-"
    if isinstance(item, bool):
        return "true" if item else "false"
    if isinstance(item, int):
        return str(item)
    if isinstance(item, float):
        return f"{item:.4g}" if abs(item) < 1e6 else f"{item:.0f}"
    if isinstance(item, list | tuple):
        parts = [cell(v, limit) for v in item]
        if all(_PLAIN.fullmatch(p) for p in parts):
            return ";".join(parts) or "-"
        if all(isinstance(v, str) for v in item):
            return _quote(";".join(item), limit)
        return "[" + "], [".join(parts) + "]"  # records or pairs: each already safe
    if isinstance(item, dict):  # k=v pairs, each value a cell: no bare comma, no newline
        pairs = " ".join(f"{cell(str(k), 60)}={cell(v, limit)}" for k, v in item.items())
        return clip(pairs, limit * 2) if pairs else "-"
    text = str(item)
    if _PLAIN.fullmatch(text):
        return text
    return _quote(text, limit)


def _quote(text: str, limit: int) -> str:
    # JSON escapes quotes, backslashes and C0 controls; escape() then makes the rest
    # (DEL, C1, format characters, separators) visible; other non-ASCII text stays readable.
    return escape(orjson.dumps(clip(text, limit)).decode())
