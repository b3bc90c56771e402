"""bellwatch: compact structured logs, request monitoring and error aggregation for ASGI.

Start with :func:`configure` and :func:`get_logger`, then :func:`instrument` your app;
see the README for the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._settings import ConfigError, ConfigWarning, Settings
from .log.context import bind, bound, clear, get_cid, new_id, unbind
from .schema import Ev, F, Sev

if TYPE_CHECKING:
    from . import metrics, outgoing, testing
    from ._runtime import (
        configure,
        end_session,
        flush,
        get_aggregator,
        get_logger,
        register_check,
        stats,
    )
    from .asgi.instrument import instrument
    from .asgi.middleware import BellwatchMiddleware
    from .errors.aggregator import ErrorAggregator
    from .errors.alerts import Alert, Alerter, LogNotifier, SnsNotifier, WebhookNotifier
    from .errors.fingerprint import fingerprint

# Imported on first use, so that `import bellwatch` (and the CLI's --help) stays light:
# structlog alone pulls in rich when it is installed.
_LAZY = {
    "Alert": "errors.alerts",
    "Alerter": "errors.alerts",
    "LogNotifier": "errors.alerts",
    "SnsNotifier": "errors.alerts",
    "WebhookNotifier": "errors.alerts",
    "register_check": "_runtime",
    "ErrorAggregator": "errors.aggregator",
    "get_aggregator": "_runtime",
    "fingerprint": "errors.fingerprint",
    "BellwatchMiddleware": "asgi.middleware",
    "instrument": "asgi.instrument",
    "end_session": "_runtime",
    "configure": "_runtime",
    "flush": "_runtime",
    "get_logger": "_runtime",
    "stats": "_runtime",
}
# Public submodules reachable as attributes after a bare `import bellwatch`.
_SUBMODULES = frozenset({"metrics", "outgoing", "testing"})


def __getattr__(name: str) -> Any:
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
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
    "ConfigWarning",
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
    "outgoing",
    "register_check",
    "stats",
    "testing",
    "unbind",
]

__version__ = "0.1.0"
