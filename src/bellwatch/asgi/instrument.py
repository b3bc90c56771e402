"""``instrument(app)``: the middleware outermost, plus ``/metrics``, ``/health``, ``/dashboard``."""

from __future__ import annotations

import warnings
from typing import Any

from .. import _settings
from ._scope import ASGIApp, Receive, Scope, Send
from .endpoints import routes
from .middleware import BellwatchMiddleware

__all__ = ["instrument"]


def instrument(
    app: Any,
    *,
    metrics_path: str | None = "/metrics",
    health_path: str | None = "/health",
    log_own_routes: bool = False,
    **options: Any,
) -> Any:
    """Add request monitoring, ``/metrics`` and ``/health`` to a Starlette or FastAPI app.

    The middleware goes *outermost*, around Starlette's ``ServerErrorMiddleware``,
    so a 500 produced by an exception handler still carries the correlation id in
    its header and its line. ``options`` go to :class:`BellwatchMiddleware`.
    Returns ``app``.

    The routes are placed when the app builds its middleware stack (its first
    request or lifespan), so it makes no difference whether ``instrument()`` comes
    before or after the app's own routes: a route of the app at the very same path
    (its own ``/health``) is kept instead of ours, and ours go before any route that
    would otherwise catch them (``/{path:path}``, a ``StaticFiles`` mount at ``/``).

    Raises:
        TypeError: ``app`` is not a Starlette or FastAPI application (wrap any other
            ASGI app in :class:`BellwatchMiddleware`).

    Example::

        app = FastAPI()
        bellwatch.instrument(app)
    """
    given = {"metrics_path": metrics_path, "health_path": health_path,
             "log_own_routes": log_own_routes, **options}  # fmt: skip
    first = getattr(app, "_bellwatch_instrumented", None)
    if first is not None:  # a second middleware would log every request twice
        if first != given:
            warnings.warn(
                "instrument() was called on this app already, with other options: the "
                f"first call's stand ({_differences(first, given)})",
                _settings.ConfigWarning,
                stacklevel=2,
            )
        return app
    if not callable(getattr(app, "build_middleware_stack", None)) or not hasattr(app, "router"):
        raise TypeError(
            f"instrument() needs a Starlette or FastAPI application, not {type(app).__name__}; "
            "wrap any other ASGI app in bellwatch.BellwatchMiddleware(app)"
        )
    own = routes(metrics_path=metrics_path, health_path=health_path, quiet=not log_own_routes)
    if not log_own_routes:
        options["quiet_paths"] = (*options.get("quiet_paths", ()), *(path for path, _ in own))
    middleware = BellwatchMiddleware(_Deferred(app), **options)
    placed = _Routes(app.router, own)
    build = app.build_middleware_stack

    def build_with_bellwatch() -> ASGIApp:
        placed.place()  # the app's routes are all there by now
        middleware.app = build()
        return middleware

    app.build_middleware_stack = build_with_bellwatch
    app._bellwatch_instrumented = given
    app.middleware_stack = None  # rebuilt on the next request, now with us outermost
    return app


def _differences(first: dict[str, Any], given: dict[str, Any]) -> str:
    """``slow_threshold: 0.5, now 2.0``: what the two calls set differently."""

    def shown(options: dict[str, Any], key: str) -> str:
        return repr(options[key]) if key in options else "unset"

    keys = sorted(k for k in {*first, *given} if shown(first, k) != shown(given, k))
    return ", ".join(f"{k}: {shown(first, k)}, now {shown(given, k)}" for k in keys)


class _Deferred:
    """Placeholder app until Starlette builds its middleware stack."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class _Routes:
    """Our routes in the app's router, placed where requests for their paths reach them."""

    def __init__(self, router: Any, own: list[tuple[str, ASGIApp]]) -> None:
        from starlette.routing import Route

        self.router = router
        self.own = [
            Route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
            for path, endpoint in own
        ]

    def place(self) -> None:
        """(Re)place each of our routes; idempotent, as a stack may be built again."""
        routes: list[Any] = self.router.routes
        routes[:] = [route for route in routes if not any(route is mine for mine in self.own)]
        for mine in self.own:
            if any(getattr(route, "path", None) == mine.path for route in routes):
                continue  # the app's own route at this path wins
            routes.insert(_first_catching(routes, mine.path), mine)


def _first_catching(routes: list[Any], path: str) -> int:
    """Where to put a route for ``path``: before the first route a GET of it would reach."""
    from starlette.routing import Match

    scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": [],
             "query_string": b""}  # fmt: skip
    for index, route in enumerate(routes):
        try:
            match, _ = route.matches(dict(scope))
        except Exception:  # a route type that wants more of a scope: it catches nothing here
            match = Match.NONE
        if match is Match.FULL:
            return index
    return len(routes)
