"""What a tool answers: compact text and ``structuredContent``, each within a token budget.

Clients give the model one of the two forms (Claude Code and VS Code the structured
content as JSON, others the text), so each is held to the budget on its own, counted
with the digest's tokenizer (cl100k). A table is CSV-like rows under one header line in
the text, and ``columns`` + ``rows`` arrays in the structured content (about half the
tokens of one JSON object per row). A reply that had to leave rows out says so in both
forms: ``truncated``, how many rows were ``omitted`` (``more`` when the report holds
still more than it fetched), the ``next_cursor`` to page on, and the bytes scanned.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..tokens import count_tokens
from . import _text

__all__ = [
    "BUDGET",
    "MAX_BUDGET",
    "MIN_BUDGET",
    "Column",
    "Reply",
    "Scan",
    "document",
    "error",
    "no_logs_yet",
    "table",
    "tokens",
    "within",
]

BUDGET = 2000
MAX_BUDGET = 8000
MIN_BUDGET = 200


@dataclass
class Reply:
    """One tool's answer: the text, the structured content, and whether it is an error."""

    text: str
    data: dict[str, Any]
    is_error: bool = False

    def tokens(self) -> tuple[int, int]:
        """cl100k tokens of the text and of the structured content as JSON."""
        return count_tokens(self.text), tokens(self.data)


@dataclass(frozen=True)
class Column:
    """A table column: the row key, its header, and how its values are shown."""

    key: str
    header: str
    show: Callable[[Any], Any] = lambda v: v
    limit: int = _text.TEXT_MAX


@dataclass
class Scan:
    """What a reply read: records, text lines, bytes; CloudWatch's Insights bytes apart."""

    records: int = 0
    text_lines: int = 0
    bytes_scanned: int = 0
    log_bytes: int | None = None
    """Local files: their size (what a search covered; the cache answers without reading)."""
    compressed: bool = False
    """Some of those files are .gz: their size is on disk, what is scanned is uncompressed."""
    insights_bytes_scanned: int | None = None
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"bytes_scanned": self.bytes_scanned, "records": self.records}
        if self.log_bytes is not None:
            out["log_bytes"] = self.log_bytes
            if self.compressed:
                out["log_bytes_compressed"] = True
        if self.text_lines:
            out["text_lines"] = self.text_lines
        if self.insights_bytes_scanned is not None:
            out["insights_bytes_scanned"] = self.insights_bytes_scanned
        if self.skipped:
            out["skipped"] = [_text.value(s) for s in self.skipped]
        if self.notes:
            out["notes"] = [_text.value(s) for s in self.notes]
        return out

    def line(self) -> str:
        scanned = f"scanned {_size(self.bytes_scanned)}"
        if self.log_bytes is not None:
            scanned += f" of {_size(self.log_bytes)} of logs"
            if self.compressed:  # else "scanned 52 KB of 35 KB" reads as a miscount
                scanned += " on disk (.gz: scanned uncompressed)"
        parts = [f"{scanned}, {self.records:,} records"]
        if self.insights_bytes_scanned is not None:
            parts.append(f"Insights bytesScanned {_size(self.insights_bytes_scanned)}")
        if self.text_lines:
            parts.append(f"{self.text_lines:,} text lines")
        out = "; ".join(parts)
        for skipped in self.skipped:
            out += f"\nskipped {_text.cell(skipped)}"
        for note in self.notes:
            out += f"\nnote {_text.cell(note)}"
        return out


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n = n / 1024  # type: ignore[assignment]  # float from here on, for the display
    raise AssertionError("unreachable")  # pragma: no cover


def tokens(data: Any) -> int:
    """cl100k tokens of ``data`` as compact JSON (what a client hands the model)."""
    return count_tokens(orjson.dumps(data).decode())


def error(message: str) -> Reply:
    """A tool error the assistant can act on: one line, no traceback."""
    text = _text.clip(_text.escape(message), 1000)
    return Reply(f"error: {text}", {"error": text}, is_error=True)


def no_logs_yet(source: str, reason: str) -> Reply:
    """An empty answer, said plainly: nothing has been written where the source looks yet.

    Not an error (the assistant should not retry with other arguments): every tool
    answers it until the service writes its first line.
    """
    said = _text.clip(_text.escape(f"no log records in {source} yet"), 500)
    why = _text.clip(_text.escape(reason), 500)
    data = {"records": 0, "shown": 0, "rows": [], "truncated": False, "note": said, "why": why}
    return Reply(f"{said}\n{why}", data)


def table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    *,
    budget: int,
    scan: Scan,
    offset: int = 0,
    limit: int | None = None,
    more: bool = False,
    extra: dict[str, Any] | None = None,
) -> Reply:
    """``rows`` (from ``offset`` on in the report's order) as a table within ``budget``.

    Shows at most ``limit`` rows, fewer when the budget is reached; ``more``: the
    report holds rows after the last of ``rows``. The reply's cursor continues right
    after the last row shown.
    """
    cap = len(rows) if limit is None else min(limit, len(rows))
    low, high = 0, cap
    best = _table(title, columns, rows, 0, scan=scan, offset=offset, more=more, extra=extra)
    if _fits(best, budget):
        while low < high:  # the most rows that fit: tokens grow with every row
            mid = (low + high + 1) // 2
            candidate = _table(
                title, columns, rows, mid, scan=scan, offset=offset, more=more, extra=extra
            )
            if _fits(candidate, budget):
                low, best = mid, candidate
            else:
                high = mid - 1
    return within(best, budget)


def _fits(reply: Reply, budget: int) -> bool:
    text, data = reply.tokens()
    return text <= budget and data <= budget


def _table(
    title: str,
    columns: Sequence[Column],
    rows: Sequence[dict[str, Any]],
    n: int,
    *,
    scan: Scan,
    offset: int,
    more: bool,
    extra: dict[str, Any] | None,
) -> Reply:
    shown = rows[:n]
    omitted = len(rows) - n
    truncated = omitted > 0 or more
    cursor = str(offset + n) if truncated else None
    data: dict[str, Any] = {
        "shown": n,
        "truncated": truncated,
        "omitted": omitted,
    }
    if more:
        data["more"] = True  # the report had rows beyond those it fetched
    data["next_cursor"] = cursor
    data |= scan.as_dict()
    data |= extra or {}
    data["columns"] = [c.header for c in columns]
    data["rows"] = [[_text.value(c.show(r.get(c.key)), c.limit) for c in columns] for r in shown]
    head = f"{title}: {n} row{'' if n == 1 else 's'}"
    if truncated:
        head += f"; truncated, {omitted:,}{'+' if more else ''} omitted, next_cursor={cursor}"
    else:
        head += "; complete"
    lines = [head, scan.line()]
    lines += [f"{k}: {_text.cell(v)}" for k, v in (extra or {}).items()]
    if n:
        lines.append(",".join(c.header for c in columns))
        lines += [
            ",".join(_text.cell(c.show(r.get(c.key)), c.limit) for c in columns) for r in shown
        ]
    return Reply("\n".join(lines), data)


def document(
    title: str,
    parts: Sequence[tuple[str, Any, list[str]]],
    *,
    budget: int,
    scan: Scan | None,
    head: dict[str, Any] | None = None,
) -> Reply:
    """A reply of named parts, most important first: ``(name, data, text lines)``.

    Parts that do not fit the budget are left out whole, from the last; the reply says
    which (``truncated``, ``omitted``).
    """
    kept = list(parts)
    while True:
        left = [name for name, _d, _l in parts[len(kept) :]]
        data: dict[str, Any] = dict(head or {})
        data["truncated"] = bool(left)
        if left:
            data["omitted"] = left
        lines = [title + (f" (truncated: left out {', '.join(left)})" if left else "")]
        if scan is not None:  # None: nothing read from logs (the running service's answer)
            data |= scan.as_dict()
            lines.append(scan.line())
        for name, part, text in kept:
            data[name] = part
            lines += text
        reply = Reply("\n".join(lines), data)
        if _fits(reply, budget) or not kept:
            return within(reply, budget)
        kept.pop()


def within(reply: Reply, budget: int) -> Reply:
    """Never more than the budget: a reply still over it (a budget too small for even its
    header) is cut to what fits, and says so.

    The cut falls between lines (a table row, a record), else after a sentence, else
    between words: never in the middle of a value. The note says how many of the
    reply's lines are left, so the reader knows the rest exists.
    """
    text, data = reply.tokens()
    if text <= budget and data <= budget:
        return reply
    total = reply.text.count("\n") + 1
    room = budget - count_tokens(_note(total, total)) - 1
    kept = _prefix(reply.text, room)
    note = _note(kept.count("\n") + 1 if kept else 0, total)
    cut = f"{kept}\n{note}" if kept else note
    small = {
        "truncated": True,
        "cut": True,
        "note": note,
        "text": _prefix(reply.text, max(room - 40, 0)),
    }
    return Reply(cut, small, reply.is_error)


def _note(shown: int, total: int) -> str:
    return f"[cut to the budget: {shown:,} of {total:,} lines shown; raise budget for the rest]"


def _prefix(text: str, budget: int) -> str:
    """The longest start of ``text`` within ``budget`` tokens that ends at a line end,
    else at a sentence end, else at a word end (else the bare prefix: one long word)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if count_tokens(text[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    if low == len(text):
        return text
    head = text[:low]
    if text[low] == "\n":
        return head  # the cut is already a line end
    line = head.rfind("\n")
    if line > 0:
        return head[:line]
    sentence = max(head.rfind(". "), head.rfind("; "))
    if sentence > 0:
        return head[: sentence + 1]
    word = head.rfind(" ")
    return head[:word] if word > 0 else head
