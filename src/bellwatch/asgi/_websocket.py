"""One WebSocket connection as the middleware sees it: messages each way, how it closed.

:class:`Connection` wraps ``receive`` and ``send``: it counts messages, puts the
correlation id on the handshake's answer, and keeps the first close code seen (the
app's ``websocket.close`` or the client's disconnect). The middleware writes one
``websocket_complete`` line from it when the connection ends.
"""

from __future__ import annotations

from typing import Any

from ..monitor.websockets import NORMAL_CLOSE
from ..schema import Ev, F
from ._scope import Message, Receive, Send

__all__ = ["Connection"]

_NO_STATUS = 1005  # closed without a code
_APP_RAISED = 1011  # "internal error", what servers send when the app raises


class Connection:
    """Counts one connection's messages and remembers how it closed."""

    __slots__ = ("_out_header", "code", "received", "sent")

    def __init__(self, out_header: tuple[bytes, bytes]) -> None:
        self._out_header = out_header
        self.code: int | None = None
        self.received = 0
        self.sent = 0

    def receive(self, receive: Receive) -> Receive:
        async def receive_counting() -> Message:
            message = await receive()
            kind = message.get("type")
            if kind == "websocket.receive":
                self.received += 1
            elif kind == "websocket.disconnect" and self.code is None:
                self.code = int(message.get("code", _NO_STATUS))
            return message

        return receive_counting

    def send(self, send: Send) -> Send:
        async def send_counting(message: Message) -> None:
            kind = message.get("type")
            if kind == "websocket.send":
                self.sent += 1
            elif kind == "websocket.accept":
                message = {**message, "headers": [*message.get("headers", ()), self._out_header]}
            elif kind == "websocket.close" and self.code is None:
                self.code = int(message.get("code", 1000))
            await send(message)

        return send_counting

    def close_code(self, raised: bool) -> int:
        """1011 when the app raised; else the first code seen, 1005 when there was none."""
        if raised:
            return _APP_RAISED
        return self.code if self.code is not None else _NO_STATUS

    def line(self, path: str, duration: float, raised: bool) -> tuple[str, dict[str, Any]]:
        """The level and event of the ``websocket_complete`` line."""
        code = self.close_code(raised)
        level = "error" if raised else "info" if code in NORMAL_CLOSE else "warning"
        return level, {
            F.EVENT: Ev.WEBSOCKET,
            F.PATH: path,
            F.CLOSE_CODE: code,
            F.DURATION: round(duration, 3),
            F.MESSAGES_IN: self.received,
            F.MESSAGES_OUT: self.sent,
        }
