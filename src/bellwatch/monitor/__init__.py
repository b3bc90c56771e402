"""Request monitoring numbers: the monitor, sessions, business metrics, EMF.

What lives here: the monitor the middleware counts into (:mod:`.monitor`), business
counters and ratios (:mod:`.business`) and CloudWatch Embedded Metric Format lines
(:mod:`.emf`).

May import: ``bellwatch.store``, ``bellwatch.log``, and the layers below them.
"""

from __future__ import annotations

from .monitor import (
    Monitor,
    SessionKey,
    bound_session,
    cookie,
    end_session,
    form_field,
    get_monitor,
    header,
    reset_monitor,
    set_monitor,
)

__all__ = [
    "Monitor",
    "SessionKey",
    "bound_session",
    "cookie",
    "end_session",
    "form_field",
    "get_monitor",
    "header",
    "reset_monitor",
    "set_monitor",
]
