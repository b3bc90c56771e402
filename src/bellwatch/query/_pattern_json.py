"""JSON patterns: ``{ $.selector op value && ... }`` over the parsed event."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from bellwatch.query._pattern_lexer import _NAME, _OPS, PatternError, _Tokens
from bellwatch.query._pattern_values import _all, _any, _Pred, _value_test

_MISSING: Any = object()


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
            if end < 0 or not (text[i + 1 : end].isascii() and text[i + 1 : end].isdigit()):
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
