"""The ``bellwatch`` console script: the CLI, or the install line when its extra is missing.

``pip install bellwatch`` alone installs the library without click and rich; the command
then says what to install instead of showing an ImportError's traceback.
"""

from __future__ import annotations

import gc
import sys

__all__ = ["INSTALL", "main"]

INSTALL = "pip install 'bellwatch[cli]'"
"""What installs the CLI's dependencies, exactly as a user types it."""


def main() -> None:
    """Run :func:`bellwatch.cli.main`; without the ``cli`` extra, one line and exit code 2."""
    # Importing the CLI makes tens of thousands of objects and no garbage: the cyclic
    # collector's passes meanwhile only cost time, and every later pass would scan them
    # again. Paused for the import, then frozen out of later passes: about a tenth of a
    # cached report's time (bench/results/query.md).
    enabled = gc.isenabled()
    gc.disable()
    try:
        from .cli import main as cli_main
    except ImportError as exc:
        what = f"the bellwatch command needs {exc.name}" if exc.name else "the CLI is missing"
        print(f"{what}: {INSTALL}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        gc.freeze()
        if enabled:
            gc.enable()
    cli_main()
