"""What the middleware reads from an ASGI scope: route template, form body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..store.base import UNMATCHED

__all__ = ["is_form", "keeping_body", "route_template"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A form body kept for a session extractor is capped: Twilio webhooks are ~1-2 KB.
_BODY_CAP = 16 * 1024
_FORM = b"application/x-www-form-urlencoded"


_IS_MOUNT: dict[type, bool] = {}


def _template_prefix(prefix: str, params: Any) -> str:
    """A mount prefix with its path-parameter values put back as ``{name}``.

    ``Mount("/reset/{token}")`` puts the raw value in ``root_path``; logging it would
    leak the token and give every value its own endpoint in /metrics.
    """
    if not params or not isinstance(params, dict):
        return prefix
    names = {str(value): name for name, value in params.items()}
    return "/".join(f"{{{names[part]}}}" if part in names else part for part in prefix.split("/"))


# Route object -> its template, for routes reached without a mount prefix (nearly
# all): one dict lookup per request instead of the checks below. Keyed by id, with
# the route kept beside it (Starlette routes define __eq__ and so are unhashable);
# bounded, as an app may build routes at run time.
_PLAIN: dict[int, tuple[Any, str]] = {}
_PLAIN_MAX = 4096


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's template, with any mount prefix; ``<unmatched>`` otherwise."""
    route = scope.get("route")
    if route is None:
        return _unnamed(scope, root_path)
    plain = scope.get("root_path", "") == root_path
    if plain:
        known = _PLAIN.get(id(route))
        if known is not None and known[0] is route:
            return known[1]
    template = getattr(route, "path", None)
    if not isinstance(template, str):
        return UNMATCHED
    inner_root = scope.get("root_path", "")
    prefix = inner_root[len(root_path) :] if inner_root != root_path else ""
    if prefix:
        prefix = _template_prefix(prefix, scope.get("path_params"))
    cls = type(route)
    is_mount = _IS_MOUNT.get(cls)
    if is_mount is None:
        # hasattr() raises and catches internally; ask once per route class.
        is_mount = _IS_MOUNT[cls] = hasattr(route, "routes")
    if is_mount:  # a Mount whose app is not a router (static files)
        return (prefix or template) + "/{path}"
    if plain and len(_PLAIN) < _PLAIN_MAX:
        _PLAIN[id(route)] = (route, template)
    return prefix + template


# Endpoint -> template, for plain routes a router matched without naming them; keyed
# and bounded as _PLAIN is.
_ENDPOINTS: dict[int, tuple[Any, str]] = {}


def _unnamed(scope: Scope, root_path: str) -> str:
    """The template of a route the router matched without setting ``scope["route"]``.

    FastAPI's router names its APIRoutes only: a ``Mount`` (``StaticFiles``, a mounted
    app whose own router names nothing) shows in the ``root_path`` it grew, and is its
    prefix + ``/{path}``; a plain Starlette ``Route`` (``app.add_route``) leaves its
    ``endpoint``, found among the router's routes. Anything else is ``<unmatched>``.
    """
    inner_root = scope.get("root_path", "")
    if inner_root != root_path and inner_root.startswith(root_path):
        prefix = _template_prefix(inner_root[len(root_path) :], scope.get("path_params"))
        return prefix + "/{path}"
    endpoint = scope.get("endpoint")
    if endpoint is None:
        return UNMATCHED
    known = _ENDPOINTS.get(id(endpoint))
    if known is not None and known[0] is endpoint:
        return known[1]
    candidates = [
        route
        for route in getattr(scope.get("router"), "routes", ())
        if getattr(route, "endpoint", None) is endpoint
        and isinstance(getattr(route, "path", None), str)
    ]
    if len(candidates) == 1:
        template: str = candidates[0].path
        if len(_ENDPOINTS) < _PLAIN_MAX:
            _ENDPOINTS[id(endpoint)] = (endpoint, template)
        return template
    for route in candidates:  # one handler at several paths: the one this request took
        match, _ = route.matches(dict(scope))
        if match.value:  # FULL, or PARTIAL (a 405): either way this route's path
            return str(route.path)
    return UNMATCHED


def keeping_body(receive: Receive, body: list[bytes]) -> Receive:
    """Wrap ``receive`` to keep up to 16 KB of the request body for a session extractor."""

    async def receive_keeping() -> Message:
        message = await receive()
        chunk = message.get("body", b"")
        if chunk and sum(map(len, body)) < _BODY_CAP:
            body.append(chunk)
        return message

    return receive_keeping


def is_form(scope: Scope) -> bool:
    if scope.get("method") != "POST":
        return False
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return bool(value.startswith(_FORM))
    return False
