"""CloudWatch Logs filter patterns, evaluated locally with CloudWatch's documented semantics.

The same pattern string works in ``aws logs filter-log-events``, metric filters and
subscription filters, so a pattern can be tried here against local JSONL files first.
Three kinds, chosen by the first character (AWS page "Filter pattern syntax for metric
filters, subscription filters, filter log events, and Live Tail"):

- terms: ``ERROR``, ``"exact phrase"``, ``?OR ?terms``, ``-excluded``; case-sensitive
  substring matches; terms with symbols must be quoted (``"/api/users"``), as in
  CloudWatch; an unquoted ``%regex%`` is a regex term.
- JSON: ``{ $.status >= 500 && ($.path = "/api/*" || $.uid IS NULL) }`` with ``=``,
  ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``*`` wildcards, ``%regex%``, ``IS NULL``,
  ``IS TRUE``, ``IS FALSE``, ``NOT EXISTS``, array indexes and precedence ``() > && > ||``.
- space-delimited: ``[ip, user, ..., status_code = 4*, bytes > 1000]``; ``...`` skips
  any number of fields, ``"quoted"`` and ``[bracketed]`` text is one field, the last
  field takes the rest of the line, ``&&``/``||`` combine conditions on one field.

Everything is decided in :func:`compile`: matching runs prebuilt closures, never a
regex built per call.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import orjson

__all__ = ["Matcher", "PatternError", "compile"]

Kind = Literal["terms", "json", "space"]
_Pred = Callable[[Any], bool]
_MISSING: Any = object()

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_NAME = re.compile(r"[A-Za-z0-9_-]+")
_WORD = re.compile(r"\w+")
# Characters the AWS regex syntax accepts inside %...% (no parentheses, no multi-byte).
_REGEX_OK = re.compile(r"[A-Za-z0-9_#=@/;,:\-^$?\[\]{}|\\*+. ]*\Z")
_OPS = ("!=", ">=", "<=", "=", ">", "<")
_MAX_REGEXES = 2


class PatternError(ValueError):
    """An invalid filter pattern; ``pos`` is the 0-based offset of the problem."""

    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(f"{message} (at position {pos})")
        self.pos = pos


class Matcher:
    """A compiled filter pattern: call :meth:`match` once per log line."""

    __slots__ = ("_extract", "_metric", "_pred", "kind", "pattern")

    def __init__(
        self,
        pattern: str,
        kind: Kind,
        pred: Callable[[str, Mapping[str, Any] | None], bool],
        extract: Callable[[str, Mapping[str, Any] | None], Any],
        metric: str,
    ) -> None:
        self.pattern = pattern
        self.kind: Kind = kind
        self._pred = pred
        self._extract = extract
        self._metric = metric

    def __repr__(self) -> str:
        return f"Matcher({self.pattern!r}, kind={self.kind!r})"

    def match(self, message: str, event: Mapping[str, Any] | None = None) -> bool:
        """True when the raw line ``message`` matches.

        ``event`` is the already-parsed JSON object of the line when the caller has
        it; JSON patterns then skip re-parsing. Never raises on odd input.
        """
        return self._pred(message, event)

    def value(self, message: str, event: Mapping[str, Any] | None = None) -> float | None:
        """The value a metric filter with this pattern publishes for the line, or None.

        None when the line does not match, or when the metric value selector
        (``$.duration`` for JSON, ``$bytes`` for space-delimited) is missing or not
        numeric: CloudWatch publishes nothing for such an event.
        """
        if not self._pred(message, event):
            return None
        raw = self._extract(message, event)
        return _to_number(raw)


def compile(pattern: str, metric_value: str = "1") -> Matcher:
    """Compile a CloudWatch Logs filter pattern; raises :class:`PatternError`.

    ``metric_value`` is the metric filter's ``metricValue``: a number, ``$.selector``
    (JSON patterns) or ``$field`` (space-delimited patterns); see :meth:`Matcher.value`.
    """
    text = pattern.strip()
    offset = len(pattern) - len(pattern.lstrip())
    align: Callable[[str], dict[str, str] | None] | None = None
    if text.startswith("{"):
        kind: Kind = "json"
        pred = _compile_json(text, offset)
    elif text.startswith("["):
        kind = "space"
        align = _compile_space(text, offset)
        pred = lambda message, event: align(message) is not None  # noqa: E731 - tiny closure
    else:
        kind = "terms"
        pred = _compile_terms(text, offset)
    extract = _compile_metric(metric_value, kind, align)
    return Matcher(pattern, kind, pred, extract, metric_value)


# ---------------------------------------------------------------- values


def _to_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | float) and not (
        isinstance(value, str) and _NUMBER.match(value.strip())
    ):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _regex(body: str, pos: int) -> re.Pattern[str]:
    if not _REGEX_OK.match(body):
        raise PatternError("regex may hold only letters, digits, _#=@/;,:- and ^$?[]{}|\\*+.", pos)
    try:
        return re.compile(body)
    except re.error as exc:
        raise PatternError(f"invalid regex: {exc}", pos) from None


def _glob(text: str) -> re.Pattern[str]:
    # Runs of * are one wildcard; `.*.*` would only add backtracking.
    parts = re.sub(r"\*+", "*", text).split("*")
    return re.compile(".*".join(re.escape(part) for part in parts), re.S)


def _compile_metric(
    spec: str, kind: Kind, align: Callable[[str], dict[str, str] | None] | None
) -> Callable[[str, Mapping[str, Any] | None], Any]:
    spec = spec.strip()
    if _NUMBER.match(spec):
        constant = float(spec)
        return lambda message, event: constant
    if kind == "json" and spec.startswith("$."):
        getter = _selector(spec, 0)
        return lambda message, event: _scalar(getter(_json_event(message, event)))
    if align is not None and spec.startswith("$") and _NAME.fullmatch(spec[1:]):
        name = spec[1:]
        return lambda message, event: (align(message) or {}).get(name)
    raise PatternError(f"metric value must be a number or a selector, got {spec!r}", 0)


# ---------------------------------------------------------------- terms


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
        if quoted:
            term, i = _quoted(text, i, offset)
            if not term.strip():
                match_all = True  # the documented `" "` matches every event
                continue
        else:
            while i < len(text) and not text[i].isspace():
                i += 1
            term = text[start:i]
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


# ---------------------------------------------------------------- JSON


def _json_event(message: str, event: Mapping[str, Any] | None) -> Any:
    if event is not None:
        return event
    try:
        return orjson.loads(message)
    except orjson.JSONDecodeError:
        return None


def _scalar(value: Any) -> Any:
    # "If a property selector points to an array or object, the metric filter won't match."
    return _MISSING if isinstance(value, dict | list) else value


def _selector(text: str, pos: int) -> Callable[[Any], Any]:
    """``$.a.b[0].c`` -> a getter returning the value or ``_MISSING``."""
    steps: list[str | int] = []
    i = 1
    while i < len(text):
        if text[i] == ".":
            m = _NAME.match(text, i + 1)
            if not m:
                raise PatternError("expected a property name after '.'", pos + i + 1)
            steps.append(m.group())
            i = m.end()
        elif text[i] == "[":
            end = text.find("]", i)
            if end < 0 or not text[i + 1 : end].isdigit():
                raise PatternError("expected [index]", pos + i)
            steps.append(int(text[i + 1 : end]))
            i = end + 1
        else:
            raise PatternError(f"unexpected {text[i]!r} in selector", pos + i)
    if not steps:
        raise PatternError("selector needs a property, e.g. $.status", pos)
    path = tuple(steps)
    if len(path) == 1 and isinstance(path[0], str):  # `$.status`: one dict lookup
        key = path[0]
        return lambda doc: doc.get(key, _MISSING) if isinstance(doc, dict) else _MISSING

    def get(doc: Any) -> Any:
        for step in path:
            if isinstance(step, str):
                if not isinstance(doc, dict) or step not in doc:
                    return _MISSING
            elif not isinstance(doc, list) or step >= len(doc):
                return _MISSING
            doc = doc[step]
        return doc

    return get


class _Tokens:
    """A tiny scanner over the inside of a JSON pattern."""

    _TOKEN = re.compile(
        r"\s*(?:(?P<sel>\$[A-Za-z0-9_.\[\]-]*)|(?P<op>&&|\|\||!=|>=|<=|=|>|<|\(|\))"
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


def _compile_json(text: str, offset: int) -> Callable[[str, Mapping[str, Any] | None], bool]:
    if not text.endswith("}"):
        raise PatternError("JSON pattern must end with '}'", offset + len(text))
    toks = _Tokens(text[1:-1], offset + 1)
    depth = [0]

    def parse_or() -> _Pred:
        parts = [parse_and()]
        while toks.peek()[1] == "||":
            toks.take()
            parts.append(parse_and())
        return parts[0] if len(parts) == 1 else _any(parts)

    def parse_and() -> _Pred:
        parts = [parse_unary()]
        while toks.peek()[1] == "&&":
            toks.take()
            parts.append(parse_unary())
        return parts[0] if len(parts) == 1 else _all(parts)

    def parse_unary() -> _Pred:
        kind, value, pos = toks.take()
        if value == "(":
            depth[0] += 1
            if depth[0] > 50:
                raise PatternError("too deeply nested", pos)
            inner = parse_or()
            if toks.take()[1] != ")":
                raise PatternError("expected ')'", pos)
            depth[0] -= 1
            return inner
        if kind != "sel":
            raise PatternError("expected a selector like $.field", pos)
        return _json_condition(_selector(value, pos), toks)

    pred = parse_or()
    kind, value, pos = toks.peek()
    if kind != "end":
        raise PatternError(f"unexpected {value!r}", pos)

    def match(message: str, event: Mapping[str, Any] | None) -> bool:
        doc = _json_event(message, event)
        return isinstance(doc, dict) and pred(doc)

    return match


def _json_condition(get: Callable[[Any], Any], toks: _Tokens) -> _Pred:
    kind, value, pos = toks.take()
    if kind == "word" and value.upper() in ("IS", "NOT"):
        keyword = value.upper()
        _, value2, pos2 = toks.take()
        word = value2.upper()
        if keyword == "NOT" and word == "EXISTS":
            return lambda doc: get(doc) is _MISSING
        if keyword == "IS" and word in ("NULL", "TRUE", "FALSE"):
            want = {"NULL": None, "TRUE": True, "FALSE": False}[word]
            return lambda doc: get(doc) is want
        raise PatternError("expected IS NULL, IS TRUE, IS FALSE or NOT EXISTS", pos2)
    if kind != "op" or value not in _OPS:
        raise PatternError("expected a comparison operator", pos)
    test = _value_test(value, toks.take())

    def cond(doc: Any) -> bool:
        found = get(doc)
        if found is _MISSING or isinstance(found, dict | list):
            return False
        return test(found)

    return cond


def _value_test(op: str, token: tuple[str, str, int]) -> _Pred:
    """A predicate on one JSON or space-delimited value for ``op`` and a literal token."""
    kind, text, pos = token
    if kind == "re":
        search = _regex(text, pos).search
        if op not in ("=", "!="):
            raise PatternError("a %regex% needs = or !=", pos)
        hit: _Pred = lambda v: v is not None and search(_text(v)) is not None  # noqa: E731 - tiny closure
        return hit if op == "=" else (lambda v: v is not None and not hit(v))
    if kind not in ("str", "word"):
        raise PatternError("expected a value", pos)
    number = float(text) if kind == "word" and _NUMBER.match(text) else None
    if op in (">", "<", ">=", "<="):
        if number is None:
            raise PatternError(f"{op} needs a number", pos)
        return _numeric(op, number)
    if number is not None:
        eq: _Pred = _number_equals(number, text)
    elif "*" in text:
        full = _glob(text).fullmatch
        eq = lambda v: v is not None and full(_text(v)) is not None  # noqa: E731 - tiny closure
    else:
        eq = lambda v: v is not None and _text(v) == text  # noqa: E731 - tiny closure
    return eq if op == "=" else (lambda v: v is not None and not eq(v))


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value if isinstance(value, str) else str(value)


def _number_equals(number: float, literal: str) -> _Pred:
    def eq(value: Any) -> bool:
        found = _to_number(value)
        if found is not None:
            return found == number
        return isinstance(value, str) and value == literal

    return eq


def _numeric(op: str, number: float) -> _Pred:
    compare: Callable[[float], bool] = {
        ">": lambda x: x > number,
        "<": lambda x: x < number,
        ">=": lambda x: x >= number,
        "<=": lambda x: x <= number,
    }[op]

    def test(value: Any) -> bool:
        if type(value) is int or type(value) is float:  # JSON numbers: skip the conversions
            return compare(value)
        found = _to_number(value)
        return found is not None and compare(found)

    return test


def _any(parts: Sequence[_Pred]) -> _Pred:
    if len(parts) == 2:  # the common case, without a generator per call
        a, b = parts
        return lambda doc: a(doc) or b(doc)
    return lambda doc: any(p(doc) for p in parts)


def _all(parts: Sequence[_Pred]) -> _Pred:
    if len(parts) == 2:
        a, b = parts
        return lambda doc: a(doc) and b(doc)
    return lambda doc: all(p(doc) for p in parts)


# ---------------------------------------------------------------- space-delimited

_ELLIPSIS = "..."


def _split_fields(line: str) -> list[str]:
    """Split a log line on spaces; ``"..."`` and ``[...]`` groups are one field, unwrapped."""
    out: list[str] = []
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch.isspace():
            i += 1
            continue
        close = '"' if ch == '"' else "]" if ch == "[" else ""
        if close:
            end = line.find(close, i + 1)
            if end >= 0:
                out.append(line[i + 1 : end])
                i = end + 1
                continue
        j = i
        while j < n and not line[j].isspace():
            j += 1
        out.append(line[i:j])
        i = j
    return out


def _compile_space(text: str, offset: int) -> Callable[[str], dict[str, str] | None]:
    """The pattern as a function: log line -> extracted ``{field: text}`` or None."""
    if not text.endswith("]"):
        raise PatternError("space-delimited pattern must end with ']'", offset + len(text))
    body = text[1:-1]
    items: list[tuple[str, _Pred | None]] = []  # (name, condition) or (_ELLIPSIS, None)
    regexes = [0]
    for part, start in _split_commas(body, offset + 1):
        stripped = part.strip()
        pos = start + len(part) - len(part.lstrip())
        if not stripped:
            raise PatternError("empty field", pos)
        if stripped == _ELLIPSIS:
            items.append((_ELLIPSIS, None))
            continue
        items.append(_space_field(stripped, pos, regexes))
    if not items:
        raise PatternError("space-delimited pattern needs at least one field", offset)
    plan = tuple(items)

    def align(message: str) -> dict[str, str] | None:
        return _align(plan, _split_fields(message), 0, 0, {})

    return align


def _align(
    plan: tuple[tuple[str, _Pred | None], ...],
    tokens: list[str],
    p: int,
    t: int,
    bound: dict[str, str],
) -> dict[str, str] | None:
    """Assign tokens to pattern fields: ``...`` takes 0+ (greedy), the last field the rest."""
    if p == len(plan):
        return bound if t == len(tokens) else None
    name, cond = plan[p]
    if name == _ELLIPSIS:
        if p == len(plan) - 1:
            return bound
        for take in range(len(tokens) - t, -1, -1):
            found = _align(plan, tokens, p + 1, t + take, bound)
            if found is not None:
                return found
        return None
    if t >= len(tokens):
        return None
    value = " ".join(tokens[t:]) if p == len(plan) - 1 else tokens[t]
    end = len(tokens) if p == len(plan) - 1 else t + 1
    if cond is not None and not cond(value):
        return None
    found = _align(plan, tokens, p + 1, end, {**bound, name: value})
    return found


def _split_commas(body: str, offset: int) -> list[tuple[str, int]]:
    parts: list[tuple[str, int]] = []
    start, i, n = 0, 0, len(body)
    while i < n:
        ch = body[i]
        if ch == '"':
            _, i = _quoted(body, i, offset)
            continue
        if ch == "%":
            end = body.find("%", i + 1)
            if end < 0:
                raise PatternError("unterminated %regex%", offset + i)
            i = end + 1
            continue
        if ch == ",":
            parts.append((body[start:i], offset + start))
            start = i + 1
        i += 1
    parts.append((body[start:], offset + start))
    return parts


def _space_field(text: str, pos: int, regexes: list[int]) -> tuple[str, _Pred | None]:
    m = _NAME.match(text)
    if m is None:
        raise PatternError("expected a field name", pos)
    name = m.group()
    if m.end() == len(text):
        return name, None
    toks = _Tokens(text, pos, regexes)
    pred = _space_or(toks, name)
    kind, value, where = toks.peek()
    if kind != "end":
        raise PatternError(f"unexpected {value!r}", where)
    return name, pred


def _space_or(toks: _Tokens, name: str) -> _Pred:
    parts = [_space_and(toks, name)]
    while toks.peek()[1] == "||":
        toks.take()
        parts.append(_space_and(toks, name))
    return parts[0] if len(parts) == 1 else _any(parts)


def _space_and(toks: _Tokens, name: str) -> _Pred:
    parts = [_space_cond(toks, name)]
    while toks.peek()[1] == "&&":
        toks.take()
        parts.append(_space_cond(toks, name))
    return parts[0] if len(parts) == 1 else _all(parts)


def _space_cond(toks: _Tokens, name: str) -> _Pred:
    kind, value, pos = toks.take()
    # Conditions after || or && repeat the field name (`status = 404 || status = 410`);
    # the AWS page itself writes `W1` for `w1`, so the repeated name is not checked.
    if kind == "word" and _NAME.fullmatch(value) and toks.peek()[0] == "op":
        kind, value, pos = toks.take()
    if kind != "op" or value not in _OPS:
        raise PatternError("expected a comparison operator", pos)
    return _value_test(value, toks.take())
