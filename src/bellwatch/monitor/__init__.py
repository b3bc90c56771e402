"""Request monitoring numbers: the monitor, sessions, business metrics, health, EMF.

What lives here: the monitor the middleware counts into (:mod:`.monitor`), what makes
a request part of a session (:mod:`.sessions`), business ratios (:mod:`.business`),
health checks (:mod:`.health`), the ``/metrics`` document and Prometheus text
(:mod:`.document`), the dashboard's time series (:mod:`.timeline`) and CloudWatch
Embedded Metric Format lines (:mod:`.emf`). The runtime owns the process-wide ones.

May import: ``bellwatch.store``, ``bellwatch.log``, and the layers below them.
"""

from __future__ import annotations

from .monitor import Monitor
from .sessions import SessionKey, bound_session, cookie, form_field, header

__all__ = ["Monitor", "SessionKey", "bound_session", "cookie", "form_field", "header"]
