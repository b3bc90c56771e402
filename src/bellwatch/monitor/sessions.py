"""Session keys: what makes a request part of an active session.

Active sessions are the distinct keys a :class:`SessionKey` extractor returns, seen
within ``session_window``: by default the session or user id the app binds
(``bellwatch.bind(sid=...)``); :func:`form_field` reads Twilio's ``CallSid`` from the
webhook's form body, :func:`header` and :func:`cookie` read request metadata (hashed,
so secrets are never kept).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from ..schema import F

__all__ = ["SessionKey", "bound_session", "cookie", "form_field", "header"]


class SessionKey:
    """Pulls a session key out of a finished request; ``None`` when there is none.

    Called with the ASGI scope, the fields bound during the request, and the
    request body when ``needs_body`` is true (form posts only, capped in size).
    ``loggable`` keys also go on the request line as ``sid``.
    """

    needs_body = False
    loggable = False

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        raise NotImplementedError


class _Bound(SessionKey):
    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        key = fields.get(F.SESSION_ID) or fields.get(F.USER_ID)
        return None if key is None else str(key)


bound_session: SessionKey = _Bound()
"""The default: the ``sid`` the app bound, else its ``uid``."""


def _digest(raw: bytes) -> str:
    # Secrets (cookies, tokens) are counted by a short hash, never kept or shipped.
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


class _Header(SessionKey):
    def __init__(self, name: str) -> None:
        self.name = name.lower().encode("latin-1")

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        for name, value in scope.get("headers", ()):
            if name == self.name and value:
                return _digest(value)
        return None


class _Cookie(SessionKey):
    def __init__(self, name: str) -> None:
        self.prefix = name.encode("latin-1") + b"="

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        for name, value in scope.get("headers", ()):
            if name != b"cookie":
                continue
            for raw in value.split(b";"):
                part = raw.strip()
                if part.startswith(self.prefix) and len(part) > len(self.prefix):
                    return _digest(part[len(self.prefix) :])
        return None


class _FormField(SessionKey):
    needs_body = True
    loggable = True

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        if body:
            # No field limit: the body is already capped, and a limit that raises would
            # let a request with many fields go unlogged and uncounted.
            values = parse_qs(body.decode("latin-1")).get(self.name)
            if values and values[0]:
                return values[0][:64]
        return bound_session(scope, fields, body)


def header(name: str) -> SessionKey:
    """Sessions keyed by a request header (hashed), e.g. ``header("x-session-id")``."""
    return _Header(name)


def cookie(name: str) -> SessionKey:
    """Sessions keyed by a cookie's value (hashed), e.g. ``cookie("session")``."""
    return _Cookie(name)


def form_field(name: str = "CallSid") -> SessionKey:
    """Sessions keyed by a urlencoded form field: Twilio's ``CallSid`` by default.

    Falls back to the bound ``sid``/``uid`` for requests without that field.
    """
    return _FormField(name)
