"""Where the performance monitor keeps its state: in memory by default, shared later.

See :mod:`bellwatch.store.base` for the protocol a shared store implements.
"""

from __future__ import annotations

from .base import OTHER, UNMATCHED, EndpointStats, Snapshot, Store
from .memory import MemoryStore

__all__ = ["OTHER", "UNMATCHED", "EndpointStats", "MemoryStore", "Snapshot", "Store"]
