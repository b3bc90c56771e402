"""Where the performance monitor keeps its state: in memory by default, shared through Redis.

See :mod:`bellwatch.store.base` for the protocol a shared store implements.
:class:`~bellwatch.store.redis.RedisStore` is exported lazily: importing this package
never imports the ``redis`` package (building a store does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import OTHER, UNMATCHED, EndpointStats, Snapshot, Store
from .memory import MemoryStore

if TYPE_CHECKING:
    from .redis import RedisStore

__all__ = ["OTHER", "UNMATCHED", "EndpointStats", "MemoryStore", "RedisStore", "Snapshot", "Store"]


def __getattr__(name: str) -> Any:
    # PEP 562: ``bellwatch.store.RedisStore`` loads store.redis on first access only.
    if name == "RedisStore":
        from .redis import RedisStore

        return RedisStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
