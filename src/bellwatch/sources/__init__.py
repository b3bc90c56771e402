"""Where log events come from: local files (:mod:`.files`) or CloudWatch (:mod:`.cloudwatch`),
read by the one record reader (:mod:`.reader`), and the report facts kept for local files
(:mod:`.facts`, folded by :mod:`._fold`, cached by :mod:`.cache`).

Every source implements :class:`~bellwatch.sources.base.Source`. Layering: imports
``schema``, ``timeparse`` and, for CloudWatch only, ``aws``; never ``reports`` or ``cli``.
"""

from __future__ import annotations

from .base import Record, ScanStats, Source, SourceError, TextRecord

__all__ = ["Record", "ScanStats", "Source", "SourceError", "TextRecord"]
