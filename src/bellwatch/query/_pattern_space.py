"""Space-delimited patterns: ``[ip, user, ..., status = 4*, bytes > 1000]``."""

from __future__ import annotations

from collections.abc import Callable

from bellwatch.query._pattern_lexer import _NAME, _OPS, PatternError, _quoted, _Tokens
from bellwatch.query._pattern_values import _all, _any, _Pred, _value_test

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
