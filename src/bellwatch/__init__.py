"""bellwatch: compact structured logs, request monitoring and error aggregation for ASGI.

Start with :func:`configure` and :func:`get_logger`, then :func:`instrument` your app;
see the README for the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config import ConfigError, Settings
from .context import bind, bound, clear, get_cid, new_id, unbind
from .schema import Ev, F, Sev

if TYPE_CHECKING:
    from . import metrics
    from .alerts import Alert, Alerter, LogNotifier, SnsNotifier, WebhookNotifier
    from .endpoints import register_check
    from .errors import ErrorAggregator, get_aggregator
    from .fingerprint import fingerprint
    from .middleware import BellwatchMiddleware, instrument
    from .monitor import end_session
    from .pipeline import configure, get_logger, stats

# Imported on first use, so that `import bellwatch` (and the CLI's --help) stays light:
# structlog alone pulls in rich when it is installed.
_LAZY = {
    "Alert": "alerts",
    "Alerter": "alerts",
    "LogNotifier": "alerts",
    "SnsNotifier": "alerts",
    "WebhookNotifier": "alerts",
    "register_check": "endpoints",
    "ErrorAggregator": "errors",
    "get_aggregator": "errors",
    "fingerprint": "fingerprint",
    "BellwatchMiddleware": "middleware",
    "instrument": "middleware",
    "end_session": "monitor",
    "configure": "pipeline",
    "flush": "pipeline",
    "get_logger": "pipeline",
    "stats": "pipeline",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "metrics":
        return importlib.import_module(".metrics", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bellwatch' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "Alert",
    "Alerter",
    "BellwatchMiddleware",
    "ConfigError",
    "ErrorAggregator",
    "Ev",
    "F",
    "LogNotifier",
    "Settings",
    "Sev",
    "SnsNotifier",
    "WebhookNotifier",
    "bind",
    "bound",
    "clear",
    "configure",
    "end_session",
    "fingerprint",
    "flush",
    "get_aggregator",
    "get_cid",
    "get_logger",
    "instrument",
    "metrics",
    "new_id",
    "register_check",
    "stats",
    "unbind",
]

__version__ = "0.1.0"
