"""The saved queries menu: Logs Insights queries over bellwatch's own schema.

Each query runs unchanged in the CloudWatch Logs Insights console and in
``bellwatch insights`` locally. Field and event names come from :mod:`bellwatch.schema`,
so a renamed key cannot leave a stale query behind. Corrections of the monitoring
guide's queries are noted in the descriptions (its error-rate query averaged an
``error_rate`` field that no log line carries).

The ``slow`` query counts a request slow as everything else does: ``duration >`` the
``slow_threshold`` setting (argument > ``BELLWATCH_SLOW_THRESHOLD`` > 2 s), the number
written as the CloudWatch metric filter writes it. So the menu is built for a threshold
(:func:`saved_queries`, :func:`by_name`), never read with a fixed one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from bellwatch import _settings
from bellwatch.query.flags import at_least, equals
from bellwatch.schema import Ev, F, Sev

__all__ = ["SLOW", "SavedQuery", "by_name", "saved_queries", "seconds_text"]

SLOW = "slow"  # the saved query whose text holds the slow_threshold setting


@dataclass(frozen=True, slots=True)
class SavedQuery:
    """One menu entry: a short name, what it answers, and the Insights query text."""

    name: str
    description: str
    query: str


_REQ = f'{F.EVENT} = "{Ev.REQUEST}"'
_ERROR_FAMILY = f'({F.EVENT} = "{Ev.ERROR}" or {F.EVENT} = "{Ev.AGGREGATED_ERROR}")'
# A severity as its rank, 1 (low) to 4 (critical), so the highest severity of a fingerprint
# is max() of it. Flags, not comparisons, in `fields` (see bellwatch.query.flags);
# strcontains alone suffices: bellwatch writes `sev`, and no level's name holds another's.
_SEV_RANK = " + ".join(
    f'strcontains({F.SEVERITY}, "{s}") * {i}' for i, s in enumerate(Sev.ORDER, 1)
)
_IS_5XX = at_least(F.STATUS, 500)
# Where the slow query's threshold goes (no Insights text contains it).
_THRESHOLD = "<slow_threshold>"

_MENU: tuple[SavedQuery, ...] = (
    SavedQuery(
        "error-rate",
        "5xx share of requests per endpoint, computed from the status of each request "
        "(the guide's `avg(error_rate)` read a field no log has)",
        f"filter {_REQ}\n"
        f"| fields {_IS_5XX} as is_error\n"
        f"| stats count(*) as requests, avg(is_error) * 100 as error_rate_pct"
        f" by {F.METHOD}, {F.PATH}\n"
        "| sort error_rate_pct desc",
    ),
    SavedQuery(
        SLOW,
        f"Requests slower than {_THRESHOLD} seconds (the slow_threshold setting), slowest"
        " first (the guide's slow-request search)",
        f"filter {_REQ} and {F.DURATION} > {_THRESHOLD}\n"
        f"| fields @timestamp, {F.METHOD}, {F.PATH}, {F.STATUS}, {F.DURATION}, {F.CID}\n"
        f"| sort {F.DURATION} desc\n"
        "| limit 50",
    ),
    SavedQuery(
        "latency",
        "Requests, average, p95 and maximum duration (seconds) per endpoint",
        f"filter {_REQ}\n"
        f"| stats count(*) as requests, avg({F.DURATION}) as avg_s,"
        f" pct({F.DURATION}, 95) as p95_s, max({F.DURATION}) as max_s by {F.METHOD}, {F.PATH}\n"
        "| sort p95_s desc",
    ),
    SavedQuery(
        "top-errors",
        "Error fingerprints by occurrences (the sum of n over their error lines; an older"
        " `error` line without n counts 1), with type, message, one correlation id, the"
        " highest severity (1 low .. 4 critical) and first and last seen",
        f"filter ispresent({F.ERROR_HASH}) and ({_ERROR_FAMILY} or ispresent({F.OCCURRENCES}))\n"
        f"| fields coalesce({F.OCCURRENCES}, {equals(F.EVENT, Ev.ERROR)}) as occurrence\n"
        f"| fields {_SEV_RANK} as sev_rank\n"
        "| stats sum(occurrence) as occurrences, count(*) as lines,"
        f" latest({F.ERROR_TYPE}) as error_type, latest({F.MESSAGE}) as message,"
        f" latest({F.CID}) as example_cid, max(sev_rank) as severity,"
        f" min(@timestamp) as first_seen, max(@timestamp) as last_seen by {F.ERROR_HASH}\n"
        "| sort occurrences desc\n"
        "| limit 20",
    ),
    SavedQuery(
        "twilio-failures",
        "Failed Twilio webhooks per CallSid: a non-2xx answer or a bad signature, each"
        " webhook once (counted by correlation id)",
        f'filter ({_REQ} and {F.PATH} like "twilio" and ({F.STATUS} < 200 or {F.STATUS} >= 300))'
        f' or {F.EVENT} = "{Ev.SIGNATURE_FAILED}"\n'
        f"| fields {equals(F.EVENT, Ev.SIGNATURE_FAILED)} as bad_signature\n"
        f"| stats count_distinct({F.CID}) as failures, sum(bad_signature) as bad_signatures,"
        f" latest({F.CID}) as example_cid by {F.SESSION_ID}\n"
        "| sort failures desc",
    ),
    SavedQuery(
        "traffic-5m",
        "Requests, 5xx count and p95 duration per 5 minutes",
        f"filter {_REQ}\n"
        f"| fields {_IS_5XX} as is_error\n"
        f"| stats count(*) as requests, sum(is_error) as errors_5xx,"
        f" pct({F.DURATION}, 95) as p95_s by bin(5m)",
    ),
    SavedQuery(
        "problems",
        "The latest warnings and errors, newest first",
        f'filter {F.LEVEL} in ["WARNING", "ERROR", "CRITICAL"]\n'
        f"| fields @timestamp, {F.LEVEL}, {F.EVENT}, {F.PATH}, {F.STATUS}, {F.CID}\n"
        "| sort @timestamp desc\n"
        "| limit 100",
    ),
)


def seconds_text(seconds: float) -> str:
    """``seconds`` as a query literal: millisecond precision, plain decimal (no exponent),
    the number the ``slow-requests`` metric filter compares with (``2.0`` -> ``2``)."""
    return f"{round(seconds, 3):.3f}".rstrip("0").rstrip(".")


def _with_threshold(saved: SavedQuery, slow_threshold: float | None) -> SavedQuery:
    if saved.name != SLOW:
        return saved
    if slow_threshold is None:
        slow_threshold = _settings.resolve().slow_threshold
    text = seconds_text(slow_threshold)
    return replace(
        saved,
        description=saved.description.replace(_THRESHOLD, text),
        query=saved.query.replace(_THRESHOLD, text),
    )


def saved_queries(slow_threshold: float | None = None) -> tuple[SavedQuery, ...]:
    """The menu, in order; ``slow`` counts requests over ``slow_threshold`` seconds
    (default: the ``slow_threshold`` setting, as the middleware and the metric filter do)."""
    return tuple(_with_threshold(saved, slow_threshold) for saved in _MENU)


def by_name(name: str, slow_threshold: float | None = None) -> SavedQuery:
    """The saved query called ``name`` (``slow`` over ``slow_threshold`` seconds, default
    the setting); raises KeyError listing the known names."""
    for saved in _MENU:
        if saved.name == name:
            return _with_threshold(saved, slow_threshold)
    known = ", ".join(s.name for s in _MENU)
    raise KeyError(f"no saved query {name!r}; known: {known}")
