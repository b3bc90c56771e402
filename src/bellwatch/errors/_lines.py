"""The error family's lines: what the first line, a summary and an escalation say.

The first occurrence of a fingerprint is written in full (route, status, traceback);
later ones as ``aggregated_error`` summaries. What ``count`` on a summary means
depends on the mode:

- ``every_n``: the fingerprint's running total (10, 20, 30, ...), as in the guide;
- ``window``: the occurrences since that fingerprint's previous line, so the counts
  of its lines (the first line stands for 1) add up to its total.

``n`` (:data:`~bellwatch.schema.F.OCCURRENCES`) is what a line accounts for: 1 on a
first line, the occurrences a summary states; an ``error_escalated`` line has none.
The aggregator decides which line is due; these functions only shape it. Imports
:mod:`bellwatch.log` (the first-line budget marker, the compact traceback), the
schema and the patterns' :class:`~bellwatch.store.patterns.Pattern`.
"""

from __future__ import annotations

from typing import Any

from ..log.pipeline import FIRST_LINE
from ..log.processors import compact_traceback
from ..schema import Ev, F, Sev
from ..store.patterns import Hit, Pattern, Policy
from .fingerprint import error_message

__all__ = ["escalation", "first_line", "mark_first_line", "summary"]


def first_line(
    exc: BaseException, hit: Hit, endpoint: str | None, status: int | None, handled: bool
) -> dict[str, Any]:
    """The fingerprint's first line, in full: route, status, traceback, with its own
    budget (``error_line_max``) so that they fit; a handled low one needs no traceback."""
    p = hit.pattern
    event: dict[str, Any] = {
        "event": Ev.ERROR,
        F.ERROR_HASH: p.hash,
        F.ERROR_TYPE: p.type,
        F.MESSAGE: error_message(exc),
        F.SEVERITY: hit.severity,
        F.OCCURRENCES: 1,
    }
    if endpoint is not None:
        event[F.PATH] = endpoint
    if status is not None:
        event[F.STATUS] = status
    if hit.announce:
        event[F.ESCALATED] = True
    if not (handled and hit.severity == Sev.LOW):
        _add_where(event, exc)
    event[FIRST_LINE] = True
    return event


def mark_first_line(
    event: dict[str, Any], exc: BaseException, hit: Hit, route: str | None
) -> dict[str, Any]:
    """A logger call's ``event`` made the fingerprint's first line (the app's own event
    name and fields stay)."""
    p = hit.pattern
    event[F.ERROR_HASH] = p.hash
    event[F.SEVERITY] = hit.severity
    event[F.OCCURRENCES] = 1
    event.setdefault(F.ERROR_TYPE, p.type)
    event.setdefault(F.MESSAGE, error_message(exc))
    if route is not None:
        event[F.PATH] = route
    if hit.announce:
        event[F.ESCALATED] = True
    # The traceback is written here, once (popping exc_info would let
    # log.exception add it back); a validation error needs none.
    event["exc_info"] = False
    if hit.severity != Sev.LOW:
        _add_where(event, exc)
    event[FIRST_LINE] = True
    return event


def summary(
    policy: Policy,
    p: Pattern,
    count: int,
    severity: str,
    *,
    announce: bool = False,
    n: int | None = None,
) -> dict[str, Any]:
    """An ``aggregated_error`` line: ``count`` as the mode means it, ``n`` what it states."""
    event: dict[str, Any] = {
        "event": Ev.AGGREGATED_ERROR,
        F.ERROR_HASH: p.hash,
        F.ERROR_TYPE: p.type,
        F.MESSAGE: p.message,
        F.SEVERITY: severity,
        F.COUNT: count,
    }
    if n is not None:  # an escalation line accounts for no occurrence
        event[F.OCCURRENCES] = n
    if p.endpoint is not None:
        event[F.PATH] = p.endpoint
    if announce:
        event[F.ESCALATED] = True
    if policy.mode == "window":
        # Tells a reader that counts are per line and must be summed, not maxed.
        event[F.WINDOW] = round(policy.window)
    return event


def escalation(policy: Policy, p: Pattern, count: int, severity: str) -> dict[str, Any]:
    """An ``error_escalated`` line (every-Nth mode): no ``n``, no message (the first line
    said it; this one stays inside the budget)."""
    event = summary(policy, p, count, severity)
    event["event"] = Ev.ERROR_ESCALATED
    event[F.ESCALATED] = True
    del event[F.MESSAGE]
    return event


def _add_where(event: dict[str, Any], exc: BaseException) -> None:
    """The traceback's frames, when it has any (an exception passed without being raised
    has none: no empty ``exc``)."""
    where = compact_traceback(exc)
    if where:
        event[F.EXC] = where
