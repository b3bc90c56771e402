"""``python -m bellwatch.demo``: what ``make demo`` runs."""

from __future__ import annotations

from .scenario import main

if __name__ == "__main__":
    raise SystemExit(main())
