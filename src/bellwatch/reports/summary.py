"""The ``summary`` report: every fact the digest uses, and the digest itself."""

from __future__ import annotations

from typing import Any

from .. import _settings
from ..log.redact import scrub
from ..sources import histogram
from ..sources.base import Source
from ..sources.facts import Facts
from . import _facts, _insights, digest
from ._types import Digest
from .endpoints import rows as endpoint_rows
from .errors import bounded
from .errors import rows as error_rows
from .twilio import rows as twilio_rows

__all__ = ["collect", "summary"]


def summary(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    budget: int = 1500,
    slow_threshold: float | None = None,
) -> Digest:
    """The digest of ``[since_ms, until_ms)`` within ``budget`` cl100k tokens, and its facts.

    ``slow_threshold`` (default: the setting) marks an endpoint slow in the headline. A
    source that runs Logs Insights answers with the saved queries. The facts, and so the
    text, have every secret masked as a log line masks it.
    """
    threshold = _settings.resolve().slow_threshold if slow_threshold is None else slow_threshold
    facts = None
    if not _facts.local(source):
        facts = _insights.collect(lambda text: source.run_insights(text, since_ms, until_ms))
    if facts is None:
        facts = collect(_facts.gather(source, since_ms, until_ms))
    bounded(source, facts["errors"], since_ms)  # a count over a window may be "≤N"
    facts = scrub(facts)  # the facts are returned too: masked before anything reads them
    text = digest.render(facts, budget, slow_threshold=threshold)
    if not facts["twilio"]:
        # "0 Twilio calls with failures" tells a service without Twilio (or without
        # failures) nothing and reads as if there were some: the headline ends before it.
        # (Removing text keeps the digest within its budget.)
        text = text.replace(_NO_TWILIO, ".", 1)
    return Digest(text, facts, source.stats)


_NO_TWILIO = "; 0 Twilio calls with failures."
"""The headline's Twilio clause when no call failed (as :mod:`.digest` words it)."""


def collect(facts: Facts) -> dict[str, Any]:
    """The digest's facts: headline totals, then the endpoint, error and Twilio rows."""
    requests = s5xx = s4xx = 0
    durations = histogram.EMPTY
    for count, _without, _peak, n5xx, n4xx, hist in facts.ep.values():
        requests += count
        s5xx += n5xx
        s4xx += n4xx
        durations = histogram.merged(durations, hist)
    totals = {
        "lines": facts.records,
        "requests": requests,
        "s5xx": s5xx,
        "s4xx": s4xx,
        "error_lines": facts.error_lines,
        "p50": histogram.percentile(durations, 50),
        "p95": histogram.percentile(durations, 95),
        "health_failures": facts.health_failures,
        "first_ts": facts.min_ts,
        "last_ts": facts.max_ts,
        "error_rate": s5xx / requests if requests else 0.0,
    }
    return {
        "totals": totals,
        "endpoints": endpoint_rows(facts)[:200],
        "errors": error_rows(facts)[:50],
        "twilio": twilio_rows(facts)[:50],
    }
