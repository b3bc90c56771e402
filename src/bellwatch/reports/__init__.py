"""The reports, each defined once: ``errors``, ``slow``, ``endpoints``, ``twilio``, ``users``,
``summary``.

Library functions over a :class:`~bellwatch.sources.Source` (local files, stdin or a
CloudWatch log group) and a ``[since_ms, until_ms)`` window, returning plain data: rows,
the scan's statistics, and a cursor where lists are long. The CLI renders them, the demo
prints the digest, and the MCP server calls the same functions.

Layering: imports ``_settings``, ``schema``, ``timeparse``, ``query`` and ``sources``;
never click, Rich, the CLI or the demo.
"""

from __future__ import annotations

from ._types import Digest, Report
from .endpoints import endpoints
from .errors import errors
from .slow import slow
from .summary import summary
from .twilio import twilio
from .users import users

__all__ = ["Digest", "Report", "endpoints", "errors", "slow", "summary", "twilio", "users"]
