"""Our own failures are counted, never raised into the host application."""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Counters", "counters", "suppress_internal_errors"]


class Counters:
    """Process-wide health counters of bellwatch itself (see :func:`bellwatch.stats`).

    Plain attribute increments: under the GIL a lost update costs one count in a
    diagnostic counter, which is cheaper than a lock on every line.
    """

    __slots__ = (
        "auth_failures",
        "emf_dropped",
        "file_dropped",
        "internal_errors",
        "last_error",
        "lines_dropped",
        "lines_truncated",
        "lines_written",
        "stdout_dropped",
        "values_replaced",
    )

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.auth_failures = 0  # failed token checks on /metrics and /dashboard
        self.lines_written = 0
        self.lines_dropped = 0
        self.lines_truncated = 0
        self.values_replaced = 0
        self.stdout_dropped = 0  # lines standard output did not get (a stalled reader, an error)
        self.file_dropped = 0  # lines the log file did not get (a full disk, a stuck writer)
        self.emf_dropped = 0  # EMF lines standard output did not take (also in stdout_dropped)
        self.internal_errors = 0
        self.last_error: str | None = None

    def as_dict(self) -> dict[str, int | str | None]:
        return {name: getattr(self, name) for name in self.__slots__}


counters = Counters()

# Tests install a hook here to fail any test whose run swallowed an internal error.
_hooks: list[object] = []
_lock = threading.Lock()


def record_internal_error(exc: BaseException) -> None:
    """Count one of our own failures; never raises."""
    try:
        with _lock:
            counters.internal_errors += 1
            counters.last_error = f"{type(exc).__name__}: {exc}"[:200]
        for hook in _hooks:
            hook(exc)  # type: ignore[operator]
    except Exception:  # noqa: S110 - the last line of defence must not raise
        pass


@contextmanager
def suppress_internal_errors() -> Iterator[None]:
    """Run bellwatch's own work; an ``Exception`` is counted, never propagated."""
    try:
        yield
    except Exception as exc:
        record_internal_error(exc)


def warn_once(message: str) -> None:
    """Last-resort note on stderr for a failure the pipeline itself cannot log."""
    with contextlib.suppress(Exception):  # stderr itself may be closed
        sys.stderr.write(f"bellwatch: {message}\n")
