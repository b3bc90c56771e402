"""The demo's defaults and its install line: what every way to run the demo shares.

Imports nothing from the ``demo`` extra, so the CLI can read the defaults (and say
what to install) without FastAPI.
"""

from __future__ import annotations

__all__ = ["CLIENTS", "DURATION", "INSTALL", "missing_dependency"]

DURATION = 20.0
"""Seconds of traffic when none is given: the one default for every way to run the demo."""
CLIENTS = 4
"""Concurrent clients when none is given."""
INSTALL = "pip install 'bellwatch[demo]'"
"""What installs the demo's dependencies, exactly as a user types it."""


def missing_dependency(exc: ImportError) -> str:
    """One line naming what is missing and the exact command that installs it.

    The demo's modules re-raise a missing import with their own message; the module's
    name is then on the original error (``__cause__``), never printed as ``None``.
    """
    error: BaseException | None = exc
    while error is not None and not getattr(error, "name", None):
        error = error.__cause__
    name = getattr(error, "name", None)
    what = f"the demo needs {name}" if name else "the demo's dependencies are missing"
    return f"{what}: {INSTALL}"
