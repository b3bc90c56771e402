"""A JSON POST that gives up on time: a connect timeout and a deadline for the whole exchange.

``urllib``'s timeout applies to each socket operation, so a server that trickles one
byte every two seconds holds a 5-second timeout forever. Here every send and receive
gets what is left of one deadline, and only the status line is read.
"""

from __future__ import annotations

import socket
import ssl
import time
from urllib.parse import urlsplit

__all__ = ["post_json"]

_HEAD_MAX = 8192  # a status line longer than this is not an HTTP answer


def post_json(url: str, body: bytes, *, connect_timeout: float, timeout: float) -> int:
    """POST ``body`` to ``url``; the response's status code.

    Raises:
        TimeoutError: no connection within ``connect_timeout``, or no status line
            within ``timeout`` seconds of starting.
        OSError: the connection failed (refused, reset, TLS).
        ValueError: the answer is not HTTP.
    """
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    https = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if https else 80)
    sock = socket.create_connection((host, port), timeout=min(connect_timeout, timeout))
    try:
        if https:
            sock.settimeout(_left(deadline))
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "User-Agent: bellwatch\r\nConnection: close\r\n\r\n"
        )
        data = memoryview(head.encode("latin-1") + body)
        while data:
            sock.settimeout(_left(deadline))
            data = data[sock.send(data) :]
        got = b""
        while b"\r\n" not in got:
            sock.settimeout(_left(deadline))
            chunk = sock.recv(1024)
            if not chunk or len(got) > _HEAD_MAX:
                raise ValueError("the webhook closed the connection without an HTTP status")
            got += chunk
        status_line = got.split(b"\r\n", 1)[0].split(b" ", 2)
        if len(status_line) < 2 or not status_line[0].startswith(b"HTTP/"):
            raise ValueError("the webhook's answer is not HTTP")
        return int(status_line[1])
    finally:
        sock.close()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the webhook did not answer in time")
    return left
