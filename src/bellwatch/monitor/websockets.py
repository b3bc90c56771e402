"""WebSocket connections, counted apart from HTTP requests (``websockets`` in ``/metrics``).

A connection is one long exchange, not a request: counting it as one would put a
Twilio Media Stream of three minutes into the request latency percentiles. The
middleware reports each connection once, when it ends, with its route template,
close code, duration and messages each way; :class:`WebSocketStats` keeps the
totals per route under one lock, in this process.
"""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["NORMAL_CLOSE", "WebSocketStats"]

# Close codes of a connection that ended as it should: normal, going away (a client
# navigating off, a server restarting), and "no status" (closed without a code).
NORMAL_CLOSE = frozenset({1000, 1001, 1005})


class _Route:
    __slots__ = ("abnormal", "connections", "errors", "messages_in", "messages_out", "seconds")

    def __init__(self) -> None:
        self.connections = 0
        self.errors = 0
        self.abnormal = 0
        self.messages_in = 0
        self.messages_out = 0
        self.seconds = 0.0

    def row(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "errors": self.errors,
            "abnormal_closes": self.abnormal,
            "messages_in": self.messages_in,
            "messages_out": self.messages_out,
            "avg_duration": round(self.seconds / self.connections, 3) if self.connections else 0.0,
        }


class WebSocketStats:
    """This process's WebSocket connections: open now, and per route once ended.

    Args:
        max_routes: route templates kept apart; more share ``<other>``.
    """

    def __init__(self, max_routes: int = 200) -> None:
        self.max_routes = max_routes
        self._lock = threading.Lock()
        self._routes: dict[str, _Route] = {}
        self.active = 0

    def opened(self) -> None:
        """A connection started (the handshake arrived)."""
        with self._lock:
            self.active += 1

    def closed(  # noqa: PLR0917 - once per connection, from the middleware
        self, path: str, code: int, duration: float, received: int, sent: int, error: bool
    ) -> None:
        """A connection ended: count it under its route."""
        with self._lock:
            self.active = max(0, self.active - 1)
            route = self._routes.get(path)
            if route is None:
                if len(self._routes) >= self.max_routes:
                    path = "<other>"
                route = self._routes.setdefault(path, _Route())
            route.connections += 1
            route.errors += error
            route.abnormal += code not in NORMAL_CLOSE
            route.messages_in += received
            route.messages_out += sent
            route.seconds += duration

    def section(self) -> dict[str, Any]:
        """The ``websockets`` section of ``/metrics``: totals, then per route."""
        total = _Route()
        with self._lock:
            rows = {path: route.row() for path, route in sorted(self._routes.items())}
            for route in self._routes.values():
                for name in _Route.__slots__:
                    setattr(total, name, getattr(total, name) + getattr(route, name))
            active = self.active
        return {"active": active, **total.row(), "endpoints": rows}

    def reset(self) -> None:
        with self._lock:
            self._routes.clear()
            self.active = 0
