"""Term patterns: ``ERROR``, ``"exact phrase"``, ``?either ?or``, ``-excluded``, ``%regex%``.

Required terms must all appear, ``-`` terms must not, and of the ``?`` terms at least one
must (when there are any); all are case-sensitive substrings of the raw line. An
unquoted ``%...%`` is a regex searched in the line and runs to its closing ``%``, so it
may hold spaces.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from bellwatch.query._pattern_lexer import PatternError, _quoted, _regex

_WORD = re.compile(r"\w+")


def _term(text: str, i: int, offset: int) -> tuple[str, int]:
    """The term starting at ``text[i]`` (a quoted phrase unquoted) and where it ends."""
    if text[i] == '"':
        return _quoted(text, i, offset)
    close = text.find("%", i + 1) if text[i] == "%" else -1
    if close > i + 1:
        # %regex% reaches its closing %, spaces included (`%ERROR 40[0-9]%`)
        return text[i : close + 1], close + 1
    end = i
    while end < len(text) and not text[end].isspace():
        end += 1
    return text[i:end], end


def _compile_terms(text: str, offset: int) -> Callable[[str, Mapping[str, Any] | None], bool]:
    required: list[str] = []
    optional: list[str] = []
    excluded: list[str] = []
    regexes: list[re.Pattern[str]] = []
    match_all = False
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        bucket = required
        if text[i] in "?-" and i + 1 < len(text) and not text[i + 1].isspace():
            bucket = optional if text[i] == "?" else excluded
            i += 1
        start = i
        quoted = text[i] == '"'
        term, i = _term(text, i, offset)
        if quoted and not term.strip():
            match_all = True  # the documented `" "` matches every event
            continue
        if quoted:
            bucket.append(term)
        elif len(term) > 2 and term[0] == term[-1] == "%" and bucket is required:
            regexes.append(_regex(term[1:-1], offset + start))
        elif _WORD.fullmatch(term):
            bucket.append(term)
        else:
            # The page: "Enclose exact phrases and terms that include non-alphanumeric
            # characters in double quotation marks"; CloudWatch rejects them unquoted.
            raise PatternError(
                f'quote terms with non-alphanumeric characters: "{term}"', start + offset
            )
    if match_all and not (required or optional or excluded or regexes):
        return lambda message, event: True
    req, opt, exc = tuple(required), tuple(optional), tuple(excluded)
    searches = tuple(r.search for r in regexes)

    def pred(message: str, event: Mapping[str, Any] | None) -> bool:
        for term in req:
            if term not in message:
                return False
        for term in exc:
            if term in message:
                return False
        for search in searches:
            if search(message) is None:
                return False
        if opt:
            return any(term in message for term in opt)
        return True

    return pred
