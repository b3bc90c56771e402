"""Folding events into :class:`~.facts.Facts`: the one loop the reports' cold read, the cache
and an append all run, so they agree to the last count.

Field values are read by the schema's types: a route, id, hash or message is text, a
status, ``n`` or ``count`` an integer (a float with no fraction counts), a duration a
number; a value of another JSON type counts as absent. An error line is one with a
``hash`` that is an ``error`` or ``aggregated_error`` event, or that carries ``n`` (a
first occurrence logged through a logger keeps the app's event name); it accounts for
``n`` occurrences, or, without ``n`` (older logs), 1 when it is an ``error`` and 0 else.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from ..schema import Ev, F
from ..timeparse import parse_ts
from . import _decode, _native
from ._decoded import fold_buffer, fold_decoded
from ._events import (
    ERROR_LEVELS,
    TWILIO_PREFIX,
    as_int,
    as_text,
    fold_affected,
    fold_event,
    fold_twilio,
)
from .base import TIMESTAMP, TextRecord
from .facts import Facts
from .reader import BOM, in_window, lines_in

__all__ = ["TWILIO_PREFIX", "fold_data", "fold_event", "fold_lines", "fold_record"]

_BLANK = b" \t\r"
_BATCH = 4096  # lines of a stream folded at a time


def fold_lines(
    facts: Facts,
    lines: Iterable[bytes],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    carry: int | None = None,
) -> int | None:
    """Fold lines (without their ``\\n``) read by the rules of :mod:`.reader`; only events
    in ``[since_ms, until_ms)`` count. ``carry``: the time text events inherit at the
    start. Returns the time they would inherit after the last line.

    The hot loop of a cold report, run once per line of the file. Without a window the
    lines are decoded by :mod:`._decode` (msgspec, about two thirds of the CPU of a
    parse: bench/results/query.md); with one, or without msgspec, each is parsed by the
    reader. Both give the same facts.
    """
    decoder = _decode.shared()
    if decoder is None or since_ms is not None or until_ms is not None:
        return _fold_parsed(facts, lines, since_ms=since_ms, until_ms=until_ms, carry=carry)
    if isinstance(lines, list):
        return fold_decoded(facts, lines, decoder, carry)
    it = iter(lines)
    while batch := list(itertools.islice(it, _BATCH)):
        carry = fold_decoded(facts, batch, decoder, carry)
    return carry


def fold_data(
    facts: Facts,
    data: bytes,
    *,
    at_start: bool,
    since_ms: int | None = None,
    until_ms: int | None = None,
    carry: int | None = None,
) -> int | None:
    """:func:`fold_lines` of the lines of a buffer read from a plain file (``at_start``:
    from its first byte), as :func:`.reader.lines_in` gives them; without a window,
    decoded a run of lines at a time (:func:`._decoded.fold_buffer`)."""
    windowed = since_ms is not None or until_ms is not None
    if not windowed and _native.AVAILABLE:  # C, and no msgspec to import
        if at_start and data[:3] == BOM:
            data = data[3:]
        return _native.fold_buffer(facts, data, carry)
    decoder = _decode.shared()
    if decoder is None or windowed:
        lines = lines_in(data, at_start=at_start)
        return fold_lines(facts, lines, since_ms=since_ms, until_ms=until_ms, carry=carry)
    if at_start and data[:3] == BOM:
        data = data[3:]
    return fold_buffer(facts, data, decoder, carry)


def _fold_parsed(  # noqa: PLR0912, PLR0915 - the hot loop, inlined on purpose
    facts: Facts,
    lines: Iterable[bytes],
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    carry: int | None = None,
) -> int | None:
    """:func:`fold_lines` with each line parsed by the reader (as :func:`.reader.parse`)."""
    loads, parse_time, windowed = (
        orjson.loads,
        parse_ts,
        since_ms is not None or until_ms is not None,
    )
    f_ts, f_event, f_method, f_path, f_status, f_dur, f_cid, f_level = (
        F.TS, F.EVENT, F.METHOD, F.PATH, F.STATUS, F.DURATION, F.CID, F.LEVEL,
    )  # fmt: skip
    # a tuple, not a set: a level may be any JSON value, a list included (unhashable)
    request, error_levels, floor, twilio = Ev.REQUEST, ERROR_LEVELS, facts.floor, TWILIO_PREFIX
    f_n, f_hash = F.OCCURRENCES, F.ERROR_HASH
    ep = facts.ep_dicts()
    ep_get = ep.get
    records = text = head = untimed = error_lines = 0
    lo, hi, last = facts.min_ts, facts.max_ts, facts.last_ts
    seen_timed = last is not None
    slow: list[tuple[Any, ...]] = []
    for line in lines:
        rec = None
        if line[:1] == b"{" or line.lstrip()[:1] == b"{":
            try:
                rec = loads(line)
            except ValueError:
                rec = None
        if type(rec) is not dict:
            if not line.strip(_BLANK):
                continue  # a blank line is no event
            if windowed and not in_window(carry, since_ms, until_ms):
                continue
            text += 1
            if not seen_timed:
                head += 1
            continue
        ts = rec.get(f_ts)
        if type(ts) is not int:
            ts = parse_time(ts)
        if ts is not None:
            carry = ts
        if windowed and not in_window(ts, since_ms, until_ms):
            continue
        records += 1
        if ts is None:
            untimed += 1
        else:
            seen_timed = True
            last = ts
            if lo is None or ts < lo:
                lo = ts
            if hi is None or ts > hi:
                hi = ts
        if rec.get(f_level) in error_levels:
            error_lines += 1
        if rec.get(f_event) != request or f_n in rec:
            fold_event(facts, rec, ts, slow, levels=False)
            continue
        # a request (fold_event's _request, inlined)
        method, path = rec.get(f_method), rec.get(f_path)
        if type(method) is not str:
            method = None
        if type(path) is not str:
            path = None
        key = (method, path)
        e = ep_get(key)
        if e is None:
            e = ep[key] = [0, 0, None, 0, 0, {}]
        e[0] += 1
        status = rec.get(f_status)
        if type(status) is not int:
            status = as_int(status)
        if status is not None:
            if status >= 500:
                e[3] += 1
            elif status >= 400:
                e[4] += 1
        value: Any = rec.get(f_dur)
        kind = type(value)
        if kind is float or kind is int:
            dur: float = float(value) if kind is int else value
            if e[2] is None or dur > e[2]:
                e[2] = dur
            hist = e[5]
            hist[dur] = hist.get(dur, 0) + 1
            if dur > floor:
                slow.append((ts, method, path, dur, status, as_text(rec.get(f_cid))))
        else:
            e[1] += 1
        if status is not None and not 200 <= status < 300 and path and path.startswith(twilio):
            fold_twilio(facts, rec, ts, status, bad_signature=False)
        if f_hash in rec:  # the error recorded during this request: its user was affected
            fold_affected(facts, rec)
    facts.records += records
    facts.text += text
    facts.head_text += head
    facts.untimed += untimed
    facts.error_lines += error_lines
    facts.min_ts, facts.max_ts, facts.last_ts = lo, hi, last
    if slow:
        facts.add_slow(slow)
    return carry


def fold_record(facts: Facts, record: Mapping[str, Any]) -> None:
    """Fold one record of a :class:`~.base.Source` (its time in ``@timestamp``)."""
    ts = record.get(TIMESTAMP)
    ts = ts if type(ts) is int else None
    if isinstance(record, TextRecord):
        facts.text += 1
        if facts.last_ts is None:
            facts.head_text += 1
        return
    _count(facts, ts)
    slow: list[tuple[Any, ...]] = []
    fold_event(facts, record, ts, slow)
    if slow:
        facts.add_slow(slow)


def _count(facts: Facts, ts: int | None) -> None:
    facts.records += 1
    if ts is None:
        facts.untimed += 1
        return
    if facts.min_ts is None or ts < facts.min_ts:
        facts.min_ts = ts
    if facts.max_ts is None or ts > facts.max_ts:
        facts.max_ts = ts
    facts.last_ts = ts
