"""What the CloudWatch source hands back of a Logs Insights query: values typed as the
local engine types them, and only the rows holding a field the query asked for."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bellwatch.schema import FIELDS
from bellwatch.sources.base import TIMESTAMP

__all__ = ["insights_value", "with_requested_fields"]

_INT = re.compile(r"-?(0|[1-9]\d{0,17})")
_FLOAT = re.compile(r"-?(0|[1-9]\d*)\.\d+")
# Schema fields that are text even when they look like numbers (an all-digit error hash).
_TEXT_FIELDS = frozenset(f.key for f in FIELDS if f.type == "str")
_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}")


def insights_value(field: str, value: str) -> Any:
    """An Insights value (always text) as the local engine has it: numbers, epoch ms."""
    # Insights returns every value as text; give back numbers, and @timestamp as epoch ms,
    # as the local engine does, so the CLI renders both alike.
    if field == TIMESTAMP and _STAMP.fullmatch(value):
        stamp = datetime.strptime(value + "+0000", "%Y-%m-%d %H:%M:%S.%f%z")
        return int(stamp.timestamp() * 1000)
    if field in _TEXT_FIELDS:
        return value
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    return value


def with_requested_fields(
    rows: list[dict[str, Any]], query_text: str, warnings: list[str]
) -> list[dict[str, Any]]:
    """The rows holding at least one of the query's result columns; the others are
    counted in ``warnings``, never turned into rows of nulls.

    CloudWatch leaves out of a row the fields that have no value there, so a row with
    none of the requested fields carries nothing the query asked for (an emulator
    such as moto, which does not run Insights, returns the raw events this way).
    """
    columns = _result_columns(query_text)
    if not columns or not rows:
        return rows
    kept = [row for row in rows if not columns.isdisjoint(row)]
    skipped = len(rows) - len(kept)
    if skipped:
        asked = ", ".join(sorted(columns)[:6]) + (", ..." if len(columns) > 6 else "")
        warnings.append(
            f"skipped {skipped:,} of {len(rows):,} Logs Insights rows holding none of "
            f"the query's fields ({asked})"
        )
    return kept


def _result_columns(query_text: str) -> frozenset[str]:
    """The columns ``query_text`` returns, as the local engine parses it (empty when it
    cannot: CloudWatch may accept what the local engine does not, and then nothing is
    skipped)."""
    from ..query.insights import QueryError, parse

    try:
        return frozenset(parse(query_text).columns)
    except QueryError:
        return frozenset()
