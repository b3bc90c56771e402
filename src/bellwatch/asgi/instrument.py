"""``instrument(app)``: the middleware outermost, plus ``/metrics``, ``/health``, ``/dashboard``."""

from __future__ import annotations

from typing import Any

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

    Example::

        app = FastAPI()
        bellwatch.instrument(app)
    """
    if getattr(app, "_bellwatch_instrumented", False):
        return app  # a second call would log every request twice
    own = routes(metrics_path=metrics_path, health_path=health_path)
    if not log_own_routes:
        options["quiet_paths"] = (*options.get("quiet_paths", ()), *(path for path, _ in own))
    middleware = BellwatchMiddleware(_Deferred(app), **options)
    _add_routes(app, own)
    build = app.build_middleware_stack

    def build_with_bellwatch() -> ASGIApp:
        middleware.app = build()
        return middleware

    app.build_middleware_stack = build_with_bellwatch
    app._bellwatch_instrumented = True
    app.middleware_stack = None  # rebuilt on the next request, now with us outermost
    return app


class _Deferred:
    """Placeholder app until Starlette builds its middleware stack."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _add_routes(app: Any, own: list[tuple[str, ASGIApp]]) -> None:
    from starlette.routing import Route

    for path, endpoint in own:
        app.router.routes.append(
            Route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
        )
