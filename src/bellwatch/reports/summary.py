"""The ``summary`` report: every fact the digest may use, and the digest itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import _config
from ..schema import F
from ..sources.base import Source
from . import _insights, _local, digest
from ._types import Digest

if TYPE_CHECKING:
    import duckdb

    from ..sources.aggregate import Frame

__all__ = ["collect", "summary"]

# Columns :func:`collect` reads, every row (a cold run parses only these).
_COLUMNS = (
    F.TS,
    F.LEVEL,
    F.EVENT,
    F.CID,
    F.METHOD,
    F.PATH,
    F.STATUS,
    F.DURATION,
    F.SESSION_ID,
    F.ERROR_HASH,
    F.ERROR_TYPE,
    F.MESSAGE,
    F.SEVERITY,
    F.COUNT,
    F.WINDOW,
)


class _Need:
    columns = _COLUMNS
    where = None


def summary(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    budget: int = 1500,
    slow_threshold: float | None = None,
) -> Digest:
    """The digest of ``[since_ms, until_ms)`` within ``budget`` cl100k tokens, and its facts.

    ``slow_threshold`` (default: the setting) marks an endpoint slow in the headline.
    A source that runs Logs Insights answers with the saved queries.
    """
    threshold = _config.resolve().slow_threshold if slow_threshold is None else slow_threshold
    facts = None
    if not _local.local(source):
        facts = _insights.collect(lambda text: source.run_insights(text, since_ms, until_ms))
    if facts is None:
        facts = _local.run_aggregate(
            source, since_ms, until_ms, name="summary", compute=collect, need=_Need()
        )
    text = digest.render(facts, budget, slow_threshold=threshold)
    return Digest(text, facts, source.stats)


def collect(con: duckdb.DuckDBPyConnection, frame: Frame) -> dict[str, Any]:
    """Every fact the digest may use, from one cache read."""
    from ..sources import aggregate

    return {
        "totals": aggregate.totals(con, frame),
        "endpoints": aggregate.endpoints(con, frame, limit=200),
        "errors": aggregate.errors(con, frame, limit=50),
        "twilio": aggregate.twilio(con, frame, limit=50),
    }
