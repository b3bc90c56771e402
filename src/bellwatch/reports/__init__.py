"""The reports, each defined once: ``errors``, ``slow``, ``endpoints``, ``twilio``, ``users``,
``summary``, and ``explain`` (how one error fingerprint was built).

Library functions over a :class:`~bellwatch.sources.Source` (local files, stdin or a
CloudWatch log group) and a ``[since_ms, until_ms)`` window, returning plain data: rows,
the scan's statistics, and a cursor where lists are long. The CLI renders them, the demo
prints the digest, and the MCP server calls the same functions.

Every row, fact and text a report returns has its secrets masked by the one redactor
(:mod:`bellwatch.log.redact`), as a log line would: logs written by other programs or
by older versions can hold them.

Layering: imports ``_settings``, ``schema``, ``timeparse``, ``query``, ``sources``, the
redactor (``log.redact``) and the fingerprint (``errors.fingerprint``, for ``explain``);
never click, Rich, the CLI or the demo.
"""

from __future__ import annotations

from ._types import Digest, Report, masked
from .endpoints import endpoints
from .errors import errors
from .explain import ErrorExplanation, explain
from .slow import slow
from .summary import summary
from .twilio import twilio
from .users import users

__all__ = [
    "Digest",
    "ErrorExplanation",
    "Report",
    "endpoints",
    "errors",
    "explain",
    "masked",
    "slow",
    "summary",
    "twilio",
    "users",
]
