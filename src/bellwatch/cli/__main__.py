"""``python -m bellwatch.cli``: the same as the ``bellwatch`` console script."""

from __future__ import annotations

from .main import main

main()
