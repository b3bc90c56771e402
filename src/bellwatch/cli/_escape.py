"""What a terminal would act on, and how it is written instead: as visible escapes in
text (:func:`escape`), as JSON ``\\u`` escapes in JSON (:func:`json_safe`).

Escaped: C0 and C1 control characters, DEL, Unicode format characters (bidirectional
overrides and isolates, zero-width marks), line and paragraph separators, and bytes
that were not UTF-8 (kept by ``surrogateescape``). :func:`._safe.safe_text` is the
text gate that uses it.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["dangerous", "escape", "json_safe"]

_ESCAPED = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_NOT_PLAIN_ASCII = re.compile("[^\x00-\x7e]+")  # DEL and beyond: what json_safe inspects


def dangerous(ch: str) -> bool:
    """Whether a terminal could act on ``ch`` (see the module docstring)."""
    return unicodedata.category(ch) in _ESCAPED


def escape(ch: str) -> str:
    """``ch`` as visible text: ``\\t``, ``\\x1b``, ``\\u202e``, ``\\xff`` for a raw byte."""
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def json_safe(encoded: bytes) -> bytes:
    """JSON text with every character :func:`dangerous` finds written as ``\\uXXXX``.

    The JSON means the same (a parser reads the same strings back), but a terminal or a
    pager shown it acts on nothing: bidi overrides, zero-width marks, C1 controls, DEL,
    line separators. JSON already escapes C0 controls. Outside strings JSON allows only
    ASCII whitespace, so every such character is inside a string, where an escape is
    valid. Bytes that were not UTF-8 are left as they are.
    """
    if encoded.isascii() and b"\x7f" not in encoded:
        return encoded  # the common case: nothing to look at
    text = encoded.decode("utf-8", "surrogateescape")
    return _NOT_PLAIN_ASCII.sub(_escape_run, text).encode("utf-8", "surrogateescape")


def _escape_run(match: re.Match[str]) -> str:
    return "".join(_json_escape(ch) if dangerous(ch) else ch for ch in match.group())


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if 0xD800 <= code <= 0xDFFF:  # a byte kept by surrogateescape: stays a byte
        return ch
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000  # JSON writes an astral character as its UTF-16 surrogate pair
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
