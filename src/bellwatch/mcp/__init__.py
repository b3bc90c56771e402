"""``bellwatch mcp``: the logs served to AI assistants over the Model Context Protocol.

- :mod:`.tools`: the eight tools (``digest``, ``errors``, ``error_detail``, ``trace``,
  ``slow``, ``endpoints``, ``query``, ``service``), their definitions and one dispatcher;
  :mod:`._answers` and :mod:`._digest`: each tool's one call of :mod:`bellwatch.reports`.
- :mod:`.reply`: compact text plus ``structuredContent``, each within a cl100k budget,
  saying what was left out and where to page on; :mod:`._text`: log text quoted as data.
- :mod:`.server`: the only module importing the ``mcp`` SDK: stdio, and streamable HTTP
  behind a bearer token (:mod:`._auth`).

Layer: beside :mod:`bellwatch.cli`. Imports ``reports``, ``sources``, ``query``, ``cost``,
``verdict``, ``timeparse``, ``_settings`` and ``log.redact`` (the one redactor); never
the runtime side or click. Read-only: no AWS writes, no file writes but the reports'
cache.
"""

from __future__ import annotations

from .reply import BUDGET, MAX_BUDGET, Reply
from .tools import Context, call, definitions

__all__ = ["BUDGET", "INSTALL", "MAX_BUDGET", "Context", "Reply", "call", "definitions"]

INSTALL = "pip install 'bellwatch[mcp]'"
"""What installs the MCP server's dependencies, exactly as a user types it."""
