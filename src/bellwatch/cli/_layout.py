"""Fitting a table into a terminal width: display widths, cutting free text, dropping columns.

Pure functions over already-escaped text (see :func:`._safe.safe_text`): columns of ids,
hashes, routes, numbers and times keep every character; free-text columns give up width
first (cut with ``…``); when even that is not enough, the least important columns go.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ELLIPSIS", "GAP", "Layout", "cut", "cut_items", "fit", "width"]

ELLIPSIS = "…"
GAP = 2  # spaces between columns
_MIN_TEXT = 8  # a free-text column never shrinks below this many columns


def width(text: str) -> int:
    """Terminal columns ``text`` takes: wide East Asian characters 2, combining marks 0."""
    if text.isascii():
        return len(text)
    total = 0
    for ch in text:
        if unicodedata.combining(ch):
            continue
        total += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return total


def cut(text: str, columns: int) -> str:
    """``text`` within ``columns``, ending in ``…`` when it had to be cut."""
    if width(text) <= columns:
        return text
    if columns <= 0:
        return ""
    out, used = [], 0
    for ch in text:
        w = width(ch)
        if used + w > columns - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + ELLIPSIS


def cut_items(items: Sequence[str], columns: int) -> str:
    """Whole items joined by ``, `` within ``columns``, then ``+N`` for those left out:
    a list of routes or ids is shortened, never an item cut in two."""
    text = ", ".join(items)
    if width(text) <= columns:
        return text
    for keep in range(len(items) - 1, 0, -1):
        shown = ", ".join(items[:keep]) + f" +{len(items) - keep}"
        if width(shown) <= columns:
            return shown
    return f"+{len(items)}" if width(f"+{len(items)}") <= columns else ""


@dataclass(frozen=True)
class Layout:
    """Which columns to show (indexes into the given ones) and the width of each."""

    shown: list[int]
    widths: list[int]


def fit(
    headers: Sequence[str],
    cells: Sequence[Sequence[str]],
    flexible: Sequence[int | None],
    priority: Sequence[int],
    total: int,
) -> Layout:
    """Widths that fit ``total`` columns.

    ``flexible[i]`` is ``None`` for a column that keeps its whole width, else the width
    a free-text column may shrink to (at least :data:`_MIN_TEXT` and its header). Free
    text shrinks first; when that is not enough the lowest ``priority`` columns are
    dropped, one at a time.
    """
    natural = [max([width(h)] + [width(row[i]) for row in cells]) for i, h in enumerate(headers)]
    floors = {
        i: min(natural[i], max(least, _MIN_TEXT, width(headers[i])))
        for i, least in enumerate(flexible)
        if least is not None
    }

    def room_for(columns: list[int]) -> int | None:
        """The width left for free text, or None when even its floors do not fit."""
        fixed = sum(natural[i] for i in columns if i not in floors)
        room = total - fixed - GAP * (len(columns) - 1)
        return room if room >= sum(floors[i] for i in columns if i in floors) else None

    shown = list(range(len(headers)))
    dropped: list[int] = []
    while len(shown) > 1 and room_for(shown) is None:
        lowest = min(shown, key=lambda i: (priority[i], -i))
        shown.remove(lowest)
        dropped.append(lowest)
    # A column dropped early may fit beside what is left once a wide one went: take it
    # back, most important first.
    for i in sorted(dropped, key=lambda i: (-priority[i], i)):
        wider = sorted([*shown, i])
        if room_for(wider) is not None:
            shown = wider
    room = room_for(shown)
    room = total - sum(natural[i] for i in shown if i not in floors) if room is None else room
    flex = [i for i in shown if i in floors]
    return Layout(shown, [_share(i, flex, natural, floors, room) for i in shown])


def _share(i: int, flex: list[int], natural: list[int], floors: dict[int, int], room: int) -> int:
    """Column ``i``'s width: its natural one, or for free text a fair share of ``room``."""
    if i not in floors:
        return natural[i]
    if sum(natural[j] for j in flex) <= room:
        return natural[i]
    # Each free-text column gets its floor, then the rest in proportion to what it lacks.
    spare = max(room - sum(floors[j] for j in flex), 0)
    extra = sum(natural[j] - floors[j] for j in flex) or 1
    return floors[i] + (natural[i] - floors[i]) * spare // extra
