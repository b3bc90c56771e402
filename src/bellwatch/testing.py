"""Helpers for testing code that logs through bellwatch."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from ._runtime import runtime
from .log import pipeline

__all__ = ["Captured", "capture_logs"]


class Captured:
    """Lines written while :func:`capture_logs` was active."""

    def __init__(self, buffer: io.StringIO) -> None:
        self._buffer = buffer

    @property
    def lines(self) -> list[str]:
        """The raw lines, newline removed.

        Split on "\\n" only: str.splitlines() also splits on U+2028 and U+0085,
        which JSON allows unescaped inside a value.
        """
        runtime.flush()  # requests still deferred are written first
        return [line for line in self._buffer.getvalue().split("\n") if line]

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every JSON line, parsed."""
        return [orjson.loads(line) for line in self.lines]


@contextmanager
def capture_logs(**settings: Any) -> Iterator[Captured]:
    """Configure bellwatch to write into memory for the ``with`` block.

    Settings are passed to :func:`bellwatch.configure` (``env="prod"`` and no log
    file unless given); the previous configuration is restored afterwards.
    """
    buffer = io.StringIO()
    previous = pipeline._current
    settings.setdefault("env", "prod")
    settings.setdefault("log_file", False)
    runtime.configure(stream=buffer, **settings)
    try:
        yield Captured(buffer)
    finally:
        runtime.restore(previous)
