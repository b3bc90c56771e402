"""A real uvicorn server on a free 127.0.0.1 port, in a thread of this process.

The demo and the tests both need the service on a real socket (so the traffic is
real HTTP), while sharing this process's monitor and logging pipeline. uvicorn
gets ``log_config=None`` so that its own records flow through bellwatch.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from ._defaults import INSTALL

__all__ = ["RunningServer", "start_server"]


class RunningServer:
    """A uvicorn server running in a daemon thread; :meth:`stop` shuts it down cleanly."""

    def __init__(self, server: Any, thread: threading.Thread, port: int) -> None:
        self._server = server
        self._thread = thread
        self.port = port
        self.url = f"http://127.0.0.1:{port}"

    def stop(self, timeout: float = 10.0) -> None:
        """Ask uvicorn to exit (finishing in-flight requests) and wait for the thread."""
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_server(app: Any, port: int = 0, timeout: float = 15.0) -> RunningServer:
    """Serve ``app`` on ``127.0.0.1:port`` (a free port when 0); return once it accepts.

    Raises:
        RuntimeError: uvicorn did not start within ``timeout`` seconds.
    """
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(f"the demo server needs uvicorn: {INSTALL}", name="uvicorn") from exc

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    config = uvicorn.Config(
        app,
        log_config=None,  # bellwatch owns logging; uvicorn's records go through it
        access_log=False,  # the middleware's request line replaces the access log
        lifespan="off",
        # Longer than any client's idle gap: uvicorn's 5 s default closes pooled
        # connections just as a client reuses them (as it does behind an ALB's 60 s).
        timeout_keep_alive=75,
        timeout_graceful_shutdown=5,
    )
    # uvicorn leaves the process's signal handlers alone when not in the main thread.
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="bella-uvicorn", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("the demo server did not start")
        time.sleep(0.02)
    return RunningServer(server, thread, sock.getsockname()[1])
