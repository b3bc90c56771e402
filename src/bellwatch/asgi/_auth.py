"""Who may read ``/metrics`` and ``/dashboard``: the bearer token, or a dashboard session.

A browser that showed the token once (``/dashboard?token=...``, or a bearer header)
gets a session cookie of its own: a random id and an expiry, signed with a key
derived from the token. Nothing is stored server-side, so every worker and every
task accepts it; a new token changes the key and ends every session at once, and the
expiry (setting ``dashboard_session_ttl``) is signed, so a browser cannot extend it.

Failed checks are counted (``auth_failures`` in :func:`bellwatch.stats`) and logged
as ``auth_failed`` at WARNING, at most once a minute with the number of failures
since the previous line, never with the value that was presented.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time

from .._guard import counters, record_internal_error
from ..log import pipeline
from ..schema import Ev, F
from ._scope import Scope

__all__ = ["COOKIE", "Failures", "authorize", "cookie_ok", "failures", "new_session"]

COOKIE = "bellwatch_dashboard"
_LABEL = b"bellwatch-dashboard-session-v2"


def _key(token: bytes) -> bytes:
    # Derived from the token: a new token is a new key, and every old cookie fails.
    return hmac.new(token, _LABEL, hashlib.sha256).digest()


def _sign(token: bytes, payload: str) -> str:
    return hmac.new(_key(token), payload.encode("ascii"), hashlib.sha256).hexdigest()


def new_session(token: bytes, ttl: float, now: float | None = None) -> str:
    """A fresh cookie value for one browser: ``<random id>.<expiry>.<signature>``."""
    expires = int((time.time() if now is None else now) + ttl)
    payload = f"{secrets.token_urlsafe(18)}.{expires}"
    return f"{payload}.{_sign(token, payload)}"


def session_check(value: str, token: bytes, ttl: float, now: float | None = None) -> str | None:
    """``None`` when ``value`` is a valid, unexpired session for ``token``; else why not.

    A session outliving a ``ttl`` shortened since it was issued ends with the new ttl.
    """
    sid, _, rest = value.partition(".")
    expires, _, signature = rest.partition(".")
    if not (sid and expires.isdigit() and signature):
        return "cookie"
    if not hmac.compare_digest(signature.encode(), _sign(token, f"{sid}.{expires}").encode()):
        return "cookie"
    now = time.time() if now is None else now
    if not now < int(expires) <= now + ttl:
        return "expired"
    return None


def _headers(scope: Scope, name: bytes) -> list[bytes]:
    return [bytes(value) for key, value in scope.get("headers", ()) if key == name]


def _cookie(scope: Scope) -> str:
    for header in _headers(scope, b"cookie"):
        for part in header.decode("latin-1").split(";"):
            key, _, value = part.strip().partition("=")
            if key == COOKIE:
                return value
    return ""


def _bearer(scope: Scope) -> bytes | None:
    for header in _headers(scope, b"authorization"):
        scheme, _, value = header.partition(b" ")
        if scheme.lower() == b"bearer":
            return value.strip()
    return None


def cookie_ok(scope: Scope, token: bytes, ttl: float = 43_200.0) -> bool:
    """True when the request carries a valid dashboard session for ``token``."""
    value = _cookie(scope)
    return bool(value) and session_check(value, token, ttl) is None


def authorize(scope: Scope, token: bytes, ttl: float) -> tuple[bool, str]:
    """``(True, "bearer" | "cookie")`` when the request may read, else ``(False, why)``.

    Why: ``missing`` (nothing presented), ``bearer`` (a wrong token), ``cookie`` (a
    forged or stale session: the token changed) or ``expired``.
    """
    given = _bearer(scope)
    if given is not None and hmac.compare_digest(given, token):
        return True, "bearer"
    value = _cookie(scope)
    why = session_check(value, token, ttl) if value else "missing"
    if why is None:
        return True, "cookie"
    return False, "bearer" if given is not None else why


class Failures:
    """Counts failed token checks and logs them, at most one line per ``every`` seconds.

    The limit restarts with each configuration (a new pipeline), so a service that
    reconfigures says so again at once.
    """

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._lock = threading.Lock()
        self._pipe: object = None
        self._next = 0.0
        self._unsaid = 0

    def record(self, path: str, why: str) -> None:
        """One failed check on ``path``; never raises, never sees the presented value."""
        try:
            counters.auth_failures += 1
            pipe = pipeline.current()
            now = time.monotonic()
            with self._lock:
                if pipe is not self._pipe:
                    self._pipe, self._next, self._unsaid = pipe, 0.0, 0
                self._unsaid += 1
                if now < self._next:
                    return
                count, self._unsaid, self._next = self._unsaid, 0, now + self.every
            event = {F.EVENT: Ev.AUTH_FAILED, F.PATH: path, F.CHECK: why, F.COUNT: count}
            pipe.emit("warning", event)
        except Exception as exc:
            record_internal_error(exc)


failures = Failures()
