"""The ASGI lifespan as the middleware sees it: everything written out at shutdown.

Imports the runtime (its ``shutdown``) and nothing else of the package.
"""

from __future__ import annotations

import asyncio

from .._guard import record_internal_error
from .._runtime import runtime
from ._scope import Message, Send

__all__ = ["shutting_down"]


def shutting_down(send: Send) -> Send:
    """Wrap a lifespan ``send``: once the app has shut down, write everything out.

    uvicorn (1 or N workers, ``--reload``) and gunicorn's UvicornWorker all run the
    lifespan shutdown on SIGTERM, before the process exits without exit handlers.
    """

    async def send_after_flush(message: Message) -> None:
        if message.get("type") in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            try:
                await asyncio.to_thread(runtime.shutdown, final=False)
            except Exception as exc:  # never in the way of the server's own shutdown
                record_internal_error(exc)
        await send(message)

    return send_after_flush
