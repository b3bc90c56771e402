"""How one structured event adds to :class:`~.facts.Facts`: requests, Twilio webhooks,
health checks, errors and the users they affected, by the rules of :mod:`._fold`; and
reading a field's value by the schema's type (a value of another JSON type counts as
absent)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..schema import Ev, F, Sev
from . import _decode
from ._sections import counting, merge_error, merge_twilio
from .facts import Facts

__all__ = [
    "ERROR_LEVELS", "TWILIO_PREFIX", "Fields", "as_int", "as_text", "fold_affected", "fold_event",
    "fold_twilio", "fold_webhook",
]  # fmt: skip

TWILIO_PREFIX = "/twilio"
ERROR_LEVELS = ("ERROR", "CRITICAL")
"""Levels counted as error lines (a tuple, not a set: a level may be any JSON value, a
list included, which is unhashable)."""
Fields = Mapping[str, Any] | _decode.Event
"""An event as the fold reads it: a parsed record, or a decoded line."""
_RANK = {s: i for i, s in enumerate(Sev.ORDER)}
_ERROR_EVENTS = (Ev.ERROR, Ev.AGGREGATED_ERROR)


def fold_event(
    facts: Facts,
    rec: Fields,
    ts: int | None,
    slow: list[tuple[Any, ...]],
    *,
    levels: bool = True,
) -> None:
    """Fold one structured event; requests slower than the floor are appended to ``slow``.
    ``levels``: count an ERROR or CRITICAL level here (the hot loop counts its own)."""
    event = rec.get(F.EVENT)
    if levels and rec.get(F.LEVEL) in ERROR_LEVELS:
        facts.error_lines += 1
    if event == Ev.REQUEST:
        _request(facts, rec, ts, slow)
    elif event == Ev.SIGNATURE_FAILED:
        fold_twilio(facts, rec, ts, None, bad_signature=True)
    elif event == Ev.HEALTH_FAILED:
        facts.health_failures += 1
    key = rec.get(F.ERROR_HASH)
    if type(key) is str:
        n = as_int(rec.get(F.OCCURRENCES))
        if event in _ERROR_EVENTS or n is not None:
            _error(facts, key, rec, ts, n=n if n is not None and n >= 0 else None, event=event)
        fold_affected(facts, rec)


def fold_affected(facts: Facts, rec: Fields) -> None:
    """A line with a fingerprint and a ``uid``: that user was affected by that error.

    An integer uid (``bind(uid=user.id)``) is that user, by its text, as the monitor and
    the users report count it.
    """
    key, uid = rec.get(F.ERROR_HASH), rec.get(F.USER_ID)
    if type(uid) is int:
        uid = str(uid)
    if type(key) is str and type(uid) is str:
        users = facts.eu.get(key)
        if users is None:
            facts.eu[key] = {uid}
        else:
            users.add(uid)


def _request(facts: Facts, rec: Fields, ts: int | None, slow: list[tuple[Any, ...]]) -> None:
    method, path = as_text(rec.get(F.METHOD)), as_text(rec.get(F.PATH))
    status, dur = rec.get(F.STATUS), rec.get(F.DURATION)
    if type(status) is not int:
        status = as_int(status)
    dur = float(dur) if type(dur) is float or type(dur) is int else None
    ep = facts.ep_rows()
    e = ep.get((method, path))
    if e is None:
        e = ep[(method, path)] = [0, 0, None, 0, 0, {}]
    e[0] += 1
    if status is not None:
        if status >= 500:
            e[3] += 1
        elif status >= 400:
            e[4] += 1
    if dur is not None:
        if e[2] is None or dur > e[2]:
            e[2] = dur
        hist = e[5] if type(e[5]) is dict else counting(e)
        hist[dur] = hist.get(dur, 0) + 1
        if dur > facts.floor:
            slow.append((ts, method, path, dur, status, as_text(rec.get(F.CID))))
    else:
        e[1] += 1
    failed = status is not None and not 200 <= status < 300
    if failed and path is not None and path.startswith(TWILIO_PREFIX):
        fold_twilio(facts, rec, ts, status, bad_signature=False)


def fold_twilio(
    facts: Facts, rec: Fields, ts: int | None, status: int | None, *, bad_signature: bool
) -> None:
    """Count a failed Twilio webhook (a non-2xx ``status``, or a bad signature) against
    its CallSid, once per correlation id."""
    fold_webhook(
        facts,
        as_text(rec.get(F.SESSION_ID)),
        as_text(rec.get(F.CID)),
        as_text(rec.get(F.PATH)),
        ts=ts,
        status=status,
        bad_signature=bad_signature,
    )


def fold_webhook(
    facts: Facts,
    sid: str | None,
    cid: str | None,
    path: str | None,
    *,
    ts: int | None,
    status: int | None,
    bad_signature: bool,
) -> None:
    """:func:`fold_twilio` of a webhook's fields, read already (text or ``None``)."""
    sid = sid or "?"
    ids = {cid} if cid is not None else set()
    row = [ids, set(ids) if bad_signature else set(), int(cid is None),
           int(cid is None and bad_signature), {status} if status is not None else set(),
           {path} if path is not None else set(), ts, ts, cid,
           ts if cid is not None else None]  # fmt: skip
    merge_twilio(facts.tw, sid, row)


def _error(
    facts: Facts,
    key: str,
    rec: Fields,
    ts: int | None,
    *,
    n: int | None,
    event: Any,
) -> None:
    sev = as_text(rec.get(F.SEVERITY))
    rank = _RANK.get(sev or "")
    cid = as_text(rec.get(F.CID))
    path = as_text(rec.get(F.PATH))
    occurrences = n if n is not None else int(event == Ev.ERROR)
    row = [occurrences, rank, sev if rank is not None else None, ts,
           as_text(rec.get(F.ERROR_TYPE)), as_text(rec.get(F.MESSAGE)), ts, cid,
           ts if cid is not None else None, {path} if path is not None else set()]  # fmt: skip
    merge_error(facts.err, key, row)


def as_text(value: object) -> str | None:
    """A text field's value, or ``None`` when it is not text."""
    return value if type(value) is str else None


def as_int(value: object) -> int | None:
    """An integer field's value (a float with no fraction counts), or ``None``."""
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None
