"""The ``bellwatch`` console script: the CLI, or the install line when its extra is missing.

``pip install bellwatch`` alone installs the library without click and rich; the command
then says what to install instead of showing an ImportError's traceback.
"""

from __future__ import annotations

import sys

__all__ = ["INSTALL", "main"]

INSTALL = "pip install 'bellwatch[cli]'"
"""What installs the CLI's dependencies, exactly as a user types it."""


def main() -> None:
    """Run :func:`bellwatch.cli.main`; without the ``cli`` extra, one line and exit code 2."""
    try:
        from .cli import main as cli_main
    except ImportError as exc:
        what = f"the bellwatch command needs {exc.name}" if exc.name else "the CLI is missing"
        print(f"{what}: {INSTALL}", file=sys.stderr)
        raise SystemExit(2) from None
    cli_main()
