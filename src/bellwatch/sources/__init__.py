"""Where the CLI reads logs from: local files (:mod:`.files`) or CloudWatch (``.cloudwatch``).

Every source implements :class:`~bellwatch.sources.base.Source`.
"""

from __future__ import annotations

from .base import Record, ScanStats, Source, SourceError

__all__ = ["Record", "ScanStats", "Source", "SourceError"]
