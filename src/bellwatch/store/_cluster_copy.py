"""Waiting for the cluster copy a Redis store keeps: what a fresh worker's first read needs.

Both Redis stores answer reads from a copy of the cluster's numbers that their
flusher refreshes after each round (never on the request path). A reader that must
not answer with one process's numbers alone asks for a refresh and waits for it,
briefly: :func:`wait_for_refresh`.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from ._redis_client import Shipper

__all__ = ["wait_for_refresh"]


class CopyingStore(Protocol):
    shipper: Shipper
    _cluster_at: float
    _read_at: float

    def current(self) -> bool: ...


def wait_for_refresh(store: CopyingStore, refreshed: threading.Condition, timeout: float) -> bool:
    """Have ``store``'s flusher refresh its cluster copy now; wait at most ``timeout`` seconds.

    ``refreshed`` is notified by the store after each refresh. Returns whether the
    copy is current; gives up at once while Redis is known to be down.
    """
    if store.current():
        return True
    if store.shipper.degraded:
        return False
    store._read_at = time.time()  # someone reads: the flusher refreshes the copy
    seen = store._cluster_at
    store.shipper.start()
    store.shipper.wake()
    deadline = time.monotonic() + timeout
    with refreshed:
        while store._cluster_at == seen and not store.shipper.degraded:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            refreshed.wait(min(left, 0.05))
    return store.current()
