"""JSON patterns: ``{ $.selector op value && ... }`` over the parsed event."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from bellwatch.query._pattern_lexer import _OPS, PatternError, _Tokens
from bellwatch.query._pattern_values import _all, _any, _Pred, _value_test

_MISSING: Any = object()
_ANY: Any = object()  # a `*` step: every property of an object, every element of an array
# One step after `$`: `.name`, `.*`, `[0]`, `[*]`, or a bracketed key (`['cluster.name']`,
# `["a b"]`) for names that hold dots, spaces or other symbols; `.` before `[` is optional.
_STEP = re.compile(
    r"\.\*|\.([A-Za-z0-9_-]+)|\.?\[(?:(\*)|(\d+)|'((?:[^'\\]|\\.)*)'|\"((?:[^\"\\]|\\.)*)\")\]"
)


class _Many:
    """The values a wildcard selector found (``$.*``, ``$.a[*]``): a condition holds when
    it holds for any of them."""

    __slots__ = ("values",)

    def __init__(self, values: list[Any]) -> None:
        self.values = values


def _json_event(message: str, event: Mapping[str, Any] | None) -> Any:
    if event is not None:
        return event
    try:
        return orjson.loads(message)
    except orjson.JSONDecodeError:
        return None


def _scalar(value: Any) -> Any:
    # "If a property selector points to an array or object, the metric filter won't match."
    if isinstance(value, _Many):
        return next((v for v in value.values if not isinstance(v, dict | list)), _MISSING)
    return _MISSING if isinstance(value, dict | list) else value


def _steps(text: str, pos: int) -> list[str | int]:
    steps: list[Any] = []
    i = 1
    while i < len(text):
        m = _STEP.match(text, i)
        if m is None:
            raise PatternError(f"unexpected {text[i]!r} in selector", pos + i)
        name, star, index, single, double = m.groups()
        if m.group() == ".*" or star:
            steps.append(_ANY)
        elif name is not None:
            steps.append(name)
        elif index is not None:
            steps.append(int(index))
        else:
            key = single if single is not None else double
            steps.append(re.sub(r"\\(.)", r"\1", key))
        i = m.end()
    if not steps:
        raise PatternError("selector needs a property, e.g. $.status", pos)
    return steps


def _selector(text: str, pos: int) -> Callable[[Any], Any]:
    """``$.a.b[0].c``, ``$.*``, ``$.a[*]``, ``$.['x.y']`` -> a getter returning the value,
    ``_MISSING``, or for a wildcard selector a :class:`_Many` of the values found."""
    path = tuple(_steps(text, pos))
    if len(path) == 1 and isinstance(path[0], str):  # `$.status`: one dict lookup
        key = path[0]
        return lambda doc: doc.get(key, _MISSING) if isinstance(doc, dict) else _MISSING
    if any(step is _ANY for step in path):
        return lambda doc: _Many(_walk_all(doc, path))

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


def _walk_all(doc: Any, path: tuple[Any, ...]) -> list[Any]:
    found = [doc]
    for step in path:
        after: list[Any] = []
        for node in found:
            if step is _ANY:
                if isinstance(node, dict):
                    after.extend(node.values())
                elif isinstance(node, list):
                    after.extend(node)
            elif isinstance(step, str):
                if isinstance(node, dict) and step in node:
                    after.append(node[step])
            elif isinstance(node, list) and step < len(node):
                after.append(node[step])
        found = after
    return found


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
            return lambda doc: _absent(get(doc))
        if keyword == "IS" and word in ("NULL", "TRUE", "FALSE"):
            want = {"NULL": None, "TRUE": True, "FALSE": False}[word]
            return lambda doc: _is(get(doc), want)
        raise PatternError("expected IS NULL, IS TRUE, IS FALSE or NOT EXISTS", pos2)
    if kind != "op" or value not in _OPS:
        raise PatternError("expected a comparison operator", pos)
    test = _value_test(value, toks.take())

    def cond(doc: Any) -> bool:
        found = get(doc)
        if isinstance(found, _Many):
            return any(not isinstance(v, dict | list) and test(v) for v in found.values)
        if found is _MISSING or isinstance(found, dict | list):
            return False
        return test(found)

    return cond


def _absent(found: Any) -> bool:
    return not found.values if isinstance(found, _Many) else found is _MISSING


def _is(found: Any, want: Any) -> bool:
    if isinstance(found, _Many):
        return any(v is want for v in found.values)
    return found is want
