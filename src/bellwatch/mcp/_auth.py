"""The bearer token in front of ``bellwatch mcp --http``: pure ASGI, constant-time compare.

Every HTTP request must carry ``Authorization: Bearer <BELLWATCH_MCP_TOKEN>`` (the scheme in
any case); any other
gets 401 with ``WWW-Authenticate: Bearer`` and never reaches the MCP app. The lifespan
passes through (the app's session manager starts there).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

__all__ = ["BearerGate"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_REFUSED = b'{"error":"unauthorized: send Authorization: Bearer <BELLWATCH_MCP_TOKEN>"}'


class BearerGate:
    """Lets through only requests bearing ``token``."""

    def __init__(self, app: App, token: str) -> None:
        if not token or not token.strip():
            raise ValueError("a bearer token is required")
        self.app = app
        self._expected = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented = b""
        for name, value in scope.get("headers") or ():
            if name.lower() == b"authorization":
                # The scheme is case-insensitive (RFC 7235), as /metrics reads it.
                scheme, _, credentials = value.partition(b" ")
                if scheme.lower() == b"bearer":
                    presented = credentials
                break
        if presented and hmac.compare_digest(presented, self._expected):
            await self.app(scope, receive, send)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="bellwatch-mcp"'),
                    (b"content-length", str(len(_REFUSED)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _REFUSED})
