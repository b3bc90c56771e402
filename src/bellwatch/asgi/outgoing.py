"""Carry the correlation id into outgoing ``httpx`` calls.

Either add the event hook to a client you already have::

    client = httpx.AsyncClient(event_hooks=bellwatch.outgoing.event_hooks())

or wrap its transport (works for hooks-free code paths and ``httpx.Client``)::

    client = httpx.AsyncClient(transport=bellwatch.outgoing.CorrelationTransport())

A call made while handling a request sends that request's id in the
``cid_response_header`` header (``X-Request-ID`` by default), so the next
service's bellwatch (or any middleware reading that header) logs the same id.
An id the caller set explicitly is left alone; outside a request nothing is added.
"""

from __future__ import annotations

from typing import Any

from ..log import pipeline
from ..log.context import get_cid

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "bellwatch.outgoing needs httpx: pip install 'bellwatch[demo]' (or httpx)"
    ) from exc

__all__ = ["CorrelationTransport", "SyncCorrelationTransport", "event_hooks", "stamp"]


def _header() -> str:
    return pipeline.current().settings.cid_response_header


def stamp(request: httpx.Request) -> None:
    """Add the current correlation id to ``request`` unless it already has one."""
    cid = get_cid()
    if cid is not None:
        name = _header()
        if name not in request.headers:
            request.headers[name] = cid


async def _stamp_async(request: httpx.Request) -> None:
    stamp(request)


def event_hooks(*, sync: bool = False) -> dict[str, list[Any]]:
    """``event_hooks`` for ``httpx.AsyncClient`` (or ``httpx.Client`` with ``sync=True``)."""
    return {"request": [stamp if sync else _stamp_async]}


class CorrelationTransport(httpx.AsyncBaseTransport):
    """An async transport that stamps the correlation id, then delegates."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport or httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        stamp(request)
        return await self._transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self._transport.aclose()


class SyncCorrelationTransport(httpx.BaseTransport):
    """The same for ``httpx.Client`` (sync routes in the threadpool keep the id too)."""

    def __init__(self, transport: httpx.BaseTransport | None = None) -> None:
        self._transport = transport or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        stamp(request)
        return self._transport.handle_request(request)

    def close(self) -> None:
        self._transport.close()
