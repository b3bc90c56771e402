"""What the middleware reads from an ASGI scope: route template, inbound id, form body."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from ..store.base import UNMATCHED

__all__ = ["EXTRACT", "is_form", "keeping_body", "route_template"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# A form body kept for a session extractor is capped: Twilio webhooks are ~1-2 KB.
_BODY_CAP = 16 * 1024
_FORM = b"application/x-www-form-urlencoded"


def _amzn_root(value: str) -> str:
    """The ``Root=`` part of an ALB ``X-Amzn-Trace-Id`` (``Self=...;Root=1-...;...``)."""
    for part in value.split(";"):
        key, _, root = part.strip().partition("=")
        if key == "Root":
            return root
    return ""


def _trace_id(value: str) -> str:
    """The trace-id of a W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<flags>``)."""
    parts = value.split("-")
    return parts[1] if len(parts) >= 4 else ""


EXTRACT: dict[bytes, Callable[[str], str]] = {
    b"x-amzn-trace-id": _amzn_root,
    b"traceparent": _trace_id,
}


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


def route_template(scope: Scope, root_path: str) -> str:
    """The matched route's template, with any mount prefix; ``<unmatched>`` otherwise."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED
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
    return prefix + template


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
