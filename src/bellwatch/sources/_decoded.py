"""The reports' hot loop: lines decoded by :mod:`._decode` folded into facts, with the
rules (and the answers) of :func:`._fold.fold_lines` without a window."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from ..schema import Ev
from ..timeparse import parse_ts
from . import _decode
from ._events import (
    ERROR_LEVELS,
    TWILIO_PREFIX,
    as_int,
    fold_affected,
    fold_event,
    fold_twilio,
)
from .facts import Facts

__all__ = ["fold_decoded"]

_BLANK = b" \t\r"
_INF = float("inf")
_LONG_LINE = _decode.LONG_LINE


def fold_decoded(  # noqa: PLR0912, PLR0915 - the hot loop, inlined on purpose
    facts: Facts, lines: Sequence[bytes], decoder: _decode.Decoder, carry: int | None
) -> int | None:
    """:func:`._fold.fold_lines` without a window, each line decoded by ``decoder``.

    The reader's rules and the request fold (three lines in four) are inlined, names and
    counters are local, only error, Twilio and health events go through
    :func:`fold_event`, and what can be counted after the loop is (events, requests per
    endpoint, their slowest and their histogram, counted in C from each endpoint's
    durations).
    """
    decode, refused, fallback, long = (
        decoder.decode, decoder.errors, decoder.fallback, decoder.long
    )  # fmt: skip
    unset, parse_time, long_line = decoder.UNSET, parse_ts, _LONG_LINE
    request, error_levels, floor, twilio = Ev.REQUEST, ERROR_LEVELS, facts.floor, TWILIO_PREFIX
    called = (Ev.REQUEST, Ev.SIGNATURE_FAILED, Ev.HEALTH_FAILED)
    # per route, per method: the durations (two lookups of a string cost less than
    # one of a tuple); per endpoint: [requests without a duration, 5xx, 4xx]
    durations: dict[Any, dict[Any, list[float]]] = {}
    durations_get = durations.get
    counts: dict[tuple[Any, Any], list[int]] = {}
    ep = facts.ep
    blank = text = head = untimed = error_lines = 0
    lo = _INF if facts.min_ts is None else facts.min_ts
    hi = -_INF if facts.max_ts is None else facts.max_ts
    last: int | None = None
    timed_before = facts.last_ts is not None
    slow: list[tuple[Any, ...]] = []
    rec: _decode.Event | None
    for line in lines:
        if line and line[0] == 123:  # b"{", without slicing a bytes object off
            try:
                rec = decode(line)
            except refused:
                rec = fallback(line)
                decode = decoder.decode  # it may have learned the line's keys
            else:
                if len(line) > long_line and long(line):
                    rec = fallback(line)
        elif line.lstrip()[:1] == b"{":
            rec = fallback(line)
        else:
            rec = None
        if rec is None:
            if not line.strip(_BLANK):
                blank += 1  # a blank line is no event
                continue
            text += 1
            if last is None and not timed_before:
                head += 1
            continue
        ts: int | None = rec.ts
        if type(ts) is int:
            last = ts
            if ts < lo:  # noqa: PLR1730 - a compare, not a call, in the hot loop
                lo = ts
            if ts > hi:  # noqa: PLR1730 - a compare, not a call, in the hot loop
                hi = ts
        else:
            ts = parse_time(None if ts is unset else ts)
            if ts is None:
                untimed += 1
            else:
                last = ts
                lo, hi = min(lo, ts), max(hi, ts)
        if rec.level in error_levels:
            error_lines += 1
        event = rec.event
        # identity first: a decoded name is the string the decoder holds; an equal one
        # from the reader takes the other way, which folds requests as well
        if event is not request or rec.n is not unset:
            if event in called or type(rec.hash) is str:
                fold_event(facts, rec, ts, slow, levels=False)
            continue
        # a request (fold_event's _request, inlined)
        method, path = rec.method, rec.path
        if type(method) is not str:
            method = None
        if type(path) is not str:
            path = None
        by_method = durations_get(path)
        if by_method is None:
            by_method = durations[path] = {}
        found = by_method.get(method)
        if found is None:
            found = by_method[method] = []
            if (method, path) not in ep:  # in the order first met, as the reader's fold
                ep[(method, path)] = [0, 0, None, 0, 0, {}]
        value: Any = rec.duration
        kind = type(value)
        status = rec.status
        if type(status) is not int:
            status = as_int(status)
        if kind is float or kind is int:
            dur: float = value if kind is float else float(value)
            found.append(dur)
            if dur > floor:
                cid = rec.cid
                slow.append((ts, method, path, dur, status, cid if type(cid) is str else None))
        else:
            _tally(counts, (method, path), 0)
        if status is not None and (status >= 300 or status < 200):  # not a 2xx
            if status >= 500:
                _tally(counts, (method, path), 1)
            elif status >= 400:
                _tally(counts, (method, path), 2)
            if path and path.startswith(twilio):
                fold_twilio(facts, rec, ts, status, bad_signature=False)
        if rec.hash is not unset:  # the error recorded during this request: its user was affected
            fold_affected(facts, rec)
    _add_requests(facts, durations, counts)
    facts.records += len(lines) - blank - text
    facts.text += text
    facts.head_text += head
    facts.untimed += untimed
    facts.error_lines += error_lines
    if hi != -_INF:
        facts.min_ts, facts.max_ts = int(lo), int(hi)
    if slow:
        facts.add_slow(slow)
    if last is None:
        return carry
    facts.last_ts = last
    return last


def _tally(counts: dict[tuple[Any, Any], list[int]], key: tuple[Any, Any], i: int) -> None:
    found = counts.get(key)
    if found is None:
        found = counts[key] = [0, 0, 0]
    found[i] += 1


def _add_requests(
    facts: Facts,
    durations: dict[Any, dict[Any, list[float]]],
    counts: dict[tuple[Any, Any], list[int]],
) -> None:
    """Add :func:`_fold_decoded`'s per-endpoint tallies to ``facts.ep``."""
    ep = facts.ep
    pairs = ((method, path, found) for path, m in durations.items() for method, found in m.items())
    for method, path, found in pairs:
        key = (method, path)
        untimed, n5xx, n4xx = counts.get(key, (0, 0, 0))
        e = ep.get(key)
        if e is None:
            e = ep[key] = [0, 0, None, 0, 0, {}]
        e[0] += untimed + len(found)
        e[1] += untimed
        e[3] += n5xx
        e[4] += n4xx
        if found:
            top = max(found)
            if e[2] is None or top > e[2]:
                e[2] = top
            hist, counted = e[5], Counter(found)
            if hist:
                for value, n in counted.items():
                    hist[value] = hist.get(value, 0) + n
            else:
                hist.update(counted)
