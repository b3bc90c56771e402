"""bellwatch: compact structured logs, request monitoring and error aggregation for ASGI.

Start with :func:`configure` and :func:`get_logger`; see the README for the rest.
"""

from __future__ import annotations

from ._config import ConfigError, Settings
from .context import bind, bound, clear, get_cid, new_id, unbind
from .pipeline import configure, get_logger, stats
from .schema import Ev, F, Sev

__all__ = [
    "ConfigError",
    "Ev",
    "F",
    "Settings",
    "Sev",
    "bind",
    "bound",
    "clear",
    "configure",
    "get_cid",
    "get_logger",
    "new_id",
    "stats",
    "unbind",
]

__version__ = "0.1.0"
