"""Carry the correlation id into outgoing ``httpx`` calls (see :mod:`bellwatch.asgi.outgoing`)::

client = httpx.AsyncClient(event_hooks=bellwatch.outgoing.event_hooks())
"""

from __future__ import annotations

from .asgi.outgoing import (
    CorrelationTransport,
    SyncCorrelationTransport,
    event_hooks,
    stamp,
    trace_id_of,
    traceparent,
)

__all__ = [
    "CorrelationTransport",
    "SyncCorrelationTransport",
    "event_hooks",
    "stamp",
    "trace_id_of",
    "traceparent",
]
