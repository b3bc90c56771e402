"""The bellwatch demo: Bella, the guide's reference service, with real traffic.

``python -m bellwatch.demo`` (what ``make demo`` runs) and ``bellwatch demo`` call
:func:`cli_main`. The service lives in :mod:`.app`, the traffic in :mod:`.traffic`;
:mod:`.scenario` is the short scripted lifecycle used by tests and benchmarks.

This module imports nothing from the ``demo`` extra, so the CLI can read its defaults
(and say what to install) without FastAPI.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["CLIENTS", "DURATION", "INSTALL", "cli_main", "missing_dependency"]

from ._defaults import CLIENTS, DURATION, INSTALL, missing_dependency


def cli_main(serve: bool = False, duration: float = DURATION, **options: Any) -> int:
    """Start Bella, drive traffic, print the digest and next commands (see :mod:`.run`).

    Imported lazily: the service needs the ``demo`` extra (FastAPI, uvicorn, twilio);
    without it this prints :func:`missing_dependency` and returns 2, like any usage error.
    """
    try:
        from .run import cli_main as run
    except ImportError as exc:
        print(missing_dependency(exc), file=sys.stderr)
        return 2
    return run(serve=serve, duration=duration, **options)
