"""The C scanner (``_scan.c``), where ``pip install`` built it: its one import site.

Optional: without a C compiler the extension is not built, :data:`scan` is ``None``, and
every caller does the same work in Python (:mod:`._native` for the fold,
:mod:`._sections` for counting durations), with the same answers.
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["scan"]

scan: ModuleType | None
try:
    from . import _scan as scan
except ImportError:  # pragma: no cover - built by `pip install` where a compiler is found
    scan = None
