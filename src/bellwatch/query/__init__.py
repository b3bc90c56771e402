"""Local query engines: CloudWatch Logs filter patterns and Logs Insights queries.

Both evaluate the documented CloudWatch semantics over already-read log lines, so the
same pattern or query can be tried locally and then run unchanged in CloudWatch. The
saved queries (:mod:`.saved`) and the one percentile definition (:mod:`.percentile`)
live here too.

Layering: imports only ``schema`` (and the standard library); never ``sources``,
``reports`` or ``cli``.
"""

from __future__ import annotations

from bellwatch.query.filterpattern import Matcher, PatternError
from bellwatch.query.insights import DEFAULT_LIMIT, MAX_LIMIT, Query, QueryError
from bellwatch.query.saved import SAVED_QUERIES, SavedQuery, by_name

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "SAVED_QUERIES",
    "Matcher",
    "PatternError",
    "Query",
    "QueryError",
    "SavedQuery",
    "by_name",
]
