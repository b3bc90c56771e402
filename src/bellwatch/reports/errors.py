"""The ``errors`` report: error fingerprints, most occurrences first."""

from __future__ import annotations

from typing import Any

from ..sources.base import Source, SourceError
from ..sources.facts import Facts
from . import _facts, _insights
from ._types import Report, answer, page, wanted
from .users import users_per_error

__all__ = ["errors", "reread", "rows"]


def errors(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Report:
    """Error fingerprints in ``[since_ms, until_ms)``, most occurrences first.

    Each row: ``hash``, ``count`` (occurrences: the sum of ``n`` over the fingerprint's
    error lines), ``count_is_upper_bound`` (see below), ``users`` (distinct ``uid`` on
    the lines that carry its hash: request lines name the error recorded during them),
    ``sev``, ``type``, ``msg``, ``endpoints``, ``first_ts``, ``last_ts`` (epoch ms) and
    ``cid`` (the newest example correlation id). A source that runs Logs Insights
    (CloudWatch) answers with the saved ``top-errors`` query, and its users with a
    ``count_distinct`` (approximate for many users).

    A summary line's ``n`` counts the occurrences since its process's previous line of
    that fingerprint, so when ``since_ms`` falls between the two, some of them happened
    before the window and the count is *at most* that: ``count_is_upper_bound`` is true
    for a fingerprint that also has lines before ``since_ms`` (read again for that, from
    the cache for files). Where those lines are not read (a log group, stdin), every
    count over 1 is marked.
    """
    n = wanted(limit, cursor)
    if not _facts.local(source):
        text = _insights.saved_query("top-errors", limit=("| limit 20", f"| limit {n - 1}"))
        found = source.run_insights(text, since_ms, until_ms)
        if found is not None:
            shown, after = page(_insights.errors(found), limit, cursor, more=len(found) >= n - 1)
            affected = users_per_error(source, since_ms, until_ms)
            for row in shown:
                row["users"] = affected.get(row["hash"], 0)
            return answer(_bounded(shown, since_ms, None), source.stats, after)
    shown, after = page(rows(_facts.gather(source, since_ms, until_ms)), limit, cursor)
    return answer(bounded(source, shown, since_ms), source.stats, after)


def bounded(
    source: Source, shown: list[dict[str, Any]], since_ms: int | None
) -> list[dict[str, Any]]:
    """``shown`` with ``count_is_upper_bound`` set on each row (see :func:`errors`): the
    ``errors`` report's rows, and the digest's, which says ``≤N`` as ``errors`` does."""
    before = _seen_before(source, since_ms) if since_ms is not None and shown else set()
    return _bounded(shown, since_ms, before)


def reread(source: Source) -> Source | None:
    """The same local files as a source of their own, to read what lies before a window
    (its scan statistics apart, so the command's stay the window's); ``None`` where the
    lines cannot be read again (stdin, a log group)."""
    from ..sources.files import STDIN, FileSource

    if not isinstance(source, FileSource):
        return None
    paths = source.paths()
    if STDIN in paths:
        return None
    return FileSource(paths, cache_dir=source.cache_dir, use_cache=source.use_cache)


def _seen_before(source: Source, since_ms: int) -> set[str] | None:
    """The fingerprints with error lines before ``since_ms`` in local files; ``None`` when
    that cannot be read again (stdin, a log group)."""
    earlier = reread(source)
    if earlier is None:
        return None
    try:
        return set(_facts.gather(earlier, None, since_ms).err)
    except SourceError:  # the files went away since the window was read
        return None


def _bounded(shown: list[dict[str, Any]], since_ms: int | None,
             before: set[str] | None) -> list[dict[str, Any]]:  # fmt: skip
    """Set ``count_is_upper_bound`` on each row (see :func:`errors`)."""
    for row in shown:
        if since_ms is None:
            row["count_is_upper_bound"] = False
        elif before is None:
            row["count_is_upper_bound"] = isinstance(row.get("count"), int) and row["count"] > 1
        else:
            row["count_is_upper_bound"] = row["hash"] in before
    return shown


def rows(facts: Facts) -> list[dict[str, Any]]:
    """Every fingerprint of ``facts``, most occurrences first, then most recent."""
    affected = facts.eu
    out = [
        {
            "hash": key,
            "count": r[0],
            "users": len(affected.get(key, ())),
            "sev": r[2],
            "type": r[4],
            "msg": r[5],
            "endpoints": sorted(r[9]),
            "first_ts": r[3],
            "last_ts": r[6],
            "cid": r[7],
        }
        for key, r in facts.err.items()
    ]
    out.sort(key=lambda r: (-r["count"], r["last_ts"] is None, -(r["last_ts"] or 0), r["hash"]))
    return out
