"""Filter pattern scanning: quoted strings, ``%regex%`` bodies, condition tokens, PatternError.

Shared by the three pattern kinds; the quota of ``%regex%`` per JSON or space-delimited
pattern is counted here.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
# Characters the AWS regex syntax accepts inside %...% (no parentheses, no multi-byte).
_REGEX_OK = re.compile(r"[A-Za-z0-9_#=@/;,:\-^$?\[\]{}|\\*+. ]*\Z")
_OPS = ("!=", ">=", "<=", "=", ">", "<")
_MAX_REGEXES = 2


class PatternError(ValueError):
    """An invalid filter pattern; ``pos`` is the 0-based offset of the problem."""

    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(f"{message} (at position {pos})")
        self.pos = pos


# Raised from several private modules but documented, imported and caught as
# bellwatch.query.filterpattern.PatternError: name that home in reprs, tracebacks and pickles.
PatternError.__module__ = "bellwatch.query.filterpattern"


def _regex(body: str, pos: int) -> re.Pattern[str]:
    if not _REGEX_OK.match(body):
        raise PatternError("regex may hold only letters, digits, _#=@/;,:- and ^$?[]{}|\\*+.", pos)
    try:
        return re.compile(body)
    except re.error as exc:
        raise PatternError(f"invalid regex: {exc}", pos) from None


def _quoted(text: str, i: int, offset: int) -> tuple[str, int]:
    """Read a double-quoted string starting at ``text[i] == '"'``; backslash escapes."""
    out: list[str] = []
    j = i + 1
    while j < len(text):
        ch = text[j]
        if ch == "\\" and j + 1 < len(text):
            out.append(text[j + 1])
            j += 2
            continue
        if ch == '"':
            return "".join(out), j + 1
        out.append(ch)
        j += 1
    raise PatternError("unterminated quoted string", offset + i)


class _Tokens:
    """A tiny scanner over the inside of a JSON pattern."""

    _TOKEN = re.compile(
        r"\s*(?:(?P<sel>\$(?:\.\*|\.[A-Za-z0-9_-]+|\.?\[(?:\*|\d+|'(?:[^'\\]|\\.)*'"
        r'|"(?:[^"\\]|\\.)*")\])*)|(?P<op>&&|\|\||!=|>=|<=|=|>|<|\(|\))'
        r'|(?P<str>")|(?P<re>%)|(?P<word>[^\s()&|=<>!"]+))'
    )

    def __init__(self, text: str, offset: int, regexes: list[int] | None = None) -> None:
        self.text = text
        self.offset = offset
        self.i = 0
        # Shared by every field of one pattern: AWS allows 2 regexes per JSON or
        # space-delimited pattern ("Quotas" on the filter pattern syntax page).
        self.regexes = regexes if regexes is not None else [0]

    def peek(self) -> tuple[str, str, int]:
        m = self._TOKEN.match(self.text, self.i)
        if m is None:
            rest = self.text[self.i :]
            if not rest.strip():
                return ("end", "", self.offset + len(self.text))
            pos = self.i + len(rest) - len(rest.lstrip())
            raise PatternError(f"unexpected {self.text[pos]!r}", self.offset + pos)
        kind = m.lastgroup or "end"
        return (kind, m.group(kind), self.offset + m.start(kind))

    def take(self) -> tuple[str, str, int]:
        kind, value, pos = self.peek()
        if kind == "str":
            value, end = _quoted(self.text, pos - self.offset, self.offset)
            self.i = end
            return ("str", value, pos)
        if kind == "re":
            end = self.text.find("%", pos - self.offset + 1)
            if end < 0:
                raise PatternError("unterminated %regex%", pos)
            self.regexes[0] += 1
            if self.regexes[0] > _MAX_REGEXES:
                raise PatternError(f"at most {_MAX_REGEXES} %regex% in one pattern", pos)
            self.i = end + 1
            return ("re", self.text[pos - self.offset + 1 : end], pos)
        self.i = pos - self.offset + len(value)
        return (kind, value, pos)
