"""The running service's ``/metrics`` and ``/health``: fetched, and summarised in a few rows.

``bellwatch metrics`` and ``health`` print what :func:`fetch` returns; the MCP server's
``service`` tool answers with :func:`summarise`. The token (``BELLWATCH_METRICS_TOKEN``)
goes in an ``Authorization`` header that is never forwarded on a redirect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from ..sources.base import SourceError

__all__ = ["Answer", "fetch", "summarise"]

_TIMEOUT = 5.0
_TOP = 5


@dataclass(frozen=True)
class Answer:
    """One HTTP answer: status, content type and body text."""

    status: int
    content_type: str
    body: str

    def json(self) -> Any:
        """The body as JSON, or ``None`` when it is not."""
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError:
            return None


def fetch(url: str, token: str | None = None, timeout: float = _TIMEOUT) -> Answer:
    """GET ``url`` (an error status is an answer too).

    Raises:
        SourceError: not an http(s) URL, or the service cannot be reached.
    """
    import urllib.error
    import urllib.request

    if not url.startswith(("http://", "https://")):
        raise SourceError(f"not an http(s) URL: {url}")
    request = urllib.request.Request(url)  # noqa: S310 - scheme checked above
    if token:
        # Unredirected: urllib would otherwise forward the token to another host.
        request.add_unredirected_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310 - checked
            body = resp.read().decode(errors="replace")
            return Answer(resp.status, resp.headers.get("content-type", ""), body)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        return Answer(exc.code, exc.headers.get("content-type", ""), body)
    except (urllib.error.URLError, OSError, ValueError) as exc:  # ValueError: a malformed URL
        reason = getattr(exc, "reason", exc)
        raise SourceError(f"cannot reach {url}: {reason} (is the service running?)") from None


def summarise(metrics: Answer, health: Answer) -> dict[str, Any]:
    """The service in a few facts: verdict and totals, the last 5 minutes, failing checks,
    the top error patterns and the slowest endpoints (by p95), each a short list."""
    doc = metrics.json() if metrics.status < 400 else None
    checks = health.json() if "json" in health.content_type else None
    out: dict[str, Any] = {
        "metrics_status": metrics.status,
        "health_status": health.status,
    }
    if isinstance(checks, dict):
        out["health"] = checks.get("status")
        failing = {
            name: c.get("error") or "failed"
            for name, c in (checks.get("checks") or {}).items()
            if isinstance(c, dict) and not c.get("ok", True)
        }
        out["failing_checks"] = failing
    if not isinstance(doc, dict):
        return out
    perf, window, errors = (doc.get(k) or {} for k in ("performance", "window", "errors"))
    out |= {
        "verdict": doc.get("status"),
        "uptime_s": doc.get("uptime_seconds"),
        "requests": perf.get("total_requests"),
        "error_rate_pct": perf.get("error_rate"),
        "avg_s": perf.get("avg_response_time"),
        "slow_requests": perf.get("slow_requests"),
        "active_sessions": perf.get("active_sessions"),
        "window": {
            k: window.get(k)
            for k in ("seconds", "total_requests", "error_rate", "p95", "slow_requests")
        },
        "errors": {
            "unique": errors.get("total_unique_errors"),
            "total": errors.get("total_error_count"),
            "by_severity": errors.get("by_severity") or {},
        },
        "top_errors": [
            {k: e.get(k) for k in ("hash", "count", "severity", "type", "message", "endpoint")}
            for e in (errors.get("top_errors") or [])[:_TOP]
            if isinstance(e, dict)
        ],
        "slowest": _slowest(doc.get("endpoints") or {}),
        "ratios": (doc.get("business") or {}).get("ratios") or {},
    }
    return out


def _slowest(endpoints: dict[str, Any]) -> list[dict[str, Any]]:
    rows = [
        {"path": path, **{k: e.get(k) for k in ("count", "errors", "p95", "slow")}}
        for path, e in endpoints.items()
        if isinstance(e, dict)
    ]
    rows.sort(key=lambda r: -(r["p95"] or 0) if isinstance(r["p95"], int | float) else 0)
    return rows[:_TOP]
