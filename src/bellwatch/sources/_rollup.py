"""Per-file rollups: ``errors``, ``slow`` and ``endpoints`` answered without DuckDB.

A rollup holds what those reports need whatever their parameters: per
endpoint the request count, 5xx count, duration sum and maximum and an exact
histogram of durations (so p95 is DuckDB's ``quantile_cont`` to the last
digit); every request at or over :data:`SLOW_FLOOR` seconds, slowest first;
per error fingerprint its mergeable facts. It is written once by the cache
builder (from the Parquet parts, with DuckDB) and then kept up to date by
parsing only appended bytes with orjson, in Python: a repeated command with
new parameters, or over an appended file, never imports DuckDB.

A rollup answers a report only when it can do so exactly: no time window (or
one that covers every record), ``slow`` thresholds at or over the floor, error
lines that carry their path. Anything else returns ``None`` and the caller
reads the Parquet cache with DuckDB. Stored with :mod:`marshal` (native, fast
to load), versioned, bounded in size; a file that does not load is ignored.
The file is a small header (scalars and where each section lies) followed by
the sections, so a command memory-maps it and reads only the sections its
report needs: ``slow`` never copies the endpoints' histograms, and so on.
"""

from __future__ import annotations

import bisect
import marshal
import math
import mmap
from typing import TYPE_CHECKING, Any

import orjson

from ..schema import Ev, F, Sev

if TYPE_CHECKING:
    pass

VERSION = 5  # 4: newest non-null example cid; 5: header + sections read on demand
_MAGIC = b"BWR\x05"
_SECTIONS = ("ep", "err", "slow", "slow_lo")
SLOW_FLOOR = 0.5  # seconds: slow --threshold below this reads the Parquet cache
SLOW_SPLIT = 2.0  # rows at or over this (the default threshold) load without the rest
MAX_SLOW_ROWS = 200_000  # beyond these a file gets no rollup (bounded size)
MAX_HIST = 300_000
_RANK = {s: i for i, s in enumerate(Sev.ORDER)}
_ERR_EVENTS = (Ev.ERROR, Ev.AGGREGATED_ERROR)
# A first occurrence logged through a logger (log.exception("payment_failed")) keeps the
# app's event name; its hash and ERROR level are what mark it as an error line.
_ERR_LEVELS = ("ERROR", "CRITICAL")


class Rollup:
    """Mergeable report facts of one file's first ``meta['offset']`` bytes."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        d = data or {}
        self.meta: dict[str, Any] = d.get("meta", {})
        # Sections stay marshalled until a report reads them: errors never pays
        # for loading the endpoints' histograms, and so on.
        self._blobs: dict[str, bytes | memoryview] = {
            k: d[k] for k in _SECTIONS if isinstance(d.get(k), bytes | memoryview)
        }
        self._ep: dict[tuple[Any, Any], list[Any]] | None = None if "ep" in self._blobs else {}
        self._err: dict[str, list[Any]] | None = None if "err" in self._blobs else {}
        self._slow: list[tuple[Any, ...]] | None = None if "slow" in self._blobs else []
        self._slow_lo: list[tuple[Any, ...]] | None = None if "slow_lo" in self._blobs else []
        self.skipped: int = d.get("skipped", 0)
        self.null_ts: int = d.get("null_ts", 0)
        self.min_ts: int | None = d.get("min_ts")
        self.max_ts: int | None = d.get("max_ts")
        self.pathless: bool = d.get("pathless", False)
        self.odd = False
        """Set when a folded line had a value of another type than the schema's: DuckDB's
        casts (``true`` as 1.0, a failed cast nulling the row) decide those, so the
        rollup is not used."""

    def _section(self, name: str, kind: type) -> Any:
        value = marshal.loads(self._blobs.pop(name))  # noqa: S302 - our own cache file
        if not isinstance(value, kind):
            raise TypeError(f"rollup section {name} is damaged")
        return value

    @property
    def ep(self) -> dict[tuple[Any, Any], list[Any]]:
        """``(method, path) -> [count, null_durations, sum, max, n5xx, {duration: n}]``."""
        if self._ep is None:
            self._ep = self._section("ep", dict)
        return self._ep

    @ep.setter
    def ep(self, value: dict[tuple[Any, Any], list[Any]]) -> None:
        self._blobs.pop("ep", None)
        self._ep = value

    @property
    def err(self) -> dict[str, list[Any]]:
        """``hash -> [max_count, lines, rank, sev, first_ts, type, msg, last_ts, cid, paths,
        window_sum, window_lines, cid_ts]``: ``max_count`` over lines without a ``window``,
        ``window_sum`` the counts of lines with one, ``cid``/``cid_ts`` from the newest
        line with a correlation id (see :func:`.aggregate.errors`)."""
        if self._err is None:
            self._err = self._section("err", dict)
        return self._err

    @err.setter
    def err(self, value: dict[str, list[Any]]) -> None:
        self._blobs.pop("err", None)
        self._err = value

    @property
    def slow(self) -> list[tuple[Any, ...]]:
        """``(ts, method, path, duration, status, cid)`` at or over :data:`SLOW_SPLIT`, slowest
        first."""
        if self._slow is None:
            self._slow = self._section("slow", list)
        return self._slow

    @slow.setter
    def slow(self, value: list[tuple[Any, ...]]) -> None:
        self._blobs.pop("slow", None)
        self._slow = value

    @property
    def slow_lo(self) -> list[tuple[Any, ...]]:
        """Like :attr:`slow`, from :data:`SLOW_FLOOR` up to :data:`SLOW_SPLIT`."""
        if self._slow_lo is None:
            self._slow_lo = self._section("slow_lo", list)
        return self._slow_lo

    @slow_lo.setter
    def slow_lo(self, value: list[tuple[Any, ...]]) -> None:
        self._blobs.pop("slow_lo", None)
        self._slow_lo = value

    def add_slow(self, rows: list[tuple[Any, ...]]) -> None:
        """Add requests at or over the floor to the right band (any order)."""
        hi = sorted((r for r in rows if r[3] >= SLOW_SPLIT), key=_slow_key)
        lo = sorted((r for r in rows if r[3] < SLOW_SPLIT), key=_slow_key)
        if hi:
            self.slow = _merge_slow([self.slow, hi])
        if lo:
            self.slow_lo = _merge_slow([self.slow_lo, lo])

    # ------------------------------------------------------------ storage

    def dumps(self) -> bytes:
        """The stored form: magic, header length, marshalled header, then the sections."""
        sections = [
            self._blobs.get("ep") or marshal.dumps(self.ep),
            self._blobs.get("err") or marshal.dumps(self.err),
            self._blobs.get("slow") or marshal.dumps(self.slow),
            self._blobs.get("slow_lo") or marshal.dumps(self.slow_lo),
        ]
        where, pos = {}, 0
        for name, blob in zip(_SECTIONS, sections, strict=True):
            where[name] = (pos, len(blob))
            pos += len(blob)
        head = marshal.dumps(
            {
                "v": VERSION,
                "meta": self.meta,
                "skipped": self.skipped,
                "null_ts": self.null_ts,
                "min_ts": self.min_ts,
                "max_ts": self.max_ts,
                "pathless": self.pathless,
                "sections": where,
            }
        )
        return b"".join([_MAGIC, len(head).to_bytes(4, "little"), head, *sections])

    @classmethod
    def loads(cls, blob: bytes | memoryview | mmap.mmap) -> Rollup | None:
        """A stored rollup, or ``None`` when damaged or of another version.

        Sections stay views of ``blob`` (a memory map of the file, say) until read.
        """
        try:
            view = memoryview(blob)
            if bytes(view[:4]) != _MAGIC:
                return None
            size = int.from_bytes(view[4:8], "little")
            data = marshal.loads(view[8 : 8 + size])  # noqa: S302 - our own cache file
            if not isinstance(data, dict) or data.get("v") != VERSION:
                return None
            where = data.pop("sections")
            body = 8 + size
            for name in _SECTIONS:
                start, length = where[name]
                if not (isinstance(start, int) and isinstance(length, int)):
                    return None
                if start < 0 or length < 0 or body + start + length > len(view):
                    return None  # truncated
                data[name] = view[body + start : body + start + length]
        except (EOFError, ValueError, TypeError, KeyError):
            return None
        if not isinstance(data.get("meta"), dict) or not isinstance(data.get("skipped"), int):
            return None
        return cls(data)

    def bounded(self) -> bool:
        """Whether this rollup is small enough to keep."""
        hist = sum(len(e[5]) for e in self.ep.values())
        return len(self.slow) + len(self.slow_lo) <= MAX_SLOW_ROWS and hist <= MAX_HIST

    # ------------------------------------------------------------ building

    def add_lines(self, data: bytes) -> None:
        """Fold complete JSONL lines in, as the JSON reader would see them.

        The hot loop of an appended command (~10k lines): names are bound
        locally and per-line helpers kept to two calls, which halves its cost.
        """
        ep: dict[tuple[Any, Any], list[Any]] = self.ep
        new_slow: list[tuple[Any, ...]] = []
        f_ts, f_event, f_hash, request = F.TS, F.EVENT, F.ERROR_HASH, Ev.REQUEST
        skipped = null_ts = 0
        lo, hi = self.min_ts, self.max_ts
        loads, decode_error = orjson.loads, orjson.JSONDecodeError
        for line in data.split(b"\n"):
            # _parse, inlined: this loop runs once per appended line
            rec = None
            if line[:1] == b"{" or line.strip()[:1] == b"{":
                try:
                    rec = loads(line)
                except decode_error:
                    rec = None
            if type(rec) is not dict:
                skipped += line.strip() != b""
                continue
            ts, event = rec.get(f_ts), rec.get(f_event)
            if (ts is not None and type(ts) is not int) or (
                event is not None and type(event) is not str
            ):
                self.odd = True  # DuckDB's casts decide these; see _off_schema
            if _off_schema(rec):
                self.odd = True
            ts = ts if type(ts) is int else None
            event = event if type(event) is str else None
            if ts is None:
                if event is None:
                    skipped += 1  # an all-NULL row to the JSON reader too
                    continue
                null_ts += 1
            else:
                lo = ts if lo is None or ts < lo else lo
                hi = ts if hi is None or ts > hi else hi
            if event == request:
                _fold_request(ep, rec, ts, new_slow)
            elif type(rec.get(f_hash)) is str and (
                event in _ERR_EVENTS or rec.get(F.LEVEL) in _ERR_LEVELS
            ):
                self._error(rec, ts)
        self.skipped += skipped
        self.null_ts += null_ts
        self.min_ts, self.max_ts = lo, hi
        if new_slow:
            self.add_slow(new_slow)

    def _span(self, ts: int | None) -> None:
        if ts is None:
            self.null_ts += 1
            return
        self.min_ts = ts if self.min_ts is None else min(self.min_ts, ts)
        self.max_ts = ts if self.max_ts is None else max(self.max_ts, ts)

    def _error(self, rec: dict[str, Any], ts: int | None) -> None:
        sev = _text(rec.get(F.SEVERITY))
        count = _int(rec.get(F.COUNT))
        windowed = _int(rec.get(F.WINDOW)) is not None
        path = _text(rec.get(F.PATH))
        cid = _text(rec.get(F.CID))
        if path is None and cid is not None:
            self.pathless = True  # its endpoint is a lookup DuckDB does
        # DuckDB's arg_max(cid, ts) skips lines without a time: so does the example
        example = cid if ts is not None else None
        rank = _RANK.get(sev or "")
        row: list[Any] = [None if windowed else count, 1, rank, sev if rank is not None else None]
        row += [ts, _text(rec.get(F.ERROR_TYPE)), _text(rec.get(F.MESSAGE)), ts, example]
        row.append([path] if path is not None else [])
        row += [(count or 0) if windowed else 0, int(windowed), ts if example is not None else None]
        _fold_err(self.err, str(rec[F.ERROR_HASH]), row)

    def _scalars(self, other: Rollup) -> None:
        self.skipped += other.skipped
        self.null_ts += other.null_ts
        self.pathless = self.pathless or other.pathless
        for ts in (other.min_ts, other.max_ts):
            if ts is not None:
                self._span(ts)

    # ------------------------------------------------------------ answers

    def covers(self, since_ms: int | None, until_ms: int | None) -> bool:
        """Whether the window keeps every record (so the whole-file facts are exact)."""
        if since_ms is None and until_ms is None:
            return True
        if self.null_ts:
            return False  # records without a time drop out of any window
        if self.min_ts is None or self.max_ts is None:
            return False
        return (since_ms is None or since_ms <= self.min_ts) and (
            until_ms is None or until_ms > self.max_ts
        )

    def endpoints(self, limit: int) -> list[dict[str, Any]]:
        """As :func:`.aggregate.endpoints`."""
        rows = []
        for (method, path), e in self.ep.items():
            count, nulls, total, peak, n5xx, hist = e
            known = count - nulls
            rows.append(
                {
                    "method": method,
                    "path": path,
                    "count": count,
                    "avg": total / known if known else None,
                    "p95": _quantile(hist, known, 0.95),
                    "max": peak,
                    "error_rate": n5xx / count if count else None,
                }
            )
        rows.sort(key=lambda r: (-r["count"], r["path"] is None, r["path"] or ""))
        return rows[: max(limit, 0)]

    def slow_rows(self, threshold: float, limit: int) -> list[dict[str, Any]] | None:
        """As :func:`.aggregate.slow`, or ``None`` below the floor."""
        if threshold < SLOW_FLOOR:
            return None
        out: list[dict[str, Any]] = []
        bands = [self.slow] if threshold >= SLOW_SPLIT else [self.slow, self.slow_lo]
        for band in bands:
            # kept slowest first: the rows at or over the threshold are a prefix
            count = bisect.bisect_right(band, -threshold, key=_neg_duration)
            take = band[: min(count, max(limit - len(out), 0))]
            out += [
                {"ts": ts, "method": m, "path": p, "duration": d, "status": s, "cid": c}
                for ts, m, p, d, s, c in take
            ]
            if count < len(band) or len(out) >= limit:
                break  # the next band is faster than this one's last row
        return out

    def errors(self, limit: int) -> list[dict[str, Any]] | None:
        """As :func:`.aggregate.errors`, or ``None`` when an endpoint needs a lookup."""
        if self.pathless:
            return None
        rows = []
        for key, r in self.err.items():
            max_count, lines, _rank, sev, first_ts, type_, msg, last_ts, cid, paths = r[:10]
            window_sum, window_lines = r[10], r[11]
            rows.append(
                {
                    "hash": key,
                    "count": window_sum + max(max_count or 0, lines - window_lines),
                    "sev": sev,
                    "type": type_,
                    "msg": msg,
                    "endpoints": sorted(set(paths)),
                    "first_ts": first_ts,
                    "last_ts": last_ts,
                    "cid": cid,
                }
            )
        rows.sort(key=lambda r: (-r["count"], r["last_ts"] is None, -(r["last_ts"] or 0)))
        return rows[: max(limit, 0)]


_KINDS: dict[str, tuple[type, ...]] = {
    **dict.fromkeys((F.STATUS, F.COUNT, F.WINDOW), (int,)),
    F.DURATION: (int, float),
    **dict.fromkeys(
        (F.METHOD, F.PATH, F.CID, F.ERROR_HASH, F.SEVERITY, F.ERROR_TYPE, F.MESSAGE), (str,)
    ),
}


def _off_schema(rec: dict[str, Any]) -> bool:
    """Whether a field the reports read holds another JSON type than the schema's."""
    for name, value in rec.items():
        kinds = _KINDS.get(name)
        if kinds is not None and value is not None and type(value) not in kinds:
            return True
    return False


def _parse(line: bytes) -> dict[str, Any] | None:
    """One line's JSON object, or ``None`` (blank lines too: the caller tells them apart)."""
    if line[:1] != b"{":
        line = line.strip()
        if line[:1] != b"{":
            return None
    try:
        rec = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return rec if type(rec) is dict else None


def _fold_request(
    ep: dict[tuple[Any, Any], list[Any]],
    rec: dict[str, Any],
    ts: int | None,
    new_slow: list[tuple[Any, ...]],
) -> None:
    method, path = rec.get(F.METHOD), rec.get(F.PATH)
    method = method if type(method) is str else None
    path = path if type(path) is str else None
    dur, status = rec.get(F.DURATION), rec.get(F.STATUS)
    dur = float(dur) if type(dur) is float or type(dur) is int else None
    if type(status) is not int:
        status = _int(status)
    e = ep.get((method, path))
    if e is None:
        e = ep[(method, path)] = [0, 0, 0.0, None, 0, {}]
    e[0] += 1
    if status is not None and status >= 500:
        e[4] += 1
    if dur is None:
        e[1] += 1
        return
    e[2] += dur
    if e[3] is None or dur > e[3]:
        e[3] = dur
    hist = e[5]
    hist[dur] = hist.get(dur, 0) + 1
    if dur >= SLOW_FLOOR:
        new_slow.append((ts, method, path, dur, status, _text(rec.get(F.CID))))


def _slow_key(row: tuple[Any, ...]) -> tuple[float, bool, int]:
    return (-row[3], row[0] is None, row[0] or 0)


def _fold_ep(e: list[Any], dur: float | None, is_5xx: bool, n: int) -> None:
    e[0] += n
    if is_5xx:
        e[4] += n
    if dur is None:
        e[1] += n
        return
    e[2] += dur * n
    e[3] = dur if e[3] is None else max(e[3], dur)
    e[5][dur] = e[5].get(dur, 0) + n


def _fold_err(err: dict[str, list[Any]], key: str, row: list[Any]) -> None:
    mine = err.get(key)
    if mine is None:
        row[9] = sorted(set(row[9]))
        err[key] = row
        return
    if row[0] is not None:
        mine[0] = row[0] if mine[0] is None else max(mine[0], row[0])
    mine[1] += row[1]
    if row[2] is not None and (mine[2] is None or row[2] > mine[2]):
        mine[2], mine[3] = row[2], row[3]
    if row[4] is not None and (mine[4] is None or row[4] < mine[4]):
        mine[4], mine[5], mine[6] = row[4], row[5], row[6]
    if row[7] is not None and (mine[7] is None or row[7] > mine[7]):
        mine[7] = row[7]
    if row[12] is not None and (mine[12] is None or row[12] >= mine[12]):
        mine[8], mine[12] = row[8], row[12]  # the newest line that has an example id
    mine[9] = sorted({*mine[9], *row[9]})
    mine[10] += row[10]
    mine[11] += row[11]


def _quantile(hist: dict[float, int], n: int, q: float) -> float | None:
    """DuckDB's ``quantile_cont``: linear interpolation between order statistics."""
    if n <= 0:
        return None
    pos = q * (n - 1)
    lo_i, hi_i = math.floor(pos), math.ceil(pos)
    lo = hi = None
    seen = 0
    for value in sorted(hist):
        seen += hist[value]
        if lo is None and seen > lo_i:
            lo = value
        if seen > hi_i:
            hi = value
            break
    if lo is None or hi is None:
        return None
    return float(lo + (pos - lo_i) * (hi - lo))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _neg_duration(row: tuple[Any, ...]) -> float:
    return -float(row[3])


def _merge_slow(slows: list[list[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """Sorted runs merged into one, slowest first (the order of :func:`_slow_key`)."""
    slows = [s for s in slows if s]
    if len(slows) <= 1:
        return slows[0] if slows else []
    big, small = slows[0], [row for run in slows[1:] for row in run]
    if len(small) * 8 > len(big):
        # runs of similar size: timsort merges sorted runs in linear time
        return sorted(big + small, key=_slow_key)
    # A base and an append's few new rows: each goes into the base by binary search
    # (log n key calls), after any equal key, as the stable sort above would put it.
    out: list[tuple[Any, ...]] = []
    start = 0
    for row in sorted(small, key=_slow_key):
        at = bisect.bisect_right(big, _slow_key(row), lo=start, key=_slow_key)
        out += big[start:at]
        out.append(row)
        start = at
    out += big[start:]
    return out
