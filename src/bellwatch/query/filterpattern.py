"""CloudWatch Logs filter patterns, evaluated locally with CloudWatch's documented semantics.

The same pattern string works in ``aws logs filter-log-events``, metric filters and
subscription filters, so a pattern can be tried here against local JSONL files first.
Three kinds, chosen by the first character (AWS page "Filter pattern syntax for metric
filters, subscription filters, filter log events, and Live Tail"):

- terms: ``ERROR``, ``"exact phrase"``, ``?OR ?terms``, ``-excluded``; case-sensitive
  substring matches; terms with symbols must be quoted (``"/api/users"``), as in
  CloudWatch; an unquoted ``%regex%`` is a regex term, spaces included.
- JSON: ``{ $.status >= 500 && ($.path = "/api/*" || $.uid IS NULL) }`` with ``=``,
  ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``*`` wildcards, ``%regex%``, ``IS NULL``,
  ``IS TRUE``, ``IS FALSE``, ``NOT EXISTS``, array indexes, ``$.*`` and ``$.a[*]``
  (a condition holds when it holds for any value reached), bracketed keys
  (``$.['cluster.name']``) and precedence ``() > && > ||``.
- space-delimited: ``[ip, user, ..., status_code = 4*, bytes > 1000]``; ``...`` skips
  any number of fields, ``"quoted"`` and ``[bracketed]`` text is one field, the last
  field takes the rest of the line, ``&&``/``||`` combine conditions on one field.

Everything is decided in :func:`compile`: matching runs prebuilt closures, never a
regex built per call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from bellwatch.query._pattern_json import _compile_json, _json_event, _scalar, _selector
from bellwatch.query._pattern_lexer import _NAME, _NUMBER, PatternError
from bellwatch.query._pattern_space import _compile_space
from bellwatch.query._pattern_terms import _compile_terms
from bellwatch.query._pattern_values import _to_number

__all__ = ["Matcher", "PatternError", "compile"]

Kind = Literal["terms", "json", "space"]


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
