"""Local query engines: CloudWatch Logs filter patterns and Logs Insights queries.

Both evaluate the documented CloudWatch semantics over already-read log lines, so the
same pattern or query can be tried locally and then run unchanged in CloudWatch. The
saved queries (:mod:`.saved`) and the one percentile definition (:mod:`.percentile`)
live here too.

Layering: imports only ``schema`` and ``_settings`` (and the standard library); never
``sources``, ``reports`` or ``cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bellwatch.query.filterpattern import Matcher, PatternError
    from bellwatch.query.insights import DEFAULT_LIMIT, MAX_LIMIT, Query, QueryError
    from bellwatch.query.saved import SavedQuery, by_name, saved_queries

# Loaded on first use: a report that only needs `percentile` does not pay for the
# Insights engine (~10 ms), nor `bellwatch --help` for either engine.
_HOME = {
    "Matcher": "filterpattern",
    "PatternError": "filterpattern",
    "DEFAULT_LIMIT": "insights",
    "MAX_LIMIT": "insights",
    "Query": "insights",
    "QueryError": "insights",
    "SavedQuery": "saved",
    "by_name": "saved",
    "saved_queries": "saved",
}

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Matcher",
    "PatternError",
    "Query",
    "QueryError",
    "SavedQuery",
    "by_name",
    "saved_queries",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
