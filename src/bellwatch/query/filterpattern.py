"""CloudWatch Logs filter patterns, evaluated locally (stub: interface only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["Matcher", "PatternError", "compile"]


class PatternError(ValueError):
    """An invalid filter pattern; ``pos`` is the 0-based offset of the problem."""

    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(f"{message} (at position {pos})")
        self.pos = pos


class Matcher:
    """A compiled filter pattern."""

    kind: Literal["terms", "json", "space"]

    def match(self, message: str, event: Mapping[str, Any] | None = None) -> bool:
        """True when the raw line ``message`` (or its parsed JSON ``event``) matches."""
        raise NotImplementedError

    def value(self, message: str, event: Mapping[str, Any] | None = None) -> float | None:
        """The metric value a metric filter would publish for this line, or None."""
        raise NotImplementedError


def compile(pattern: str) -> Matcher:
    """Compile a CloudWatch Logs filter pattern; raises :class:`PatternError`."""
    raise NotImplementedError
