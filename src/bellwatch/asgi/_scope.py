"""What the middleware reads from an ASGI scope: route template, inbound id, form body."""

from __future__ import annotations

import re
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


# Checked exactly as received: no trimming, so a trailing newline, space or tab fails.
_XRAY_ROOT = re.compile(r"1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}")
# W3C Trace Context: lowercase hex; a version after 00 may add fields after the flags.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
_ZERO_PARENT = "0" * 16


def _amzn_root(value: str) -> str:
    """The ``Root=`` of an ALB ``X-Amzn-Trace-Id`` (``Self=...;Root=1-...;...``), or ``""``
    when it is not ``1-<8 hex>-<24 hex>`` exactly."""
    for part in value.split(";"):
        if part.startswith("Root="):
            root = part[5:]
            return root if _XRAY_ROOT.fullmatch(root) else ""
    return ""


def _trace_id(value: str) -> str:
    """The trace-id of a W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<flags>``), or ``""``
    when the header is not valid Trace Context: version ``ff``, an all-zero trace or
    parent id, uppercase hex, or anything after the flags of version ``00``."""
    m = _TRACEPARENT.fullmatch(value)
    if m is None:
        return ""
    version, trace, parent, _flags, rest = m.groups()
    if version == "ff" or trace == _ZERO_TRACE or parent == _ZERO_PARENT:
        return ""
    if version == "00" and rest is not None:
        return ""
    return str(trace)


# Headers whose id is part of a structured value: the extractor returns the id, or ""
# when the value is not in that header's format. Other headers are ids themselves.
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
        return UNMATCHED
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
