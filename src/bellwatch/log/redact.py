"""Redaction: secrets and personal data never reach a line.

:class:`Redactor` is the pipeline step that masks values under sensitive keys, secret
query parameters and phone numbers, in any mapping, list or ``(name, value)`` pair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["MASK", "Redactor", "mask_phone_numbers", "mask_query_secrets"]

MASK = "***"

# E.164: "+" and up to 15 digits. Keep the last four so support can still match a caller.
_PHONE = re.compile(r"(?<![\w+])\+\d{4,11}(\d{4})(?!\d)")


def mask_phone_numbers(text: str) -> str:
    """Replace every E.164 number in ``text`` by ``+***`` and its last four digits."""
    return _PHONE.sub(r"+***\1", text) if "+" in text else text


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
