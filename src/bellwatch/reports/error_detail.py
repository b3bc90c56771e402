"""The ``error_detail`` report: one error fingerprint in full.

Its row in the ``errors`` report (the same fold, so the same count), the first
occurrence's line with its compact traceback, occurrences over time, the routes it
happened on and example correlation ids, and how its fingerprint was built
(:func:`bellwatch.errors.fingerprint.explain_record`). Only the fingerprint's own lines
are read: local files are searched for the hash (``rg``/``grep``), a CloudWatch log
group filters on it server-side (``filter_log_events``).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..schema import Ev, F
from ..sources._fold import fold_record
from ..sources.base import (
    MESSAGE,
    TIMESTAMP,
    Record,
    ScanStats,
    Source,
    SourceError,
    TextRecord,
)
from ..sources.facts import Facts
from .errors import _bounded, reread
from .errors import rows as error_rows

__all__ = ["BUCKETS", "ErrorDetail", "error_detail"]

BUCKETS = 12
"""Occurrences over time: at most this many steps of a round width, first line to last."""
_WIDTHS_MS = (1_000, 10_000, 60_000, 300_000, 900_000, 3_600_000, 21_600_000, 86_400_000)
_EXAMPLES = 5
_FAMILY = (Ev.ERROR, Ev.AGGREGATED_ERROR)


@dataclass(frozen=True)
class ErrorDetail:
    """One fingerprint: ``row`` as the ``errors`` report gives it (``None``: no line has the
    hash in the window), and what only its own lines tell."""

    hash: str
    row: dict[str, Any] | None
    first_line: dict[str, Any] | None
    """The first occurrence's event (its fields)."""
    traceback: str | None = None
    """The compact traceback (``exc``) of the earliest of the fingerprint's lines that has
    one: the error line itself, or the stdlib record of the same exception."""
    timeline: list[dict[str, Any]] = field(default_factory=list)
    """``{"from_ts", "to_ts", "count"}`` per step, oldest first: occurrences in each."""
    routes: list[tuple[str, int]] = field(default_factory=list)
    """``(route, occurrences)``, most first."""
    cids: list[str] = field(default_factory=list)
    """Example correlation ids, newest first."""
    explanation: dict[str, Any] = field(default_factory=dict)
    """How the fingerprint was built, as far as the line allows: ``type``, the message
    ``parameterized``, what was ``replaced``, the ``frames`` hashed, and ``notes`` on
    what the line could not tell (its recomputed hash may then differ from ``hash``)."""
    lines: int = 0
    """Lines of the fingerprint read (error, aggregated and escalation lines)."""
    stats: ScanStats = field(default_factory=ScanStats)


def _pattern(key: str) -> str:
    """A JSON filter pattern selecting the lines of fingerprint ``key``."""
    text = key.replace("\\", "\\\\").replace('"', '\\"')
    return f'{{ $.{F.ERROR_HASH} = "{text}" }}'


def _lines(
    source: Source, key: str, since_ms: int | None, until_ms: int | None
) -> Iterator[Record]:
    def keep(record: Record) -> bool:
        return not isinstance(record, TextRecord) and record.get(F.ERROR_HASH) == key

    from ..sources.files import FileSource

    if isinstance(source, FileSource):
        yield from source.containing(key, keep, since_ms, until_ms)
        return
    for record in source.records(since_ms, until_ms, pattern=_pattern(key)):
        if keep(record):
            yield record


def error_detail(
    source: Source,
    key: str,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> ErrorDetail:
    """Fingerprint ``key`` (its 8-hex ``hash``) in ``[since_ms, until_ms)``."""
    found = sorted(
        _lines(source, key, since_ms, until_ms),
        key=lambda r: (r.get(TIMESTAMP) is None, r.get(TIMESTAMP) or 0),
    )
    facts = Facts()
    for record in found:
        fold_record(facts, record)
    rows = error_rows(facts)
    if not rows:
        return ErrorDetail(key, None, None, lines=len(found), stats=source.stats)
    _bounded(rows[:1], since_ms, _seen_before(source, key, since_ms))
    family = [r for r in found if _counted(r)]
    first = next((r for r in family if r.get(F.EVENT) == Ev.ERROR), family[0] if family else None)
    with_exc = next((r for r in found if isinstance(r.get(F.EXC), str) and r[F.EXC]), None)
    return ErrorDetail(
        key,
        rows[0],
        _fields(first) if first is not None else None,
        traceback=with_exc[F.EXC] if with_exc is not None else None,
        timeline=_timeline(family),
        routes=_routes(family),
        cids=_cids(family),
        explanation=_explain(with_exc if with_exc is not None else first),
        lines=len(found),
        stats=source.stats,
    )


def _seen_before(source: Source, key: str, since_ms: int | None) -> set[str] | None:
    """``{key}`` when the fingerprint has a counted line before ``since_ms`` in local
    files, else an empty set; ``None`` when that cannot be read again (stdin, a log
    group): the rule of the ``errors`` report, found by searching for the hash."""
    if since_ms is None:
        return set()
    earlier = reread(source)
    if earlier is None:
        return None
    try:
        return {key} if any(_counted(r) for r in _lines(earlier, key, None, since_ms)) else set()
    except SourceError:  # the files went away since the window was read
        return None


def _counted(record: Record) -> bool:
    """Whether the line counts occurrences (the facts' rule: an error-family line)."""
    return record.get(F.EVENT) in _FAMILY or F.OCCURRENCES in record


def _occurrences(record: Record) -> int:
    """What one line accounts for, by the fold's own rule (so the steps sum to the total)."""
    facts = Facts()
    fold_record(facts, record)
    return sum(int(r[0]) for r in facts.err.values())


def _fields(record: Record) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in (MESSAGE, "@logStream", "@log")}


def _timeline(family: list[Record]) -> list[dict[str, Any]]:
    stamps = [r[TIMESTAMP] for r in family if isinstance(r.get(TIMESTAMP), int)]
    if not stamps:
        return []
    high = max(stamps)
    need = math.ceil((high + 1 - min(stamps)) / BUCKETS)
    width = next((w for w in _WIDTHS_MS if w >= need), math.ceil(need / 86_400_000) * 86_400_000)
    low = min(stamps) // width * width  # steps start on a round time
    counts = [0] * (min(BUCKETS, (high - low) // width + 1))
    for record in family:
        ts = record.get(TIMESTAMP)
        if isinstance(ts, int):
            counts[min((ts - low) // width, len(counts) - 1)] += _occurrences(record)
    return [
        {"from_ts": low + i * width, "to_ts": low + (i + 1) * width, "count": n}
        for i, n in enumerate(counts)
    ]


def _routes(family: list[Record]) -> list[tuple[str, int]]:
    counts: Counter[str] = Counter()
    for record in family:
        path = record.get(F.PATH)
        counts[path if isinstance(path, str) else "-"] += _occurrences(record)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))


def _cids(family: list[Record]) -> list[str]:
    seen: list[str] = []
    for record in reversed(family):
        cid = record.get(F.CID)
        if isinstance(cid, str) and cid not in seen:
            seen.append(cid)
            if len(seen) == _EXAMPLES:
                break
    return seen


def _explain(record: Record | None) -> dict[str, Any]:
    if record is None:
        return {}
    from ..errors.fingerprint import explain_record

    found = explain_record(record)
    return {
        "type": found.type,
        "parameterized": found.parameterized,
        "replaced": [list(pair) for pair in found.replaced],
        "frames": list(found.frames),
        "recomputed_hash": found.hash,
        "notes": list(found.notes),
    }
