"""The cold fold of a buffer with the C scanner (``_scan.c``), where it was built.

:func:`fold_buffer` gives the facts :func:`._decoded.fold_buffer` gives, at about a third
of its CPU per line (bench/results/query.md). The C code folds the lines it can be sure
of (plain bellwatch events, failed webhooks, text lines) and stops at any other; that
line is parsed here by the reader (:func:`.reader.parse`), folded into the same counters,
and the scan goes on after it. Lines are folded in file order either way, so slow rows and
endpoints keep the order the Python fold gives them.

The extension is optional (``pip install`` builds it where a C compiler is found):
without it, :data:`AVAILABLE` is false and the Python fold runs, with the same answers.
"""

from __future__ import annotations

import struct
from typing import Any

from ..schema import Ev, F
from ..timeparse import parse_ts
from ._cext import scan as _scan
from ._decoded import _finish, _tally  # the Python fold's own tally and totals
from ._events import (
    ERROR_LEVELS,
    TWILIO_PREFIX,
    as_int,
    as_text,
    fold_affected,
    fold_event,
    fold_twilio,
    fold_webhook,
)
from ._sections import add_packed
from .facts import Facts
from .reader import parse

__all__ = ["AVAILABLE", "fold_buffer"]

AVAILABLE = _scan is not None
"""Whether the C scanner was built (else :func:`._decoded.fold_buffer` folds)."""

if _scan is not None:
    # The names the scanner reads, from the schema (it holds none of its own).
    _scan.configure(
        (F.TS, F.LEVEL, F.EVENT, F.CID, F.METHOD, F.PATH, F.STATUS, F.DURATION,
         F.ERROR_HASH, F.OCCURRENCES, F.SESSION_ID),
        (Ev.REQUEST, Ev.SIGNATURE_FAILED, Ev.HEALTH_FAILED),
        ERROR_LEVELS,
        TWILIO_PREFIX,
    )  # fmt: skip

_Into = tuple[
    dict[Any, dict[Any, bytearray]],
    dict[tuple[Any, Any], list[int]],
    dict[tuple[Any, Any], list[Any]],
    list[tuple[Any, ...]],
]
"""The scanner's tallies: durations, counts, endpoints, slow rows."""

_BLANK = b" \t\r"  # a line of only these is no event (the reader's rule)
_DOUBLE = struct.Struct("d").pack  # as array("d") packs: native byte order
_DOUBLE_SIZE = 8

# The counters the scanner and :func:`_fold_line` share (``_scan.c``'s S_* order).
_RECORDS, _TEXT, _HEAD, _UNTIMED, _ERROR_LINES, _LO, _HI, _LAST, _TIMED_BEFORE = range(9)


def fold_buffer(facts: Facts, data: bytes, carry: int | None) -> int | None:
    """:func:`._decoded.fold_buffer`, the plain lines folded in C (see the module
    docstring); needs :data:`AVAILABLE`. No msgspec: the few lines handed back are
    parsed by the reader itself."""
    assert _scan is not None, "the C scanner was not built: check AVAILABLE first"
    fold, find, size = _scan.fold, data.find, len(data)
    state: list[Any] = [0, 0, 0, 0, 0, facts.min_ts, facts.max_ts, None, facts.last_ts is not None]
    durations: dict[Any, dict[Any, bytearray]] = {}
    counts: dict[tuple[Any, Any], list[int]] = {}
    slow: list[tuple[Any, ...]] = []
    ep, floor = facts.ep_rows(), facts.floor
    pos = 0

    def webhook(ts: int, status: int, sid: str | None, cid: str | None, path: str) -> None:
        fold_webhook(facts, sid, cid, path, ts=ts, status=status, bad_signature=False)

    while (pos := fold(data, pos, state, durations, counts, ep, slow, floor, webhook)) < size:
        end = find(b"\n", pos)
        if end < 0:
            end = size
        _fold_line(facts, data[pos:end], state, (durations, counts, ep, slow))
        if end >= size:
            break
        pos = end + 1
    _add_requests(facts, durations, counts)
    records, text, head, untimed, error_lines, lo, hi, last, _ = state
    span = (lo, hi) if hi is not None else None
    counted = (records, text, head, untimed, error_lines)
    return _finish(facts, counted, span=span, slow=slow, last=last, carry=carry)


def _fold_line(facts: Facts, line: bytes, state: list[Any], into: _Into) -> None:
    """Fold one line the scanner handed back (rare: a few in a thousand), read by the
    reader's rules and folded as the Python fold folds a line the reader parsed; a
    request into the scanner's tallies (``into``), so that the endpoints' histograms are
    counted once, at the end."""
    rec = parse(line)
    if rec is None:
        if line.strip(_BLANK):  # else a blank line: no event
            state[_TEXT] += 1
            if state[_LAST] is None and not state[_TIMED_BEFORE]:
                state[_HEAD] += 1
        return
    state[_RECORDS] += 1
    ts = rec.get(F.TS)
    if type(ts) is not int:
        ts = parse_ts(ts)
    if ts is None:
        state[_UNTIMED] += 1
    else:
        state[_LAST] = ts
        lo, hi = state[_LO], state[_HI]
        state[_LO] = ts if lo is None or ts < lo else lo
        state[_HI] = ts if hi is None or ts > hi else hi
    if rec.get(F.LEVEL) in ERROR_LEVELS:
        state[_ERROR_LINES] += 1
    if rec.get(F.EVENT) == Ev.REQUEST and as_int(rec.get(F.OCCURRENCES)) is None:
        _request(facts, rec, ts, into)
        if type(rec.get(F.ERROR_HASH)) is str:  # the error recorded during this request:
            fold_affected(facts, rec)  # its user was affected
    else:
        fold_event(facts, rec, ts, into[3], levels=False)


def _request(facts: Facts, rec: dict[str, Any], ts: int | None, into: _Into) -> None:
    """:func:`._events.fold_event`'s request, into the scanner's tallies: per route, per
    method, the durations; per endpoint, requests without one, 5xx, 4xx."""
    durations, counts, ep, slow = into
    method, path = as_text(rec.get(F.METHOD)), as_text(rec.get(F.PATH))
    status, dur = rec.get(F.STATUS), rec.get(F.DURATION)
    if type(status) is not int:
        status = as_int(status)
    dur = float(dur) if type(dur) is float or type(dur) is int else None
    by_method = durations.setdefault(path, {})
    found = by_method.get(method)
    if found is None:
        found = by_method[method] = bytearray()
        if (method, path) not in ep:  # in the order first met
            ep[(method, path)] = [0, 0, None, 0, 0, {}]
    if dur is not None:
        found += _DOUBLE(dur)
        if dur > facts.floor:
            slow.append((ts, method, path, dur, status, as_text(rec.get(F.CID))))
    else:
        _tally(counts, (method, path), 0)
    if status is not None and not 200 <= status < 300:
        if status >= 500:
            _tally(counts, (method, path), 1)
        elif status >= 400:
            _tally(counts, (method, path), 2)
        if path is not None and path.startswith(TWILIO_PREFIX):
            fold_twilio(facts, rec, ts, status, bad_signature=False)


def _add_requests(
    facts: Facts,
    durations: dict[Any, dict[Any, bytearray]],
    counts: dict[tuple[Any, Any], list[int]],
) -> None:
    """:func:`._decoded._add_requests` of durations already packed (by the scanner)."""
    ep = facts.ep_rows()
    for path, by_method in durations.items():
        for method, found in by_method.items():
            key = (method, path)
            untimed, n5xx, n4xx = counts.get(key, (0, 0, 0))
            e = ep.get(key)
            if e is None:
                e = ep[key] = [0, 0, None, 0, 0, {}]
            timed = len(found) // _DOUBLE_SIZE
            e[0] += untimed + timed
            e[1] += untimed
            e[3] += n5xx
            e[4] += n4xx
            if not timed:
                continue
            add_packed(e, bytes(found))  # counted when read (see Facts.ep)
