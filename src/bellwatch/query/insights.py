"""CloudWatch Logs Insights queries, evaluated locally (stub: interface only)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["Query", "QueryError", "parse"]


class QueryError(ValueError):
    """An invalid query; ``pos`` is the 0-based offset of the problem."""

    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(f"{message} (at position {pos})")
        self.pos = pos


class Query:
    """A parsed Logs Insights query."""

    text: str

    def run(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run over parsed events carrying ``@timestamp`` (ms), ``@message``, ``@log``..."""
        raise NotImplementedError

    def fields_needed(self) -> set[str] | None:
        """Fields the query reads, or None when it needs every field."""
        raise NotImplementedError


def parse(text: str) -> Query:
    """Parse a Logs Insights query; raises :class:`QueryError`."""
    raise NotImplementedError
