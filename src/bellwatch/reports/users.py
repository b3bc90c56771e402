"""The ``users`` report: distinct users per hour or day, top users, users each error hurt.

Counted from the ``uid`` on the lines (with ``hash_uid`` on: its keyed hash; an integer
uid counts as its text, as the monitor counts it). Over local files (and any source
without a query engine) the counts are exact: every ``uid`` is kept in a set, which is
cheap at the scale of one file set. Over a CloudWatch log group the report runs Logs
Insights queries where the logs live; their ``count_distinct`` is an approximation for
fields with many values (AWS's documentation says so), and the rows say ``exact: false``.

Rows, each with a ``section``:

- ``total``: ``users`` (distinct), ``requests`` (request lines of a user), ``exact``;
- ``period``: ``start`` (epoch ms, the hour or day), ``users``, ``requests``;
- ``top_requests`` / ``top_errors``: ``uid``, ``requests``, ``errors`` (requests answered
  5xx, or during which an error was recorded: the line carries ``hash``);
- ``error``: ``hash``, ``users`` (distinct users on the lines that carry the hash:
  request lines name the error recorded during them), ``type``, ``msg``.
"""

from __future__ import annotations

from typing import Any

from ..query.flags import at_least, equals, non_empty
from ..schema import Ev, F
from ..sources.base import TIMESTAMP, Source, TextRecord
from . import _insights
from ._types import Report, answer

__all__ = ["PERIODS", "users", "users_per_error"]

PERIODS = {"hour": 3_600_000, "day": 86_400_000}
"""The period a row counts, in milliseconds."""

_REQ = f'{F.EVENT} = "{Ev.REQUEST}"'
# Flags, not comparisons, in `fields` (see bellwatch.query.flags): a request is a user's
# failure when it is a 5xx or carries an error's fingerprint.
_IS_REQ = equals(F.EVENT, Ev.REQUEST)
_FAILED = f"least(coalesce({at_least(F.STATUS, 500)}, 0) + {non_empty(F.ERROR_HASH)}, 1)"
_ERROR_FAMILY = (Ev.ERROR, Ev.AGGREGATED_ERROR)


def users(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    by: str = "hour",
    limit: int = 10,
) -> Report:
    """Distinct users in ``[since_ms, until_ms)``: in all, per ``by`` (``hour`` or ``day``),
    the ``limit`` top users by requests and by errors, and per error fingerprint.

    Raises:
        ValueError: ``by`` is not ``hour`` or ``day``.
    """
    if by not in PERIODS:
        raise ValueError(f"by: expected hour or day, got {by!r}")
    from . import _facts

    if not _facts.local(source):
        found = _from_insights(source, since_ms, until_ms, by, limit)
        if found is not None:
            return answer(found, source.stats)
    return answer(_fold(source, since_ms, until_ms, PERIODS[by], limit), source.stats)


def users_per_error(source: Source, since_ms: int | None, until_ms: int | None) -> dict[str, int]:
    """Distinct users per fingerprint from Logs Insights (``{}`` without a query engine)."""
    rows = source.run_insights(_PER_ERROR, since_ms, until_ms) or []
    return {str(r[F.ERROR_HASH]): int(r.get("users") or 0) for r in rows if r.get(F.ERROR_HASH)}


# -- exact, over the records --------------------------------------------------------------


def _fold(
    source: Source, since_ms: int | None, until_ms: int | None, period: int, limit: int
) -> list[dict[str, Any]]:
    everyone: set[str] = set()
    periods: dict[int, list[Any]] = {}  # start -> [users, requests]
    requests: dict[str, int] = {}
    failed: dict[str, int] = {}
    affected: dict[str, set[str]] = {}
    facts: dict[str, tuple[Any, Any]] = {}  # hash -> (type, msg) of its first error line
    for record in source.records(since_ms, until_ms):
        if isinstance(record, TextRecord):
            continue
        uid = _uid(record.get(F.USER_ID))
        key = record.get(F.ERROR_HASH)
        if type(key) is str and key not in facts and record.get(F.EVENT) in _ERROR_FAMILY:
            facts[key] = (record.get(F.ERROR_TYPE), record.get(F.MESSAGE))
        if uid is None:
            continue
        everyone.add(uid)
        ts = record.get(TIMESTAMP)
        bucket = None
        if type(ts) is int:
            bucket = periods.get(ts - ts % period)
            if bucket is None:
                bucket = periods[ts - ts % period] = [set(), 0]
            bucket[0].add(uid)
        if type(key) is str:
            affected.setdefault(key, set()).add(uid)
        if record.get(F.EVENT) == Ev.REQUEST:
            requests[uid] = requests.get(uid, 0) + 1
            if bucket is not None:
                bucket[1] += 1
            status = record.get(F.STATUS)
            if (type(status) is int and status >= 500) or type(key) is str:
                failed[uid] = failed.get(uid, 0) + 1
    rows: list[dict[str, Any]] = [
        {
            "section": "total",
            "users": len(everyone),
            "requests": sum(requests.values()),
            "exact": True,
        }
    ]
    rows += [
        {"section": "period", "start": start, "users": len(b[0]), "requests": b[1]}
        for start, b in sorted(periods.items())
    ]
    rows += _top("top_requests", requests, failed, limit)
    rows += _top("top_errors", failed, requests, limit)
    worst = sorted(affected.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:limit]
    rows += [
        {
            "section": "error",
            "hash": key,
            "users": len(uids),
            "type": facts.get(key, (None,))[0],
            "msg": facts.get(key, (None, None))[1],
        }
        for key, uids in worst
    ]
    return rows


def _uid(value: Any) -> str | None:
    """The user a line names, as the monitor counts it: text, or an integer id as its
    text (``bind(uid=user.id)`` logs an int), so ``42`` and ``"42"`` are one user."""
    if type(value) is str:
        return value or None  # an empty uid names nobody, as for the middleware
    if type(value) is int:
        return str(value)
    return None


def _top(
    section: str, by: dict[str, int], other: dict[str, int], limit: int
) -> list[dict[str, Any]]:
    best = sorted(by.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    main, rest = ("requests", "errors") if section == "top_requests" else ("errors", "requests")
    return [{"section": section, "uid": uid, main: n, rest: other.get(uid, 0)} for uid, n in best]


# -- Logs Insights, where the logs live (count_distinct is approximate) ---------------------

_PER_ERROR = (
    f"filter ispresent({F.ERROR_HASH}) and ispresent({F.USER_ID})\n"
    f"| stats count_distinct({F.USER_ID}) as users by {F.ERROR_HASH}\n"
    "| sort users desc\n"
    "| limit 100"
)


def _queries(by: str, limit: int) -> dict[str, str]:
    step = "1h" if by == "hour" else "1d"
    return {
        "total": f"filter ispresent({F.USER_ID})\n"
        f"| fields {_IS_REQ} as is_req\n"
        f"| stats count_distinct({F.USER_ID}) as users, sum(is_req) as requests",
        "period": f"filter ispresent({F.USER_ID})\n"
        f"| fields {_IS_REQ} as is_req\n"
        f"| stats count_distinct({F.USER_ID}) as users, sum(is_req) as requests"
        f" by bin({step}) as start\n"
        "| sort start asc",
        "top_requests": f"filter {_REQ} and ispresent({F.USER_ID})\n"
        f"| fields {_FAILED} as failed\n"
        f"| stats count(*) as requests, sum(failed) as errors by {F.USER_ID}\n"
        f"| sort requests desc\n| limit {limit}",
        # every request of a user, so each failing user's requests come with the failures;
        # users with none sort last and are dropped
        "top_errors": f"filter {_REQ} and ispresent({F.USER_ID})\n"
        f"| fields {_FAILED} as failed\n"
        f"| stats sum(failed) as errors, count(*) as requests by {F.USER_ID}\n"
        f"| sort errors desc\n| limit {limit}",
        # what the files' answer says of each error: its first error line's type and message
        "error_facts": f"filter ispresent({F.ERROR_HASH}) and ispresent({F.ERROR_TYPE})"
        f' and ({F.EVENT} = "{Ev.ERROR}" or {F.EVENT} = "{Ev.AGGREGATED_ERROR}")\n'
        f"| stats earliest({F.ERROR_TYPE}) as type, earliest({F.MESSAGE}) as msg"
        f" by {F.ERROR_HASH}\n"
        "| limit 1000",
    }


def _from_insights(
    source: Source, since_ms: int | None, until_ms: int | None, by: str, limit: int
) -> list[dict[str, Any]] | None:
    queries = _queries(by, limit)
    total = source.run_insights(queries["total"], since_ms, until_ms)
    if total is None:
        return None

    def run(name: str) -> list[dict[str, Any]]:
        return source.run_insights(queries[name], since_ms, until_ms) or []

    head = total[0] if total else {}
    rows: list[dict[str, Any]] = [
        {
            "section": "total",
            "users": int(head.get("users") or 0),
            "requests": int(head.get("requests") or 0),
            "exact": False,
        }
    ]
    rows += [
        {
            "section": "period",
            "start": _insights._ms(r.get("start")),
            "users": int(r.get("users") or 0),
            "requests": int(r.get("requests") or 0),
        }
        for r in run("period")
    ]
    rows += [
        {
            "section": "top_requests",
            "uid": str(r.get(F.USER_ID)),
            "requests": int(r.get("requests") or 0),
            "errors": int(r.get("errors") or 0),
        }
        for r in run("top_requests")
    ]
    failing = [
        {
            "section": "top_errors",
            "uid": str(r.get(F.USER_ID)),
            "errors": int(r.get("errors") or 0),
            "requests": int(r.get("requests") or 0),
        }
        for r in run("top_errors")
    ]
    rows += sorted((r for r in failing if r["errors"]), key=lambda r: (-r["errors"], r["uid"]))
    per_error = users_per_error(source, since_ms, until_ms)
    worst = sorted(per_error.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    facts = (
        {str(r[F.ERROR_HASH]): r for r in run("error_facts") if r.get(F.ERROR_HASH)}
        if worst
        else {}
    )
    rows += [
        {
            "section": "error",
            "hash": key,
            "users": n,
            "type": facts.get(key, {}).get("type"),
            "msg": facts.get(key, {}).get("msg"),
        }
        for key, n in worst
    ]
    return rows
