"""Where bellwatch keeps its state: in memory by default, shared through Redis.

- :mod:`~bellwatch.store.base` / :mod:`~bellwatch.store.memory`: the performance
  monitor's :class:`Store` protocol and its in-memory store;
- :mod:`~bellwatch.store.redis`: the same numbers shared through Redis;
- :mod:`~bellwatch.store.patterns`: error patterns (the aggregator's state), with
  :mod:`~bellwatch.store.redis_errors` as their shared store.

Every name here is exported lazily (PEP 562): importing the package loads nothing
(the error aggregator imports :mod:`~bellwatch.store.patterns` without pulling
ddsketch in), and :class:`~bellwatch.store.redis.RedisStore` never imports the
``redis`` package until a store is built.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import OTHER, UNMATCHED, EndpointStats, Snapshot, Store
    from .memory import MemoryStore
    from .redis import RedisStore

__all__ = ["OTHER", "UNMATCHED", "EndpointStats", "MemoryStore", "RedisStore", "Snapshot", "Store"]

_WHERE = {
    "OTHER": "base",
    "UNMATCHED": "base",
    "EndpointStats": "base",
    "Snapshot": "base",
    "Store": "base",
    "MemoryStore": "memory",
    "RedisStore": "redis",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{where}", __name__), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
