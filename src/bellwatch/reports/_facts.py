"""The facts a local report is computed from: the cache for files, a fold for other sources."""

from __future__ import annotations

from ..sources.base import Source
from ..sources.facts import SLOW_FLOOR, Facts

__all__ = ["gather", "local"]


def local(source: Source) -> bool:
    """True for local files: they run no Insights of their own, so the saved queries are
    not even imported."""
    from ..sources.files import FileSource

    return isinstance(source, FileSource)


def gather(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    floor: float = SLOW_FLOOR,
) -> Facts:
    """The report facts of ``source`` in ``[since_ms, until_ms)``; ``floor``: keep requests
    slower than this row by row. Scan statistics accumulate in ``source.stats``."""
    from ..sources.files import FileSource

    if isinstance(source, FileSource):
        from ..sources.cache import collect
        from ..sources.reader import Window

        return collect(source, Window(since_ms, until_ms), floor=floor)
    from ..sources._fold import fold_record

    facts = Facts(floor)
    for record in source.records(since_ms, until_ms):
        fold_record(facts, record)
    return facts
