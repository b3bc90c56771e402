"""The Logs Insights scanner: tokens, ``/regex/`` literals, quoted strings, QueryError."""

from __future__ import annotations

import re


class QueryError(ValueError):
    """An invalid query; ``pos`` is the 0-based offset of the problem."""

    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(f"{message} (at position {pos})")
        self.pos = pos


# Raised from several private modules but documented, imported and caught as
# bellwatch.query.insights.QueryError: name that home in reprs, tracebacks and pickles.
QueryError.__module__ = "bellwatch.query.insights"


_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<period>\d+(?:\.\d+)?(?![eE][+-]?\d)[A-Za-z]+)"
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_@$][A-Za-z0-9_@$.]*)"
    r"|(?P<bq>`[^`]*`)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<op>=~|!=|<=|>=|[=<>+\-*/%^(),\[\]|])"
)
_ESCAPES = re.compile(r"\\(.)")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._peeked: tuple[str, str, int] | None = None

    def peek(self) -> tuple[str, str, int]:
        if self._peeked is None:
            self._peeked = self._scan()
        return self._peeked

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        self._peeked = None
        return tok

    def _scan(self) -> tuple[str, str, int]:
        while True:
            if self.pos >= len(self.text):
                return ("end", "", len(self.text))
            m = _TOKEN.match(self.text, self.pos)
            if m is None:
                raise QueryError(f"unexpected {self.text[self.pos]!r}", self.pos)
            self.pos = m.end()
            kind = m.lastgroup or "ws"
            if kind != "ws":
                return (kind, m.group(), m.start())

    def regex(self) -> tuple[re.Pattern[str], int]:
        """Read ``/regex/`` at the next token; ``(?<name>`` becomes Python's ``(?P<name>``."""
        start = self.peek()[2]
        self._peeked = None
        if not self.text.startswith("/", start):
            raise QueryError("expected /regex/", start)
        i = start + 1
        while i < len(self.text) and self.text[i] != "/":
            i += 2 if self.text[i] == "\\" else 1
        if i >= len(self.text):
            raise QueryError("unterminated /regex/", start)
        self.pos = i + 1
        body = self.text[start + 1 : i].replace("\\/", "/")
        return _compile_regex(body, start), start


def _compile_regex(body: str, pos: int) -> re.Pattern[str]:
    flags = 0
    if "(?i)" in body:  # Python only accepts global flags at the very start
        body, flags = body.replace("(?i)", ""), re.IGNORECASE
    body = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", body)
    try:
        return re.compile(body, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise QueryError(f"invalid regex: {exc}", pos) from None


def _unquote(tok: str) -> str:
    return _ESCAPES.sub(r"\1", tok[1:-1])
