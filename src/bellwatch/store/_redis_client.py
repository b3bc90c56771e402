"""The one place that imports ``redis``: a client with short timeouts, made lazily.

Everything else in :mod:`bellwatch.store` talks to Redis through :func:`connect` and
:class:`ScriptConnection`, and catches :data:`REDIS_ERRORS`, so the core imports and
runs without the extra. Here too: what a failure means (:func:`refused`) and how long
to wait before trying again (:func:`backoff`). The shipping of batches is
:mod:`bellwatch.store._shipper`'s. Imports only :mod:`bellwatch._settings` and ``redis``.
"""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from .. import _settings

__all__ = [
    "BACKOFF_MAX",
    "REDIS_ERRORS",
    "Script",
    "ScriptConnection",
    "backoff",
    "connect",
    "key_prefix",
    "redis_errors",
    "refused",
]

_HINT = "the Redis store needs the redis package: pip install 'bellwatch[redis]'"

# Filled by redis_errors() on first use; OSError covers refused and reset sockets.
REDIS_ERRORS: tuple[type[BaseException], ...] = (OSError,)
# redis' NoScriptError and ConnectionError, once it is imported
_NO_SCRIPT: type[BaseException] = LookupError
_DROPPED: type[BaseException] = LookupError


def key_prefix(service: str) -> str:
    """``bellwatch:<service>:``, the namespace every key of ``service`` lives under.

    Raises :class:`~bellwatch._settings.ConfigError` for a name holding ``:`` or a glob
    character (the settings' rule): the first segment after ``bellwatch:`` then names
    exactly one service, so no key or ``SCAN`` pattern of one reaches another's keys.
    """
    return f"bellwatch:{_settings.service_name('service', service)}:"


def _module() -> Any:
    try:
        import redis
    except ImportError as exc:
        raise ImportError(_HINT) from exc
    return redis


def redis_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "Redis is down, slow or refusing": degrade, never raise."""
    global REDIS_ERRORS, _NO_SCRIPT, _DROPPED
    if len(REDIS_ERRORS) == 1:
        redis = _module()
        _NO_SCRIPT, _DROPPED = redis.exceptions.NoScriptError, redis.exceptions.ConnectionError
        REDIS_ERRORS = (redis.RedisError, OSError)
    return REDIS_ERRORS


def refused(exc: BaseException) -> bool:
    """Whether ``exc`` is a refused connection: nothing listens at Redis's address.

    redis-py raises its own ``ConnectionError`` while handling the socket's
    ``ConnectionRefusedError``, so the refusal is found in the chain of causes.
    """
    seen: BaseException | None = exc
    for _ in range(8):  # a bounded walk: a chain may loop
        if seen is None:
            return False
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Script:
    """A Lua script Redis runs by its SHA1 (``EVALSHA``), sent in full once per Redis."""

    __slots__ = ("sha", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        # Redis names scripts by SHA1; not a security use.
        self.sha = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest()


def connect(url: str, *, timeout: float = 0.5) -> Any:
    """A ``redis.Redis`` for ``url`` whose every call gives up after ``timeout`` seconds.

    Only the background flusher uses it, so a slow Redis delays a flush, never a
    request. No retries inside the client: the flusher retries on its own schedule.

    Raises:
        ImportError: the ``redis`` package is missing (with the install hint).
        ValueError: ``url`` is not a Redis URL.
    """
    redis = _module()
    redis_errors()
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=0,
        retry_on_timeout=False,
        retry=Retry(NoBackoff(), 0),
        decode_responses=True,
    )


BACKOFF_MAX = 5.0  # seconds between the thread's rounds at most while Redis is down


def backoff(interval: float, failed: int) -> float:
    """Seconds before the next background round after ``failed`` failed ones in a row."""
    if not failed:
        return interval
    return min(max(interval, BACKOFF_MAX), interval * 2.0 ** min(failed, 16))


class ScriptConnection:
    """One connection of a client, kept to run :class:`Script` s on.

    One write and one read a call, straight on the connection (no pool checkout with
    its liveness probe, no retry wrapper): each system call lets the event loop's
    thread take the GIL, and then the calling thread waits to get it back, so a round
    costs the loop a few such handovers, not a dozen. After any error the connection
    is closed (a late reply must never be read as the next command's) and the next
    call connects again; a connection found closed by the server (Redis restarted) is
    opened again once at once: the scripts apply a batch at most once.
    """

    __slots__ = ("_answered", "_held")

    def __init__(self) -> None:
        self._held: tuple[Any, Any] | None = None  # (client, its connection)
        self._answered = False  # whether that connection answered last time

    def run(self, client: Any, script: Script, args: list[Any]) -> Any:
        """Run ``script`` with ``args`` on the connection kept for ``client``; the reply."""
        held = self._held
        if held is None or held[0] is not client:
            if held is not None:
                with contextlib.suppress(Exception):
                    held[1].disconnect()
            held = self._held = (client, client.connection_pool.make_connection())
            self._answered = False
        conn = held[1]
        try:
            reply = _call(conn, script, args)
        except _DROPPED:
            if not self._answered:
                raise
            self._answered = False  # once: then it is Redis that is down
            reply = _call(conn, script, args)
        self._answered = True
        return reply

    def close(self) -> None:
        """Close the kept connection, if any (the next call connects again)."""
        held, self._held = self._held, None
        if held is not None:
            with contextlib.suppress(Exception):
                held[1].disconnect()


def _call(conn: Any, script: Script, args: list[Any]) -> Any:
    try:
        conn.send_packed_command(conn.pack_command("EVALSHA", script.sha, 0, *args), False)
        try:
            return conn.read_response()
        except _NO_SCRIPT:  # a Redis that restarted, or never saw it: once, in full
            conn.send_packed_command(conn.pack_command("EVAL", script.source, 0, *args), False)
            return conn.read_response()
    except BaseException:
        with contextlib.suppress(Exception):
            conn.disconnect()  # the next call connects again (same object, no new setup)
        raise
