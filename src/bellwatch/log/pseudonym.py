"""Pseudonymous user ids: a bound ``uid`` replaced by its keyed BLAKE2 hash (``hash_uid``).

With ``hash_uid`` on, :func:`bellwatch.bind` (and ``bound``) store the hash instead of
the id, so every reader downstream sees only the hash: the lines, the request line,
the session key that falls back to ``uid``, the user analytics, the error
aggregator's "users affected" and the keys sent to Redis. A ``uid`` passed to one
logger call (or bound on a structlog logger) is hashed on its way into the line.

The hash is ``blake2b(uid, key=uid_key, digest_size=8)`` in hex: 16 characters, the
same in every process and task that share the key (so counts merge across a cluster),
and not reversible without the key. Support can still find one user's lines: hash
their id with the same key (``bellwatch.log.pseudonym.UidHasher(key)("alice")``).

A hash is a :class:`Pseudonym` (a ``str``): hashing one again returns it unchanged, so
a value that passes two hashing points (bound, then written through a logger call)
is hashed once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import _settings
from ..schema import F

__all__ = [
    "HashingContext",
    "Pseudonym",
    "UidHasher",
    "active",
    "forget",
    "hashed_fields",
    "install",
]


class Pseudonym(str):
    """A hashed user id: written and compared as the plain string it is."""

    __slots__ = ()


class UidHasher:
    """``hasher(uid)``: the keyed BLAKE2b hash of ``str(uid)``, 16 hex characters.

    Args:
        key: the secret (setting ``uid_key``), 16 to 64 bytes of UTF-8.
    """

    __slots__ = ("_blake2b", "_key")

    def __init__(self, key: str) -> None:
        raw = key.encode("utf-8")
        if not 16 <= len(raw) <= 64:
            raise ValueError("uid_key: expected 16 to 64 bytes")
        self._key = raw
        import hashlib  # here, not at the top: 3 ms of every CLI command's start otherwise

        self._blake2b = hashlib.blake2b

    @classmethod
    def from_settings(cls, settings: _settings.Settings) -> UidHasher | None:
        """The hasher ``settings`` ask for; ``None`` with ``hash_uid`` off."""
        if not settings.hash_uid or not settings.uid_key:
            return None
        return cls(settings.uid_key)

    def __call__(self, value: object) -> Any:
        if value is None or type(value) is Pseudonym:
            return value
        text = value if isinstance(value, str) else str(value)
        digest = self._blake2b(text.encode("utf-8"), key=self._key, digest_size=8)
        return Pseudonym(digest.hexdigest())


_UNSET: Any = object()
_active: Any = _UNSET  # a UidHasher, None (hash_uid off), or _UNSET (not configured yet)


def install(hasher: UidHasher | None) -> None:
    """Make ``hasher`` the one :func:`bellwatch.bind` uses (the runtime, at configure)."""
    global _active
    _active = hasher


def forget() -> None:
    """Unconfigured again (the runtime's reset): the next bound uid reads the settings."""
    global _active
    _active = _UNSET


def active() -> UidHasher | None:
    """The hasher in force, or ``None`` (``hash_uid`` off).

    Before any ``configure()``, the settings in force (``BELLWATCH_*``) decide, so a uid
    bound at import time is hashed as the environment says.

    Raises:
        ConfigError: ``BELLWATCH_HASH_UID`` without a valid ``BELLWATCH_UID_KEY``.
    """
    global _active
    if _active is _UNSET:
        _active = UidHasher.from_settings(_settings.resolve())
    return _active  # type: ignore[no-any-return]


def hashed_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """``fields`` (keyword arguments: the caller's own dict) with ``uid`` hashed in place
    when a hasher is in force."""
    if F.USER_ID in fields:
        hasher = _active if _active is not _UNSET else active()
        if hasher is not None:
            fields[F.USER_ID] = hasher(fields[F.USER_ID])
    return fields


Step = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


class HashingContext:
    """Wraps the pipeline's context step: a ``uid`` given to one call is hashed first.

    Only with ``hash_uid`` on (chosen when the pipeline is built); bound fields were
    hashed when bound. ``stamp`` is the wrapped step's, for the request line.
    """

    __slots__ = ("_hasher", "_inner", "stamp")

    def __init__(self, inner: Step, hasher: UidHasher) -> None:
        self._inner = inner
        self._hasher = hasher
        self.stamp = getattr(inner, "stamp", None)

    def __call__(self, logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        if F.USER_ID in event:
            event[F.USER_ID] = self._hasher(event[F.USER_ID])
        return self._inner(logger, method, event)
