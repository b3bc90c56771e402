"""What every tool call reads: the source, the running service's URL, the settings."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from .. import _settings
from ..sources.base import Source

__all__ = ["Context"]


@dataclass
class Context:
    """What every tool call reads: the source (a fresh one per call, so each reply counts
    its own scan), the running service's URL and token, and the settings."""

    open_source: Callable[[], Source]
    url: str
    settings: _settings.Settings = field(default_factory=_settings.resolve)
    version: str = ""
    """bellwatch's version, for the server's ``serverInfo``."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> str:
        """What the server reads, for its instructions."""
        try:
            return self.open_source().describe()
        except Exception:  # a source that cannot even name itself yet: say so plainly
            return "logs"
