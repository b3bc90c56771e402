"""What a report returns: rows (or a digest) plus what the scan read, and paging."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .._guard import record_internal_error
from .._settings import Settings
from ..log.redact import MaskedRow, MaskedRows, redactor, scrub
from ..sources.base import ScanStats

__all__ = ["Digest", "Report", "answer", "masked", "page"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Report:
    """One report's answer: plain rows, the scan behind them, and where the next page starts.

    ``rows`` hold JSON-ready values (str, int, float, None, lists); times are epoch
    milliseconds and fractions are 0..1, so every caller renders them its own way.
    """

    rows: list[Row]
    stats: ScanStats
    """What was read to answer: records, text lines, skipped sources, bytes scanned."""
    next_cursor: str | None = None
    """Pass as ``cursor`` to get the rows after these; ``None`` when there are no more."""


@dataclass(frozen=True)
class Digest:
    """The ``summary`` report: a text within a token budget, and the facts it was made from."""

    text: str
    facts: dict[str, Any]
    stats: ScanStats = field(default_factory=ScanStats)


def masked(rows: list[Row], settings: Settings | None = None) -> list[Row]:
    """``rows`` with every secret masked, by key and by value, as a log line masks them:
    a new list, holding each plain row as it is and a masked copy of any other.

    Reports read logs that other programs or older versions wrote, so their values are
    masked here, where every reader (the CLI, the MCP server, the demo) gets them.
    ``settings`` bring the user's own secret keys (``redact_keys``).
    """
    try:
        r = redactor(settings)
        # Rows no rule would change (most rows of most reports) are kept as they are,
        # marked so: the CLI's own pass over what it prints skips them. Otherwise each
        # row is judged alone, and the others walked, at the depth scrub(rows) would.
        if r.plain_rows(rows):
            return MaskedRows(rows, r)
        return [
            MaskedRow(row, r)
            if r.plain(row)
            else r.value({k: _embedded(v, settings) for k, v in row.items()}, 1)
            for row in rows
        ]
    except Exception as exc:
        record_internal_error(exc)
        return []  # a row that cannot be masked: show nothing


def _embedded(value: Any, settings: Settings | None) -> Any:
    """A JSON object held as text (a log line's ``@message``), masked as JSON.

    Inside a line's text a string value is escaped once more: a message that itself
    holds ``{\\"password\\":...}`` is two escapes deep there, beyond the text rules.
    Masked as the object it is, every value is masked at its own depth; the text is
    kept byte for byte when nothing in it was secret.
    """
    if not (isinstance(value, str) and value.startswith("{") and value.endswith("}")):
        return value
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if not isinstance(parsed, dict):
        return value
    clean = scrub(parsed, settings)
    return value if clean == parsed else orjson.dumps(clean).decode()


def answer(rows: list[Row], stats: ScanStats, cursor: str | None = None) -> Report:
    """The :class:`Report` of ``rows``, masked (:func:`masked`)."""
    return Report(masked(rows), stats, cursor)


def page(
    rows: Sequence[Row], limit: int, cursor: str | None, *, more: bool = False
) -> tuple[list[Row], str | None]:
    """``limit`` rows from the position ``cursor`` names, and the cursor of the next page.

    A cursor is the offset of the first row as text: opaque to callers, stable for the
    same data (reports order their rows completely). ``more`` says rows may follow the
    last one given (a capped query that filled its cap).

    Raises:
        ValueError: the cursor is not one this function gave out.
    """
    start = _offset(cursor)
    end = start + max(int(limit), 0)
    chosen = list(rows[start:end])
    return chosen, (str(end) if (end < len(rows) or more) and chosen else None)


def _offset(cursor: str | None) -> int:
    if cursor is None or cursor == "":
        return 0
    if not cursor.isascii() or not cursor.isdigit():
        raise ValueError(f"not a cursor: {cursor!r}")
    return int(cursor)


def wanted(limit: int, cursor: str | None) -> int:
    """How many rows a report must compute to serve ``page(rows, limit, cursor)`` and know
    whether more follow."""
    return _offset(cursor) + max(int(limit), 0) + 1
