"""Correlation id and bound fields, one ContextVar each.

Values are immutable (a str, a frozen mapping copy), so a task or thread that
copied the context can never mutate its parent's view. The one exception is the
per-request :class:`RequestState` holder set by the middleware: a sync route runs
in the threadpool on a *copy* of the context, so a ``bind(uid=...)`` there would
otherwise never reach the request's own ``request_complete`` line.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar, Token
from types import MappingProxyType
from typing import Any

__all__ = [
    "RequestState",
    "bind",
    "bound",
    "clear",
    "get_cid",
    "get_fields",
    "new_id",
    "reset_cid",
    "set_cid",
    "unbind",
    "valid_id",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})

_cid: ContextVar[str | None] = ContextVar("bellwatch_cid", default=None)
_fields: ContextVar[Mapping[str, Any]] = ContextVar("bellwatch_fields", default=_EMPTY)


class RequestState:
    """Mutable, per-request holder shared by every context copied from the request.

    ``fields`` collects what :func:`bind` added anywhere during the request (the
    middleware's own task, threadpool copies, child tasks) for the request line.
    """

    __slots__ = ("fields",)

    def __init__(self) -> None:
        self.fields: dict[str, Any] = {}


_request: ContextVar[RequestState | None] = ContextVar("bellwatch_request", default=None)

# Letters, digits and a few separators used by real tracing ids (ALB, W3C, UUID).
_ID_CHARS = re.compile(r"[A-Za-z0-9._:=-]+")


class _RandomPool:
    """Bytes from ``os.urandom`` fetched 4 KiB at a time.

    One ``getrandom`` syscall per request showed up as ~5% of a busy server's
    CPU; a pool keeps the ids just as unpredictable for a fraction of the cost.
    The pool is dropped in a forked child, so two workers never share ids.
    """

    __slots__ = ("_buf", "_lock", "_pos")
    _SIZE = 4096

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._pos = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            end = self._pos + n
            if end > len(self._buf):
                self._buf = os.urandom(max(self._SIZE, n))
                self._pos, end = 0, n
            chunk = self._buf[self._pos : end]
            self._pos = end
            return chunk

    def forget(self) -> None:
        self._lock = threading.Lock()
        self._buf = b""
        self._pos = 0


_pool = _RandomPool()
os.register_at_fork(after_in_child=_pool.forget)


def new_id(nbytes: int = 6) -> str:
    """A fresh lowercase hex id; 6 bytes (48 bits) by default.

    48 bits keeps the chance of any collision among a million ids a day at
    about 0.2%; the guide's 8 hex (32 bits) pass 50% at about 77,000.
    """
    return _pool.take(nbytes).hex()


def valid_id(value: str, max_length: int = 64) -> bool:
    """True when ``value`` is a non-empty id of safe characters within ``max_length``."""
    return 0 < len(value) <= max_length and _ID_CHARS.fullmatch(value) is not None


def get_cid() -> str | None:
    """The current correlation id, or None outside a request."""
    return _cid.get()


def set_cid(cid: str | None) -> Token[str | None]:
    """Set the correlation id; pass the token to :func:`reset_cid` in ``finally``."""
    return _cid.set(cid)


def reset_cid(token: Token[str | None]) -> None:
    _cid.reset(token)


def get_fields() -> Mapping[str, Any]:
    """Fields bound in the current context (read-only)."""
    return _fields.get()


def bind(**fields: Any) -> None:
    """Add fields to every line logged from the current context onwards.

    Inside a request the middleware resets them when the request ends; use
    :func:`bound` to scope them yourself.
    """
    merged = dict(_fields.get())
    merged.update(fields)
    _fields.set(MappingProxyType(merged))
    state = _request.get()
    if state is not None:
        state.fields.update(fields)


def unbind(*keys: str) -> None:
    """Remove bound fields from the current context."""
    current = _fields.get()
    if any(k in current for k in keys):
        _fields.set(MappingProxyType({k: v for k, v in current.items() if k not in keys}))
    state = _request.get()
    if state is not None:
        for key in keys:
            state.fields.pop(key, None)


def clear() -> None:
    """Remove every bound field and the correlation id from the current context."""
    _fields.set(_EMPTY)
    _cid.set(None)
    _request.set(None)


@contextmanager
def bound(**fields: Any) -> Iterator[None]:
    """Bind fields for the duration of a ``with`` block, then restore the previous ones."""
    merged = dict(_fields.get())
    merged.update(fields)
    token = _fields.set(MappingProxyType(merged))
    try:
        yield
    finally:
        _fields.reset(token)


@contextmanager
def request_scope(cid: str) -> Iterator[None]:
    """Set a correlation id and a fresh, empty field set for one unit of work."""
    cid_token = _cid.set(cid)
    fields_token = _fields.set(_EMPTY)
    try:
        yield
    finally:
        _fields.reset(fields_token)
        _cid.reset(cid_token)
