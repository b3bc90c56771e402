"""Correlation id and bound fields: one ContextVar holding an immutable snapshot.

One variable, not one per value: the middleware sets and resets it once per
request, and a log line reads it once. A snapshot is never changed in place,
so a task or thread that copied the context can never alter its parent's view.
The one exception is the per-request dict of collected fields the middleware
sets: a sync route runs in the threadpool on a *copy* of the context, so a
``bind(uid=...)`` there would otherwise never reach the request's own
``request_complete`` line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

from .pseudonym import hashed_fields

__all__ = [
    "bind",
    "bound",
    "clear",
    "current_scope",
    "get_cid",
    "get_fields",
    "new_id",
    "reset_cid",
    "set_cid",
    "unbind",
    "valid_id",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


class _Bound:
    """What is bound in one context: correlation id, fields, and the request's collection.

    ``request`` is shared by every context copied from one request (the
    middleware's own task, threadpool copies, child tasks): what :func:`bind`
    added anywhere during the request, for the request line. ``scope`` is that
    request's ASGI scope and the root path it arrived with (the first line of an
    error logged during the request names its route template from them).
    """

    __slots__ = ("cid", "fields", "memo", "request", "scope")

    def __init__(
        self,
        cid: str | None,
        fields: Mapping[str, Any],
        request: dict[str, Any] | None,
        scope: tuple[MutableMapping[str, Any], str] | None = None,
    ) -> None:
        self.cid = cid
        self.fields = fields
        self.request = request
        self.scope = scope
        # What the logger's fast path made of ``fields`` (redacted once, for the
        # redactor it names): a cache, not a change; see bellwatch.log._fast.
        self.memo: Any = None


_NOTHING = _Bound(None, _EMPTY, None)
_ctx: ContextVar[_Bound] = ContextVar("bellwatch", default=_NOTHING)

# Letters, digits and a few separators used by real tracing ids (ALB, W3C, UUID).
_ID_CHARS = re.compile(r"[A-Za-z0-9._:=-]+")


class _IdPool:
    """Ready-made hex ids cut from one ``os.urandom`` call of 4 KiB.

    One ``getrandom`` syscall per request showed up as ~5% of a busy server's
    CPU; ids cut in advance are just as unpredictable, and handing one out is a
    single ``next()`` on a list iterator, which the GIL makes atomic: no lock,
    and two threads never get the same id. A forked child drops its parent's
    ids, so two workers never share any.
    """

    __slots__ = ("_ready",)
    _BYTES = 4096

    def __init__(self) -> None:
        self._ready: dict[int, Iterator[str]] = {}

    def take(self, nbytes: int) -> str:
        ready = self._ready.get(nbytes)
        if ready is not None:
            cid = next(ready, None)
            if cid is not None:
                return cid
        width = 2 * nbytes
        hexed = os.urandom(max(self._BYTES, nbytes)).hex()
        # A racing refill only replaces an iterator: every id is still handed out once.
        ready = self._ready[nbytes] = iter(
            [hexed[i : i + width] for i in range(0, len(hexed) - width + 1, width)]
        )
        return next(ready)

    def forget(self) -> None:
        self._ready = {}


_pool = _IdPool()
os.register_at_fork(after_in_child=_pool.forget)


def new_id(nbytes: int = 6) -> str:
    """A fresh lowercase hex id; 6 bytes (48 bits) by default.

    48 bits keeps the chance of any collision among a million ids a day at
    about 0.2%; the guide's 8 hex (32 bits) pass 50% at about 77,000.
    """
    return _pool.take(nbytes)


def valid_id(value: str, max_length: int = 64) -> bool:
    """True when ``value`` is a non-empty id of safe characters within ``max_length``."""
    return 0 < len(value) <= max_length and _ID_CHARS.fullmatch(value) is not None


def get_cid() -> str | None:
    """The current correlation id, or None outside a request."""
    return _ctx.get().cid


def set_cid(cid: str | None) -> Token[Any]:
    """Set the correlation id; pass the token to :func:`reset_cid` in ``finally``."""
    now = _ctx.get()
    return _ctx.set(_Bound(cid, now.fields, now.request, now.scope))


def reset_cid(token: Token[Any]) -> None:
    """Put back the correlation id ``token`` replaced; fields bound since stay."""
    before = token.old_value
    cid = None if before is Token.MISSING else before.cid
    now = _ctx.get()
    _ctx.set(_Bound(cid, now.fields, now.request, now.scope))


def current_scope() -> tuple[MutableMapping[str, Any], str] | None:
    """The ASGI scope of the request being handled and its root path; None outside one."""
    return _ctx.get().scope


def get_fields() -> Mapping[str, Any]:
    """Fields bound in the current context (read-only)."""
    return _ctx.get().fields


def bind(**fields: Any) -> None:
    """Add fields to every line logged from the current context onwards.

    Inside a request the middleware resets them when the request ends; use
    :func:`bound` to scope them yourself. With ``hash_uid`` on, a ``uid`` is stored
    as its keyed hash (:mod:`bellwatch.log.pseudonym`).
    """
    fields = hashed_fields(fields)
    now = _ctx.get()
    merged = dict(now.fields)
    merged.update(fields)
    _ctx.set(_Bound(now.cid, MappingProxyType(merged), now.request, now.scope))
    if now.request is not None:
        now.request.update(fields)


def unbind(*keys: str) -> None:
    """Remove bound fields from the current context."""
    now = _ctx.get()
    if any(k in now.fields for k in keys):
        kept = MappingProxyType({k: v for k, v in now.fields.items() if k not in keys})
        _ctx.set(_Bound(now.cid, kept, now.request, now.scope))
    if now.request is not None:
        for key in keys:
            now.request.pop(key, None)


def clear() -> None:
    """Remove every bound field and the correlation id from the current context."""
    _ctx.set(_NOTHING)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Bind fields for the duration of a ``with`` block, then restore the previous ones."""
    fields = hashed_fields(fields)
    before = _ctx.get()
    merged = dict(before.fields)
    merged.update(fields)
    _ctx.set(_Bound(before.cid, MappingProxyType(merged), before.request, before.scope))
    try:
        yield
    finally:
        now = _ctx.get()  # an id set inside the block stays, as with any other set
        _ctx.set(_Bound(now.cid, before.fields, now.request, now.scope))


@contextmanager
def request_scope(cid: str) -> Iterator[None]:
    """Set a correlation id and a fresh, empty field set for one unit of work."""
    now = _ctx.get()
    token = _ctx.set(_Bound(cid, _EMPTY, now.request, now.scope))
    try:
        yield
    finally:
        _ctx.reset(token)
