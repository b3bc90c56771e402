"""Pipeline steps, structlog-style: ``(logger, method_name, event_dict) -> event_dict``.

Each step with settings is a small class that decides everything in ``__init__``
so that ``__call__`` does only per-event work.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from ..schema import F
from .context import _ctx
from .render import safe_repr

__all__ = [
    "AddContext",
    "CompactException",
    "Redactor",
    "compact_traceback",
    "mask_phone_numbers",
]

LEVEL_OF = {
    "debug": "DEBUG",
    "info": "INFO",
    "msg": "INFO",
    "warning": "WARNING",
    "warn": "WARNING",
    "error": "ERROR",
    "exception": "ERROR",
    "critical": "CRITICAL",
    "fatal": "CRITICAL",
}

MASK = "***"

# E.164: "+" and up to 15 digits. Keep the last four so support can still match a caller.
_PHONE = re.compile(r"(?<![\w+])\+\d{4,11}(\d{4})(?!\d)")


def mask_phone_numbers(text: str) -> str:
    """Replace every E.164 number in ``text`` by ``+***`` and its last four digits."""
    return _PHONE.sub(r"+***\1", text) if "+" in text else text


def _ts_ms() -> int:
    return time.time_ns() // 1_000_000


def _ts_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ts_ms_at(ns: int) -> int:
    return ns // 1_000_000


def _ts_iso_at(ns: int) -> str:
    # Whole seconds, then the microseconds as an integer: a float of ns rounds up
    # across a millisecond that the live timestamp would truncate.
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AddContext:
    """Put ``ts``, ``level``, ``event`` and ``cid`` first, then bound fields, then call fields.

    Core keys lead the line so that a reader (or ``head -c``) sees them first.
    """

    __slots__ = ("_now", "stamp")

    def __init__(self, timestamp: str = "ms") -> None:
        self._now = _ts_iso if timestamp == "iso" else _ts_ms
        # The same format for a moment taken earlier (``time.time_ns()``): a request
        # line finished in a batch carries the time its request ended.
        self.stamp = _ts_iso_at if timestamp == "iso" else _ts_ms_at

    def __call__(self, _logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {
            F.TS: self._now(),
            F.LEVEL: LEVEL_OF.get(method, "INFO"),
            F.EVENT: event.pop("event", ""),
        }
        now = _ctx.get()
        cid = now.cid
        if cid is not None:
            out[F.CID] = cid
        bound = now.fields
        if bound:
            core = dict(out)
            out.update(bound)
            out.update(core)  # a bound "level" or "event" must not rewrite the line's own
        if event:
            out.update(event)
        return out


def _frames(tb: TracebackType | None, limit: int) -> list[str]:
    frames = []
    while tb is not None:
        code = tb.tb_frame.f_code
        module = tb.tb_frame.f_globals.get("__name__", "?")
        frames.append(f"{module}:{code.co_name}:{tb.tb_lineno}")
        tb = tb.tb_next
    # innermost first: where it broke, then who called it
    return frames[::-1][:limit]


def compact_traceback(exc: BaseException, limit: int = 3) -> str:
    """``module:function:line`` of the innermost ``limit`` frames, innermost first.

    Never includes local variables (structlog's dict tracebacks do by default).
    """
    return " < ".join(_frames(exc.__traceback__, limit))


def exception_from(exc_info: object) -> BaseException | None:
    """The exception an ``exc_info`` value refers to (True, an instance, or a 3-tuple)."""
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    if exc_info:
        return sys.exc_info()[1]
    return None


class CompactException:
    """Turn ``exc_info`` into ``type``, ``msg`` and a short ``exc`` frame list."""

    __slots__ = ("_frames",)

    def __init__(self, frames: int = 3) -> None:
        self._frames = frames

    def __call__(self, _logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        exc_info = event.pop("exc_info", None)
        if exc_info is None and method == "exception":
            exc_info = True
        exc = exception_from(exc_info) if exc_info is not None else None
        if exc is None:
            return event
        event.setdefault(F.ERROR_TYPE, type(exc).__name__)
        event.setdefault(F.MESSAGE, safe_repr(exc, 200) if _str_fails(exc) else str(exc))
        event[F.EXC] = compact_traceback(exc, self._frames)
        return event


def _str_fails(exc: BaseException) -> bool:
    try:
        str(exc)
    except Exception:
        return True
    return False


def _normalise(key: str) -> str:
    return key.lower().replace("-", "_")


# Secrets in URLs and query strings: ?api_key=..., &token=..., ;sig=...
_QUERY_SECRET = re.compile(
    r"(?i)([?&;][a-z0-9_.-]*?(?:token|key|secret|password|passwd|signature|sig|auth)=)[^&;\s'\"#]+"
)


def mask_query_secrets(text: str) -> str:
    """Mask the values of secret-looking query parameters in ``text``."""
    return _QUERY_SECRET.sub(r"\1" + MASK, text) if "=" in text else text


class Redactor:
    """Mask values under sensitive keys, secret query parameters and E.164 numbers.

    A key is sensitive when, lowercased with ``-`` as ``_``, it is one of ``keys`` or
    ends with ``_<key>`` (``db_password``, ``stripe_api_key``). Any mapping (Starlette
    ``Headers``, ``MappingProxyType``), list, tuple or set is scrubbed, as are
    ``(name, value)`` pairs such as raw ASGI header lists with bytes names. Key
    decisions are cached per key (bounded), so a steady stream of the same keys costs
    one dict lookup each.
    """

    __slots__ = ("_cache", "_keys", "_phones", "_suffixes")

    _CACHE_MAX = 4096
    _MAX_DEPTH = 4

    def __init__(self, keys: Iterable[str], mask_phones: bool = True) -> None:
        self._keys = frozenset(_normalise(k) for k in keys)
        self._suffixes = tuple("_" + k for k in self._keys)
        self._phones = mask_phones
        self._cache: dict[Any, bool] = {}

    def _sensitive(self, key: object) -> bool:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if not isinstance(key, str):
            return False
        hit = self._cache.get(key)
        if hit is None:
            norm = _normalise(key)
            hit = norm in self._keys or norm.endswith(self._suffixes)
            if len(self._cache) < self._CACHE_MAX:
                self._cache[key] = hit
        return hit

    def _text(self, value: str) -> str:
        if "=" in value:
            value = mask_query_secrets(value)
        if self._phones and "+" in value:
            value = mask_phone_numbers(value)
        return value

    def __call__(self, _logger: object, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        # Hot path: one dict lookup per key, exact type checks before isinstance.
        cache = self._cache
        for key, value in event.items():
            hit = cache.get(key)
            if hit is None:
                hit = self._sensitive(key)
            if hit:
                event[key] = MASK
                continue
            kind = type(value)
            if kind is str:
                if "=" in value or (self._phones and "+" in value):
                    event[key] = self._text(value)
            elif kind is int or kind is float or kind is bool or value is None:
                continue
            elif isinstance(value, str | Mapping | list | tuple | set | frozenset):
                event[key] = self._scrub(value, 0)
        return event

    def _scrub(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if not isinstance(value, Mapping | list | tuple | set | frozenset):
            return value
        if depth >= self._MAX_DEPTH:
            return MASK  # deeper than we look: never pass it through unread
        try:
            if isinstance(value, Mapping):
                return {
                    k: MASK if self._sensitive(k) else self._scrub(v, depth + 1)
                    for k, v in value.items()
                }
            out = []
            for item in value:
                if isinstance(item, tuple | list) and len(item) == 2 and self._sensitive(item[0]):
                    out.append((item[0], MASK))  # a (name, value) pair, e.g. ASGI headers
                else:
                    out.append(self._scrub(item, depth + 1))
            return out
        except Exception:
            return MASK  # a container that cannot be read is not written either
        if isinstance(value, dict):
            return {
                k: MASK if self._sensitive(k) else self._scrub(v, depth + 1)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._scrub(v, depth + 1) for v in value]
        if isinstance(value, str) and self._phones and "+" in value:
            return mask_phone_numbers(value)
        return value
