"""The saved queries menu (stub: interface only)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SAVED_QUERIES", "SavedQuery"]


@dataclass(frozen=True, slots=True)
class SavedQuery:
    """One menu entry: a short name, what it answers, and the Insights query text."""

    name: str
    description: str
    query: str


SAVED_QUERIES: tuple[SavedQuery, ...] = ()
