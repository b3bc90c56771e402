"""Reports computed here rather than where the logs live: local files (with their cache),
stdin, or any source without a query engine of its own."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import Any

from ..sources.base import MESSAGE, Source

__all__ = ["run_aggregate"]

_MEMO_ROWS = 1000


def run_aggregate(
    source: Source,
    since_ms: int | None,
    until_ms: int | None,
    *,
    name: str,
    compute: Callable[[Any, Any], Any],
    need: Any,
) -> Any:
    """Plan the read (cache or raw JSON), run ``compute(con, frame)``, count skipped lines.

    ``name`` identifies the report and its parameters (for the answer memo); ``need``
    (an :class:`~bellwatch.sources.aggregate.Need`) says which columns and rows
    ``compute`` reads: a cold run parses and keeps only those. Skipped lines and
    cache trouble go to ``source.stats``.
    """
    from ..sources import aggregate, cache
    from ..sources.files import STDIN, FileSource

    stats = source.stats
    spooled: str | None = None
    store: cache.Cache | None = None
    memo: cache.Memo | None = None
    key = ""
    files = isinstance(source, FileSource) and STDIN not in source.paths()
    use_cache = files and getattr(source, "use_cache", True)
    cache_dir = getattr(source, "cache_dir", None)
    if use_cache:
        assert isinstance(source, FileSource)  # for mypy: files implies it
        memo, key, hit = _memo_lookup(source, f"{name}|{since_ms}|{until_ms}", cache_dir)
        use_cache = memo is not None
        if hit is not None:
            stats.skipped += hit["skipped"]
            return hit["result"]
    try:
        con = cache.connect()
        if isinstance(source, FileSource) and files:
            store = cache.Cache(cache_dir)
            plan = cache.Plan(raw=list(source.paths()))
            if use_cache:
                try:
                    plan = store.plan(source.paths(), con)
                except OSError as exc:  # a cache dir that is a file, unwritable, full...
                    _cache_unusable(source, exc)
                    store = None
            else:
                store = None
            stats.bytes_total += source.total_bytes() if plan.raw else 0
        else:
            spooled = _spool(source, since_ms, until_ms)
            plan = cache.Plan(raw=[spooled])
        plan.load_raw(con, need.columns, need.where)
        frame = aggregate.Frame(plan.relation(), since_ms, until_ms, full=plan.full_relation())
        result = compute(con, frame)
        skipped_count = plan.skipped
        stats.skipped += skipped_count
        if memo is not None and not (plan.rollup is not None and _large(result)):
            # A large answer read from the rollup costs as much to store and reload
            # as to compute again (slow's ~13k rows: ~5 ms each way); keep the rest.
            with contextlib.suppress(OSError):
                memo.put(key, result, skipped_count)
        if store is not None:
            with contextlib.suppress(OSError):
                store.build_later(plan)
        return result
    finally:
        if spooled:
            os.unlink(spooled)


def _memo_lookup(source: Any, name: str, cache_dir: str | None) -> tuple[Any, str, Any]:
    """The answer memo, its key for this report, and a stored answer if any."""
    from ..sources import cache

    try:
        memo = cache.Memo(cache_dir)
        key = memo.key(name, source.paths())
        return memo, key, memo.get(key)
    except OSError as exc:
        _cache_unusable(source, exc)
        return None, "", None


def _large(result: Any) -> bool:
    return isinstance(result, list) and len(result) > _MEMO_ROWS


def _cache_unusable(source: Source, exc: OSError) -> None:
    """The answer is still computed, from the files themselves; say why it is slower."""
    source.stats.warnings.append(f"cache not used ({exc}); reading the files")


def _spool(source: Source, since_ms: int | None, until_ms: int | None) -> str:
    """Write a non-file source's lines to a temporary JSONL file for DuckDB."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="bellwatch-", suffix=".jsonl")
    with os.fdopen(fd, "wb") as out:
        for record in source.records(since_ms, until_ms):
            out.write(record[MESSAGE].encode() + b"\n")
    return path


def local(source: Source) -> bool:
    """True for local files: they run no Insights of their own, so the query engine and
    the saved queries are not even imported (it keeps a cold report near raw DuckDB)."""
    from ..sources.files import FileSource

    return isinstance(source, FileSource)
