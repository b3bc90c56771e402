"""The reports' hot loop: lines decoded by :mod:`._decode` folded into facts, with the
rules (and the answers) of :func:`._fold.fold_lines` without a window.

A buffer of whole lines (a chunk of a plain file) is decoded a run of lines at a time:
the lines that do not start with ``{`` (text, blank, or an object after spaces) are
found by one regular expression and read one by one; each run of lines between them is
decoded by one call of :meth:`._decode.Decoder.decode_lines`, trusted only when it gives
exactly one event per line (below), else read line by line as a stream's lines are.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..schema import Ev
from ..timeparse import parse_ts
from . import _decode
from ._events import (
    ERROR_LEVELS,
    TWILIO_PREFIX,
    fold_affected,
    fold_event,
    fold_twilio,
)
from ._sections import add_packed, packed
from .facts import Facts

__all__ = ["fold_buffer", "fold_decoded"]

_BLANK = b" \t\r"
_INF = float("inf")
_LONG_LINE = _decode.LONG_LINE
_TEXT: Any = object()
"""In a batch of events (a tuple: see :func:`_line_batches`): a text event."""
_TEXT_ONLY = (_TEXT,)
_CAREFUL = frozenset(b" \t\n\r\x0b\x0c{")
"""First bytes of a line that may be blank or an object (``bytes.lstrip`` strips these)."""
_BATCH = 64  # lines decoded one at a time, then folded
_BREAKS = re.compile(rb"\n(?:(?=[^{])|(?<!}\n))").finditer
"""The newlines after a line that does not end with ``}``, or before one that does not
start with ``{``."""


def fold_decoded(
    facts: Facts, lines: Sequence[bytes], decoder: _decode.Decoder, carry: int | None
) -> int | None:
    """:func:`._fold.fold_lines` without a window, each line decoded by ``decoder``."""
    return _fold_events(facts, _line_batches(lines, decoder), decoder, carry)


def fold_buffer(
    facts: Facts, data: bytes, decoder: _decode.Decoder, carry: int | None
) -> int | None:
    """:func:`fold_decoded` of the lines of ``data`` (split on ``\\n``, a last line
    without one included; no byte order mark), decoded a run of lines at a time."""
    return _fold_events(facts, _buffer_batches(data, decoder), decoder, carry)


def _buffer_batches(data: bytes, decoder: _decode.Decoder) -> Iterator[Sequence[Any]]:
    """The events of the lines of ``data``, a run of lines (or one line) at a time: each
    batch is folded while its events are still in the CPU's cache.

    Runs of lines that start with ``{`` and end with ``}`` are decoded at once
    (:func:`_run`); the others (text, blank, an object after or before spaces, a cut
    line) one by one, as a stream's lines are."""
    one, view = _one, memoryview(data)  # runs decoded in place, not copied
    find, rfind, size, pos = data.find, data.rfind, len(data), 0
    if data[:1] != b"{":  # the first line is read alone
        pos = find(b"\n") + 1 or size + 1
        yield one(data[: pos - 1], decoder)
    for match in _BREAKS(data):
        at = match.start()  # a newline; the line before it may be odd, or the one after
        if at >= pos and data[at - 1] != 125:  # the line before does not end with b"}"
            start = rfind(b"\n", pos, at) + 1 or pos
            if start > pos:
                yield from _run(data, view, pos, start, decoder)
            yield one(data[start:at], decoder)
            pos = at + 1
        if at + 1 < size and data[at + 1] != 123:  # the line after does not start with b"{"
            if at + 1 > pos:
                yield from _run(data, view, pos, at + 1, decoder)
            end = find(b"\n", at + 1)
            if end < 0:
                end = size
            # most such lines are text: neither blank nor an object after spaces
            yield one(data[at + 1 : end], decoder) if data[at + 1] in _CAREFUL else _TEXT_ONLY
            pos = end + 1
    if pos < size:
        if data[-1] == 125 or data[-1] == 10:  # b"}" or b"\n": whole lines
            yield from _run(data, view, pos, size, decoder)
        else:  # the last line, without a newline, does not end with b"}"
            start = rfind(b"\n", pos) + 1 or pos
            if start > pos:
                yield from _run(data, view, pos, start, decoder)
            yield one(data[start:], decoder)


def _one(line: bytes, decoder: _decode.Decoder) -> Sequence[Any]:
    """The event of one line, as a batch: ``[event]`` when decoded, ``(event,)`` when
    the reader parsed it, :data:`_TEXT_ONLY`, or ``()`` for a blank line."""
    rec: Any = None
    if line[:1] == b"{":
        try:
            rec = decoder.decode(line)
        except decoder.errors:
            rec = decoder.fallback(line)
        else:
            if len(line) > _LONG_LINE and decoder.long(line):
                rec = decoder.fallback(line)
    elif line.lstrip()[:1] == b"{":
        rec = decoder.fallback(line)
    if rec is not None:
        return (rec,) if type(rec) is _decode.PARSED else [rec]
    return _TEXT_ONLY if line.strip(_BLANK) else ()


def _run(
    data: bytes, view: memoryview, start: int, end: int, decoder: _decode.Decoder
) -> list[Sequence[Any]]:
    """The events of ``data[start:end]``, whole lines that all start with ``{`` and end
    with ``}``, decoded at once (from ``view``, not copied) when that reads each as
    :func:`_line_batches` would: when they give as many events as there are lines.

    ``decode_lines`` reads values separated by any white space, so its events alone
    need not be the lines'. But a line starting with ``{`` after one ending with ``}``
    can only start a new value (within an object, ``}`` is followed by ``,``, ``}`` or
    ``]``; a string cannot hold a raw newline), so each line holds whole values; as
    many values as lines, each holds one: its own. Its struct has no list or object
    values (see :meth:`._decode.Decoder.decode_lines`)."""
    lines = data.count(b"\n", start, end) + (data[end - 1] != 10)  # b"\n"
    try:
        got = decoder.decode_lines(view[start:end])
    except decoder.errors:
        pass
    else:
        if len(got) == lines:
            return [got]
    split = data[start:end].split(b"\n")
    if split[-1] == b"":
        split.pop()
    return list(_line_batches(split, decoder))


def _line_batches(lines: Sequence[bytes], decoder: _decode.Decoder) -> Iterator[Sequence[Any]]:
    """The event of each line (:data:`_TEXT` for a text line; nothing for a blank one),
    decoded one at a time, each refused line read by the reader; in batches: lists of
    decoded lines, a tuple for each other event."""
    decode, refused, fallback, long = (
        decoder.decode, decoder.errors, decoder.fallback, decoder.long
    )  # fmt: skip
    long_line, parsed = _LONG_LINE, _decode.PARSED
    rec: _decode.Event | None
    for at in range(0, len(lines), _BATCH):
        events: list[Any] = []
        append = events.append
        for line in lines[at : at + _BATCH]:
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
            if rec is not None and type(rec) is not parsed:
                append(rec)
                continue
            if rec is None and not line.strip(_BLANK):
                continue  # a blank line is no event
            if events:
                yield events
                events = []
                append = events.append
            yield (rec,) if rec is not None else _TEXT_ONLY
        if events:
            yield events


def _fold_events(  # noqa: PLR0912, PLR0915 - the hot loop, inlined on purpose
    facts: Facts, batches: Iterable[Sequence[Any]], decoder: _decode.Decoder, carry: int | None
) -> int | None:
    """Fold decoded events (:data:`_TEXT` for a text event), as :func:`._fold.fold_lines`
    without a window.

    The request fold (three lines in four) is inlined, names and counters are local,
    only error, Twilio and health events go through :func:`fold_event`, and what can be
    counted after the loop is (events, requests per endpoint, their slowest and their
    histogram, counted in C from each endpoint's durations).
    """
    parse_time, text_mark, unset = parse_ts, _TEXT, decoder.UNSET
    request, error_levels, floor, twilio = Ev.REQUEST, ERROR_LEVELS, facts.floor, TWILIO_PREFIX
    called = frozenset((Ev.REQUEST, Ev.SIGNATURE_FAILED, Ev.HEALTH_FAILED))  # a decoded name
    # is text or None
    # per route, per method: the durations (two lookups of a string cost less than
    # one of a tuple); per endpoint: [requests without a duration, 5xx, 4xx]
    durations: dict[Any, dict[Any, list[float]]] = {}
    durations_get = durations.get
    counts: dict[tuple[Any, Any], list[int]] = {}
    ep = facts.ep_rows()
    text = head = untimed = error_lines = 0
    lo = _INF if facts.min_ts is None else facts.min_ts
    hi = -_INF if facts.max_ts is None else facts.max_ts
    last: int | None = None
    timed_before = facts.last_ts is not None
    slow: list[tuple[Any, ...]] = []
    events = 0
    for batch in batches:
        events += len(batch)
        if type(batch) is tuple:  # text events, and lines the reader parsed: any JSON types
            for rec in batch:
                if rec is text_mark:
                    text += 1
                    if last is None and not timed_before:
                        head += 1
                    continue
                ts = rec.ts
                ts = ts if type(ts) is int else parse_time(None if ts is unset else ts)
                if ts is None:
                    untimed += 1
                else:
                    last = ts
                    lo, hi = min(lo, ts), max(hi, ts)
                if rec.level in error_levels:
                    error_lines += 1
                fold_event(facts, rec, ts, slow, levels=False)
            continue
        for rec in batch:
            # decoded: each field holds its schema type, or None
            ts = rec.ts
            if type(ts) is int:
                last = ts
                if ts < lo:  # noqa: PLR1730 - a compare, not a call, in the hot loop
                    lo = ts
                if ts > hi:  # noqa: PLR1730 - a compare, not a call, in the hot loop
                    hi = ts
            else:
                ts = parse_time(ts)
                if ts is None:
                    untimed += 1
                else:
                    last = ts
                    lo, hi = min(lo, ts), max(hi, ts)
            if rec.level in error_levels:
                error_lines += 1
            event = rec.event
            if event is not request or rec.n is not None:
                if event in called or rec.hash is not None:
                    fold_event(facts, rec, ts, slow, levels=False)
                continue
            # a request (fold_event's _request, inlined)
            method, path = rec.method, rec.path
            by_method = durations_get(path)
            if by_method is None:
                by_method = durations[path] = {}
            found = by_method.get(method)
            if found is None:
                found = by_method[method] = []
                if (method, path) not in ep:  # in the order first met, as the reader's fold
                    ep[(method, path)] = [0, 0, None, 0, 0, {}]
            dur = rec.duration
            status = rec.status
            if dur is not None:
                found.append(dur)
                if dur > floor:
                    slow.append((ts, method, path, dur, status, rec.cid))
            else:
                _tally(counts, (method, path), 0)
            if status is not None and (status >= 300 or status < 200):  # not a 2xx
                if status >= 500:
                    _tally(counts, (method, path), 1)
                elif status >= 400:
                    _tally(counts, (method, path), 2)
                if path and path.startswith(twilio):
                    fold_twilio(facts, rec, ts, status, bad_signature=False)
            if rec.hash is not None:  # the error recorded during this request: its user
                fold_affected(facts, rec)  # was affected
    _add_requests(facts, durations, counts)
    span = (int(lo), int(hi)) if hi != -_INF else None
    counted = (events - text, text, head, untimed, error_lines)
    return _finish(facts, counted, span=span, slow=slow, last=last, carry=carry)


def _finish(
    facts: Facts,
    counted: tuple[int, int, int, int, int],
    *,
    span: tuple[int, int] | None,
    slow: list[tuple[Any, ...]],
    last: int | None,
    carry: int | None,
) -> int | None:
    """Add a fold's totals to ``facts``: ``counted`` (structured events, text events, text
    events before any time, untimed events, error-level events), the times seen (``span``,
    the lowest and highest, already merged with the facts' own), the slow rows, the last
    time; returns the time the next run's text events inherit (``carry`` if none)."""
    records, text, head, untimed, error_lines = counted
    facts.records += records
    facts.text += text
    facts.head_text += head
    facts.untimed += untimed
    facts.error_lines += error_lines
    if span is not None:
        facts.min_ts, facts.max_ts = span
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
    """Add a fold's per-endpoint tallies (durations per route and method; requests
    without a duration, 5xx, 4xx per endpoint) to ``facts.ep``."""
    ep = facts.ep_rows()
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
            add_packed(e, packed(found))  # counted when read (see Facts.ep)
