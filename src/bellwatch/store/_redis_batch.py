"""The Redis store's wire shape: the batch a process buffers, the script that applies it.

Private to :mod:`bellwatch.store.redis`. A :class:`Batch` holds rows (count, 5xx,
4xx, slow, seconds) and latency-sketch bins per route template, since start and per
10-second bucket, plus sessions (seen and ended) and business counters; :data:`APPLY` adds one to
Redis atomically and at most once per (process, sequence number).
"""

from __future__ import annotations

import heapq
from typing import Any

import orjson

from .base import BUCKET_SECONDS, MAPPING, ZERO_BIN, EndpointStats, _bin_key, new_sketch

__all__ = [
    "APPLY",
    "READ",
    "Batch",
    "Bins",
    "Row",
    "endpoints",
    "hash_of",
    "merge_batches",
    "stats_of",
]

_MAPPING = MAPPING
_ZERO = ZERO_BIN
_MIN = _MAPPING.min_possible

# ARGV: prefix, proc, seq, mode, payload, keep, bucket ttl, now, session window, max sessions,
# the last seq Redis acknowledged to this process. Modes: first, delta, full (everything this
# process had acknowledged: Redis came back empty), resend (what an older Redis lost).
APPLY = """
local p = ARGV[1]
local seqkey = p .. 'proc:' .. ARGV[2]
local seq = tonumber(ARGV[3])
local cur = redis.call('GET', seqkey)
if cur and tonumber(cur) >= seq then return 'dup' end
if ARGV[4] == 'delta' then
  -- the generation check: our key gone (empty), or older than what was acknowledged
  if not cur then return 'reset' end
  if tonumber(cur) < tonumber(ARGV[11]) then return 'behind:' .. cur end
end
local d = cjson.decode(ARGV[5])
local keep, bttl, now = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local function rows(key, t)
  if next(t) == nil then return end
  for path, v in pairs(t) do
    for i = 1, 4 do
      if v[i] ~= 0 then redis.call('HINCRBY', key, path .. '\\t' .. i, v[i]) end
    end
    redis.call('HINCRBYFLOAT', key, path .. '\\t5', v[5])
  end
end
local function bins(key, t)
  if next(t) == nil then return end
  for path, b in pairs(t) do
    for bin, n in pairs(b) do redis.call('HINCRBY', key, path .. '\\t' .. bin, n) end
  end
end
rows(p .. 'ep', d.ep)
bins(p .. 'sk', d.sk)
redis.call('SET', p .. 'started', ARGV[8], 'NX')
for _, k in ipairs({'ep', 'sk', 'started'}) do redis.call('EXPIRE', p .. k, keep) end
for bucket, t in pairs(d.b) do
  rows(p .. 'b:' .. bucket, t)
  redis.call('EXPIRE', p .. 'b:' .. bucket, bttl)
end
for bucket, t in pairs(d.s) do
  bins(p .. 's:' .. bucket, t)
  redis.call('EXPIRE', p .. 's:' .. bucket, bttl)
end
local sess = p .. 'sess'
for key, seen in pairs(d.ss) do redis.call('ZADD', sess, 'GT', seen, key) end
if next(d.ss) ~= nil then
  redis.call('ZREMRANGEBYSCORE', sess, '-inf', '(' .. (now - tonumber(ARGV[9])))
  local extra = redis.call('ZCARD', sess) - tonumber(ARGV[10])
  if extra > 0 then redis.call('ZREMRANGEBYRANK', sess, 0, extra - 1) end
  redis.call('EXPIRE', sess, math.ceil(tonumber(ARGV[9])) + 60)
end
-- ended sessions: removed unless seen again after they ended (by any process)
for key, ended in pairs(d.se) do
  local seen = redis.call('ZSCORE', sess, key)
  if seen and tonumber(seen) <= ended then redis.call('ZREM', sess, key) end
end
for name, v in pairs(d.ct) do redis.call('HINCRBYFLOAT', p .. 'ctr', name, v) end
if next(d.ct) ~= nil then redis.call('EXPIRE', p .. 'ctr', keep) end
redis.call('SET', seqkey, seq, 'EX', keep)
return 'ok'
"""

# ARGV: prefix, first bucket of the window, buckets, the oldest session score that counts.
# One reply, JSON: since-start rows and bins (HGETALL's flat lists), the window's buckets
# already added up field by field (bins add up exactly: one mapping for all processes),
# active sessions, counters, the start time. Python then parses ~2 hashes, not ~60.
READ = """
local p = ARGV[1]
local first, n = tonumber(ARGV[2]), tonumber(ARGV[3])
local wr, ws = {}, {}
local function add(into, flat)
  for i = 1, #flat, 2 do into[flat[i]] = (into[flat[i]] or 0) + tonumber(flat[i + 1]) end
end
for index = first, first + n - 1 do
  add(wr, redis.call('HGETALL', p .. 'b:' .. index))
  add(ws, redis.call('HGETALL', p .. 's:' .. index))
end
return cjson.encode({
  ep = redis.call('HGETALL', p .. 'ep'), sk = redis.call('HGETALL', p .. 'sk'),
  wr = wr, ws = ws, ct = redis.call('HGETALL', p .. 'ctr'),
  ss = redis.call('ZCOUNT', p .. 'sess', ARGV[4], '+inf'),
  st = redis.call('GET', p .. 'started'),
})
"""

Row = list[float]  # count, 5xx, 4xx, slow, seconds
Bins = dict[int | str, int]  # log-mapping bin (or "z") -> count


class Batch:
    """Updates in the wire shape; a delta between flushes or everything acknowledged.

    A ``live`` batch (the one requests are counted into) keeps the per-bucket rows
    and bins only: its since-start totals are the sum of its buckets, added up once
    by :meth:`settle` when the flusher takes it, instead of twice per request.
    """

    __slots__ = ("b", "counters", "ended", "ep", "live", "s", "sessions", "sk", "updates")

    def __init__(self, *, live: bool = False) -> None:
        self.ep: dict[str, Row] = {}
        self.sk: dict[str, Bins] = {}
        self.b: dict[int, dict[str, Row]] = {}
        self.s: dict[int, dict[str, Bins]] = {}
        self.sessions: dict[str, float] = {}
        self.ended: dict[str, float] = {}  # session key -> when the app ended it
        self.counters: dict[str, float] = {}
        self.updates = 0
        self.live = live

    def settle(self) -> None:
        """Add a live batch's buckets into its since-start totals; it is a plain batch after."""
        if self.live:
            for rows in self.b.values():
                _rows(self.ep, rows)
            for bins in self.s.values():
                _bins(self.sk, bins)
            self.live = False

    def merge(self, other: Batch) -> None:
        _rows(self.ep, other.ep)
        _bins(self.sk, other.sk)
        if other.live:  # its totals are its buckets
            for rows in other.b.values():
                _rows(self.ep, rows)
            for bins in other.s.values():
                _bins(self.sk, bins)
        for index, rows in other.b.items():
            _rows(self.b.setdefault(index, {}), rows)
        for index, bins in other.s.items():
            _bins(self.s.setdefault(index, {}), bins)
        for key, seen in other.sessions.items():
            self.sessions[key] = max(seen, self.sessions.get(key, 0.0))
        for key, ended in other.ended.items():
            self.ended[key] = max(ended, self.ended.get(key, 0.0))
        for name, value in other.counters.items():
            self.counters[name] = self.counters.get(name, 0.0) + value
        self.updates += other.updates

    def prune(self, first_bucket: int, session_cutoff: float, max_sessions: int) -> None:
        """Forget buckets before ``first_bucket`` and sessions not seen since the cutoff
        (and the least recently seen beyond ``max_sessions``)."""
        for index in [i for i in self.b if i < first_bucket]:
            del self.b[index]
            self.s.pop(index, None)
        for key in [k for k, seen in self.sessions.items() if seen < session_cutoff]:
            del self.sessions[key]
        # An end older than the cutoff can only hide sessions already pruned above.
        for key in [k for k, ended in self.ended.items() if ended < session_cutoff]:
            del self.ended[key]
        if len(self.sessions) > max_sessions:
            newest = heapq.nlargest(max_sessions, self.sessions.items(), key=lambda kv: kv[1])
            self.sessions = dict(newest)

    def active(self, cutoff: float) -> int:
        """Sessions seen since ``cutoff`` and not ended after they were last seen."""
        ended = self.ended
        return sum(
            1
            for key, seen in self.sessions.items()
            if seen >= cutoff and ended.get(key, -1.0) < seen
        )

    def count(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        """Count one request in a live batch: its bucket only (the request path)."""
        self.updates += 1
        key = _bin_key(duration) if duration > _MIN else _ZERO
        index = int(now // BUCKET_SECONDS)
        rows = self.b.get(index)
        if rows is None:
            rows = self.b[index] = {}
            self.s[index] = {}
        mine = rows.get(path)
        if mine is None:
            rows[path] = [1, 1 if status >= 500 else 0, 1 if 400 <= status < 500 else 0,
                          1 if slow else 0, duration]  # fmt: skip
            self.s[index][path] = {key: 1}
            return
        mine[0] += 1
        if status >= 400:
            mine[1 if status >= 500 else 2] += 1
        if slow:
            mine[3] += 1
        mine[4] += duration
        counts = self.s[index][path]
        counts[key] = counts.get(key, 0) + 1

    def add(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        """Count one request since start and in its bucket (a batch that is not live)."""
        self.updates += 1
        server = 1 if status >= 500 else 0
        client = 1 if 400 <= status < 500 else 0
        was_slow = 1 if slow else 0
        key = _bin_key(duration) if duration > _MIN else _ZERO
        index = int(now // BUCKET_SECONDS)
        # Written out twice (since start, this bucket): no tuples or loops on the hot path.
        mine = self.ep.get(path)
        if mine is None:
            self.ep[path] = [1, server, client, was_slow, duration]
            self.sk[path] = {key: 1}
        else:
            mine[0] += 1
            mine[1] += server
            mine[2] += client
            mine[3] += was_slow
            mine[4] += duration
            counts = self.sk[path]
            counts[key] = counts.get(key, 0) + 1
        rows = self.b.get(index)
        if rows is None:
            rows = self.b[index] = {}
            self.s[index] = {}
        mine = rows.get(path)
        if mine is None:
            rows[path] = [1, server, client, was_slow, duration]
            self.s[index][path] = {key: 1}
        else:
            mine[0] += 1
            mine[1] += server
            mine[2] += client
            mine[3] += was_slow
            mine[4] += duration
            counts = self.s[index][path]
            counts[key] = counts.get(key, 0) + 1

    def payload(self) -> bytes:
        # Bin keys are ints on the hot path; JSON (and the script) sees them as strings.
        self.settle()
        return orjson.dumps(
            {
                "ep": self.ep,
                "sk": self.sk,
                "b": {str(i): rows for i, rows in self.b.items()},
                "s": {str(i): bins for i, bins in self.s.items()},
                "ss": self.sessions,
                "se": self.ended,
                "ct": self.counters,
            },
            option=orjson.OPT_NON_STR_KEYS,
        )


def merge_batches(into: Batch | None, other: Batch) -> Batch:
    """Add ``other`` into ``into`` (a new batch when ``into`` is None); the shipper's history."""
    out = Batch() if into is None else into
    out.merge(other)
    return out


def _rows(into: dict[str, Row], other: dict[str, Row]) -> None:
    for path, row in other.items():
        mine = into.get(path)
        if mine is None:
            into[path] = list(row)
        else:
            for i in range(5):
                mine[i] += row[i]


def _bins(into: dict[str, Bins], other: dict[str, Bins]) -> None:
    for path, bins in other.items():
        mine = into.setdefault(path, {})
        for key, n in bins.items():
            mine[key] = mine.get(key, 0) + n


def _stats(row: dict[int, float], bins: dict[str, int]) -> EndpointStats:
    out = EndpointStats()
    out.count = int(row.get(1, 0))
    out.errors = int(row.get(2, 0))
    out.client_errors = int(row.get(3, 0))
    out.slow = int(row.get(4, 0))
    out.total = float(row.get(5, 0.0))
    sketch = new_sketch()
    for key, n in bins.items():
        if n > 0:
            sketch.add(0.0 if key == _ZERO else _MAPPING.value(int(key)), n)
    out.sketch = sketch
    return out


def stats_of(rows: dict[str, Row], bins: dict[str, Bins]) -> dict[str, EndpointStats]:
    """Per-path stats from rows and bins in the wire shape (this process's own view)."""
    out: dict[str, EndpointStats] = {}
    for path, row in rows.items():
        stats = EndpointStats()
        stats.count, stats.errors, stats.client_errors, stats.slow = (int(x) for x in row[:4])
        stats.total = float(row[4])
        sketch = new_sketch()
        for key, n in bins.get(path, {}).items():
            sketch.add(0.0 if key == _ZERO else _MAPPING.value(int(key)), n)
        stats.sketch = sketch
        out[path] = stats
    return out


def hash_of(reply: list[str] | dict[str, float]) -> dict[str, Any]:
    """A hash as READ encodes it: HGETALL's flat list, or a table (``{}`` when empty)."""
    if isinstance(reply, dict):
        return reply
    return dict(zip(reply[::2], reply[1::2], strict=True))


def endpoints(rows: dict[str, Any], bins: dict[str, Any]) -> dict[str, EndpointStats]:
    by_path: dict[str, dict[int, float]] = {}
    for field, value in rows.items():
        path, _, i = field.rpartition("\t")
        by_path.setdefault(path, {})[int(i)] = float(value)
    bins_by_path: dict[str, dict[str, int]] = {}
    for field, value in bins.items():
        path, _, key = field.rpartition("\t")
        bins_by_path.setdefault(path, {})[key] = int(value)
    return {path: _stats(row, bins_by_path.get(path, {})) for path, row in by_path.items()}
