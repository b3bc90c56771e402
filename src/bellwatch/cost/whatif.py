"""What-if: the same events written the way other loggers write them, side by side.

Two renderings of every event, besides the line bellwatch wrote:

- **structlog default JSON**: structlog's documented setup (``add_log_level``,
  ``TimeStamper(fmt="iso")``, ``JSONRenderer()``): the fields, then ``event``, ``level``
  (lower case) and an ISO 8601 ``timestamp`` with microseconds, through
  ``json.dumps`` with its default separators; keys are the long names the guide used
  (``correlation_id``, ``endpoint``, ``status_code``: ``guide`` in :mod:`bellwatch.schema`).
- **guide BEFORE**: the monitoring guide's text style, ``2025-09-26 20:30:15 - app.main -
  INFO - ...``, one line for the event (``=== REQUEST COMPLETE ===`` for bellwatch's own
  events, the message for others) and one line per field, ``Correlation ID: 3f9a...``.
  Every line is a log event of its own in CloudWatch, with its own 26 bytes.

Text lines and EMF lines are not the application's events: they stay as they are in
every column. Bytes, cl100k tokens and dollars are measured on the usage's uniform
sample of records and scaled to every event read (exact when the sample holds them all).
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

import orjson

from ..schema import EVENTS, FIELDS, F
from ..sources.base import MESSAGE, TIMESTAMP, Record
from ..tokens import count_tokens, tokenizer_name
from .bill import LogOptions, log_lines
from .prices import RegionPrices
from .usage import OVERHEAD, Usage, is_text, message_bytes

__all__ = ["STYLES", "StyleCost", "WhatIf", "guide_before", "structlog_default", "what_if"]

# Short key -> the long name a default setup would use (the guide's; the key when it had none).
_LONG: Final[Mapping[str, str]] = {f.key: (f.guide if f.guide != "-" else f.key) for f in FIELDS}
_OURS: Final = frozenset(e.name for e in EVENTS)
_SKIP: Final = frozenset({F.TS, F.LEVEL, F.EVENT})
_GUIDE_LOGGER = "app.main"  # the module the guide's BEFORE lines name


def _fields(record: Record) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in _SKIP and not str(k).startswith("@")}


def _when(record: Record) -> datetime:
    ms = record.get(TIMESTAMP)
    return datetime.fromtimestamp((ms if isinstance(ms, int) else 0) / 1000, tz=UTC)


def _level(record: Record) -> str:
    level = record.get(F.LEVEL)
    return level.upper() if isinstance(level, str) else "INFO"


def structlog_default(record: Record) -> list[str]:
    """The record as structlog's documented JSON setup writes it, long keys (one line)."""
    out: dict[str, Any] = {_LONG.get(k, k): v for k, v in _fields(record).items()}
    out["event"] = record.get(F.EVENT, "")
    out["level"] = _level(record).lower()
    out["timestamp"] = _when(record).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return [json.dumps(out, default=repr)]


def _label(key: str) -> str:
    """``correlation_id`` -> ``Correlation ID``, as the guide's lines label their details."""
    words = ["ID" if w == "id" else w for w in _LONG.get(key, key).split("_") if w]
    if not words:
        return key
    return " ".join([words[0][:1].upper() + words[0][1:], *words[1:]])


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return orjson.dumps(value, default=repr).decode()


def guide_before(record: Record) -> list[str]:
    """The record in the guide's BEFORE text style: a line for the event, one per field."""
    logger = record.get(F.LOGGER)
    prefix = (
        f"{_when(record):%Y-%m-%d %H:%M:%S} - "
        f"{logger if isinstance(logger, str) else _GUIDE_LOGGER} - {_level(record)} - "
    )
    event = _text(record.get(F.EVENT, ""))
    head = f"=== {event.replace('_', ' ').upper()} ===" if event in _OURS else event
    fields = {k: v for k, v in _fields(record).items() if k != F.LOGGER}
    return [prefix + head, *(f"{prefix}{_label(k)}: {_text(v)}" for k, v in fields.items())]


def _as_is(record: Record) -> list[str]:
    msg = record.get(MESSAGE)
    return [msg if isinstance(msg, str) else orjson.dumps(_fields(record)).decode()]


STYLES: Final[Mapping[str, Callable[[Record], list[str]]]] = {
    "bellwatch": _as_is,
    "structlog default JSON": structlog_default,
    "guide BEFORE text": guide_before,
}


@dataclass(frozen=True, slots=True)
class StyleCost:
    """One style's lines, bytes, tokens and dollars for every event read (scaled)."""

    style: str
    lines: float
    bytes: float
    billed_bytes: float
    tokens: float
    usd_per_month: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "style": self.style,
            "lines": round(self.lines),
            "bytes": round(self.bytes),
            "billed_bytes": round(self.billed_bytes),
            "tokens": round(self.tokens),
            "usd_per_month": round(self.usd_per_month, 4),
        }


@dataclass(frozen=True, slots=True)
class WhatIf:
    """The styles side by side; ``sampled`` events of ``events`` were rendered."""

    styles: tuple[StyleCost, ...]
    sampled: int
    events: int
    tokenizer: str

    @property
    def basis(self) -> str:
        """measured when every event was rendered, else estimated."""
        return "measured" if self.sampled >= self.events else "estimated"

    def as_dict(self) -> dict[str, Any]:
        return {
            "styles": [s.as_dict() for s in self.styles],
            "sampled_events": self.sampled,
            "events": self.events,
            "tokenizer": self.tokenizer,
            "basis": self.basis,
        }

    def table(self) -> list[str]:
        """The styles as fixed-width text lines (at most 80 columns)."""
        ours = self.styles[0]
        out = [
            f"{'what-if: same events as':<23} {'lines':>10} {'bytes':>13} "
            f"{'tokens':>12} {'$/month':>8} {'vs us':>7}"
        ]
        for s in self.styles:
            ratio = f"{s.billed_bytes / ours.billed_bytes:.2f}x" if ours.billed_bytes else "-"
            out.append(
                f"{s.style[:23]:<23} {s.lines:>10,.0f} {s.bytes:>13,.0f} "
                f"{s.tokens:>12,.0f} {s.usd_per_month:>8.2f} {ratio:>7}"
            )
        how = (
            "every event"
            if self.basis == "measured"
            else f"a uniform sample of {self.sampled:,} of {self.events:,} events, scaled"
        )
        note = f"{self.basis}: {how}; tokens by {self.tokenizer}; $ is logs only (ingestion, "
        note += "storage, scans)"
        out += textwrap.wrap(note, 79, initial_indent="  ", subsequent_indent="    ")
        return out


def what_if(usage: Usage, prices: RegionPrices, opts: LogOptions | None = None) -> WhatIf | None:
    """Render the sample in every style and scale to all events; None with nothing to scale."""
    sample, events = usage.sample, usage.total.events
    if not sample or usage.span_ms <= 0:
        return None
    opts = opts or LogOptions()
    scale = events / len(sample)
    days = usage.span_ms / 86_400_000
    out = []
    for name, render in STYLES.items():
        lines = size = tokens = 0
        for record in sample:
            if name != "bellwatch" and (is_text(record) or "_aws" in record):
                rendered = _as_is(record)
            else:
                rendered = render(record)
            lines += len(rendered)
            if name == "bellwatch":
                size += message_bytes(record)
            else:
                size += sum(len(r.encode("utf-8", "surrogateescape")) for r in rendered)
            tokens += sum(count_tokens(r) for r in rendered)
        if name == "bellwatch":  # the real counts, not a scaled sample
            n_lines, n_bytes = float(events), float(usage.total.bytes)
        else:
            n_lines, n_bytes = lines * scale, size * scale
        billed = n_bytes + OVERHEAD * n_lines
        bill = log_lines(
            prices, billed_per_day=billed / days, bytes_per_day=n_bytes / days, opts=opts
        )
        usd = sum(line.usd for line in bill if line.in_total)
        out.append(StyleCost(name, n_lines, n_bytes, billed, tokens * scale, usd))
    return WhatIf(tuple(out), len(sample), events, tokenizer_name())
