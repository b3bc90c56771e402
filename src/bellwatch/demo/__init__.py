"""The bellwatch demo: Bella, the guide's reference service, with real traffic.

``python -m bellwatch.demo`` (what ``make demo`` runs) and ``bellwatch demo`` call
:func:`cli_main`. The service lives in :mod:`.app`, the traffic in :mod:`.traffic`;
:mod:`.scenario` is the short scripted lifecycle used by tests and benchmarks.
"""

from __future__ import annotations

from typing import Any

__all__ = ["cli_main"]


def cli_main(serve: bool = False, duration: float = 20.0, **options: Any) -> int:
    """Start Bella, drive traffic, print the digest and next commands (see :mod:`.run`).

    Imported lazily: the service needs the ``demo`` extra (FastAPI, uvicorn, twilio).
    """
    try:
        from .run import cli_main as run
    except ImportError as exc:
        raise SystemExit(f"the demo needs {exc.name}: pip install 'bellwatch[demo]'") from None
    return run(serve=serve, duration=duration, **options)
