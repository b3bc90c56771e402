"""Carry the correlation id into outgoing ``httpx`` calls.

Either add the event hook to a client you already have::

    client = httpx.AsyncClient(event_hooks=bellwatch.outgoing.event_hooks())

or wrap its transport (works for hooks-free code paths and ``httpx.Client``)::

    client = httpx.AsyncClient(transport=bellwatch.outgoing.CorrelationTransport())

A call made while handling a request sends that request's id in the
``cid_response_header`` header (``X-Request-ID`` by default), so the next
service's bellwatch (or any middleware reading that header) logs the same id,
and a W3C ``traceparent``, so a service traced with OpenTelemetry (ADOT, Logfire)
joins it: the active span's, or else one whose trace id is the correlation id
(zero-padded when it is shorter hex, a digest of it otherwise). Headers the
caller set explicitly are left alone; outside a request nothing is added.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ..log import pipeline
from ..log.context import get_cid
from ._otel import current_span

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "bellwatch.outgoing needs httpx: pip install 'bellwatch[demo]' (or httpx)"
    ) from exc

__all__ = [
    "CorrelationTransport",
    "SyncCorrelationTransport",
    "event_hooks",
    "stamp",
    "trace_id_of",
    "traceparent",
]

_HEX = frozenset("0123456789abcdef")
_NO_TRACE = "0" * 32  # W3C: an all-zero trace id is invalid


def _header() -> str:
    return pipeline.current().settings.cid_response_header


def trace_id_of(cid: str) -> str:
    """The W3C trace id (32 lowercase hex) that stands for correlation id ``cid``.

    A 32-hex id is its own; shorter hex (bellwatch's 12) is zero-padded on the
    left, so the id can be read inside the trace id; anything else is digested.
    """
    text = cid.lower()
    if len(text) <= 32 and _HEX.issuperset(text):
        padded = text.rjust(32, "0")
        if padded != _NO_TRACE:
            return padded
    return hashlib.blake2b(cid.encode("utf-8", "replace"), digest_size=16).hexdigest()


def traceparent(cid: str | None = None) -> str | None:
    """A W3C ``traceparent`` for a call made now: the active span's, else one for ``cid``.

    ``None`` when there is neither a span nor a correlation id.
    """
    span = current_span()
    if span is not None:
        trace_id, span_id, flags = span
        return f"00-{trace_id}-{span_id}-{flags}"
    if cid is None:
        return None
    return f"00-{trace_id_of(cid)}-{os.urandom(8).hex()}-01"


def stamp(request: httpx.Request) -> None:
    """Add the current correlation id and a ``traceparent`` unless the request has them."""
    cid = get_cid()
    if cid is not None:
        name = _header()
        if name not in request.headers:
            request.headers[name] = cid
    if "traceparent" not in request.headers:
        parent = traceparent(cid)
        if parent is not None:
            request.headers["traceparent"] = parent


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
