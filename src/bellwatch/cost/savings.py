"""Savings suggestions, from the numbers: the three that save the most dollars a month.

Each candidate is computed from the usage and the bill, and says what to change:

- DEBUG lines' share of the bytes (``BELLWATCH_LEVEL=INFO``);
- never-expiring retention (``bellwatch aws setup --retention 30``);
- health-check requests' ``request_complete`` lines (``instrument(app, quiet_paths=...)``);
- ISO timestamps (``BELLWATCH_TIMESTAMP=ms``);
- the noisiest stdlib logger (raise its level);
- text lines that bypass the pipeline (``BELLWATCH_CAPTURE_STDLIB=1``, uvicorn's
  ``log_config=None``).

A candidate under 1% of the log bytes (or, for retention, saving nothing) is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from .._settings import env_name
from .bill import Bill, LogOptions, log_lines
from .prices import RegionPrices
from .usage import Usage

__all__ = ["HEALTH_ROUTES", "Suggestion", "suggestions"]

HEALTH_ROUTES: Final = frozenset(
    {
        "/health",
        "/healthz",
        "/healthcheck",
        "/health-check",
        "/health_check",
        "/ready",
        "/readyz",
        "/readiness",
        "/live",
        "/livez",
        "/liveness",
        "/ping",
    }
)
"""Whole routes that load balancers' and orchestrators' health probes call.

Exact routes, not words found in a path: ``/twilio/status`` is Twilio's call-status
webhook, real traffic, and so is any ``/api/.../status``. (A probe is also known by its
user agent, ``ELB-HealthChecker/2.0``, but request lines do not carry one.)
"""
_RETENTION = 30
_FLOOR = 0.01


@dataclass(frozen=True, slots=True)
class Suggestion:
    """What to change, what it saves a month, and the share of bytes it concerns."""

    key: str
    text: str
    usd_per_month: float
    byte_share: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "text": self.text,
            "usd_per_month": round(self.usd_per_month, 4),
            "byte_share": round(self.byte_share, 4),
        }


def _is_health(path: str) -> bool:
    """Whether ``path`` (a route template) is one of :data:`HEALTH_ROUTES`."""
    return (path.rstrip("/") or "/").lower() in HEALTH_ROUTES


def suggestions(
    usage: Usage, bill: Bill, prices: RegionPrices, opts: LogOptions | None = None, *, top: int = 3
) -> list[Suggestion]:
    """The ``top`` suggestions that save the most, biggest first."""
    opts = opts or LogOptions()
    total = usage.total.billed
    if not total:
        return []
    logs = bill.logs_usd
    found: list[Suggestion] = []

    def share(billed: int, key: str, text: str) -> None:
        part = billed / total
        if part >= _FLOOR:
            found.append(Suggestion(key, text.format(pct=f"{part:.0%}"), logs * part, part))

    debug = usage.by_level.get("DEBUG")
    if debug:
        share(
            debug.billed,
            "debug",
            f"DEBUG lines are {{pct}} of bytes: {env_name('level')}=INFO drops them",
        )
    health = {p: t for p, t in usage.by_route.items() if _is_health(p)}
    if health:
        events = sum(t.events for t in health.values())
        paths = ", ".join(f'"{p}"' for p in sorted(health))
        share(
            sum(t.billed for t in health.values()),
            "health",
            f"request_complete for {', '.join(sorted(health))} is "
            f"{events / usage.total.events:.0%} of events ({{pct}} of bytes): drop it with "
            f"instrument(app, quiet_paths=[{paths}])",
        )
    if usage.iso_lines:
        share(
            usage.iso_extra_bytes,
            "timestamp",
            f"ISO timestamps add {usage.iso_extra_bytes / usage.iso_lines:.0f} bytes a line "
            f"({{pct}} of bytes): {env_name('timestamp')}=ms writes epoch milliseconds",
        )
    if usage.by_logger:
        name, tally = max(usage.by_logger.items(), key=lambda kv: kv[1].billed)
        if tally.billed / total >= 0.1:
            share(
                tally.billed,
                "logger",
                f"logger {name} writes {{pct}} of bytes: raise its level, "
                f'logging.getLogger("{name}").setLevel(logging.WARNING)',
            )
    if usage.text.events:
        share(
            usage.text.billed,
            "text",
            f"text lines (not JSON) are {{pct}} of bytes: {env_name('capture_stdlib')}=1 "
            "routes stdlib logging through bellwatch; start uvicorn with log_config=None",
        )
    if opts.retention_days is None and usage.span_ms > 0:
        per_day = usage.per_day(usage.total.bytes) or 0.0
        kept = LogOptions(retention_days=_RETENTION)
        now = bill.line("log storage").usd
        then = (
            Bill(
                prices,
                tuple(log_lines(prices, billed_per_day=0.0, bytes_per_day=per_day, opts=kept)),
            )
            .line("log storage")
            .usd
        )
        if now > then:
            what = "is never-expire" if opts.retention_known else "is probably never-expire"
            found.append(
                Suggestion(
                    "retention",
                    f"retention {what}: storage grows every month (${now:.2f} after a year); "
                    f"bellwatch aws setup --retention {_RETENTION} keeps it at ${then:.2f}",
                    now - then,
                    0.0,
                )
            )
    found.sort(key=lambda s: (-s.usd_per_month, -s.byte_share, s.key))
    return found[:top]
