"""reports.service: the running service's /metrics and /health in a few facts."""

from __future__ import annotations

import pytest

from bellwatch.reports.service import Answer, fetch, summarise
from bellwatch.sources.base import SourceError

METRICS = {
    "status": "warning",
    "performance": {"total_requests": 100, "error_rate": 2.0, "avg_response_time": 0.1,
                    "slow_requests": 1, "active_sessions": 3},
    "window": {"seconds": 300, "total_requests": 40, "error_rate": 2.5, "p95": 0.4},
    "errors": {"total_unique_errors": 1, "total_error_count": 2, "by_severity": {"high": 2},
               "top_errors": [{"hash": "h", "count": 2, "severity": "high", "type": "E",
                               "message": "m", "endpoint": "/a"}]},
    "endpoints": {"/a": {"count": 60, "errors": 2, "p95": 0.4, "slow": 1},
                  "/b": {"count": 40, "errors": 0, "p95": 0.9, "slow": 0}},
    "business": {"ratios": {"booking_success_rate": 0.9}},
}  # fmt: skip


def answer(status: int, body: object) -> Answer:
    import orjson

    return Answer(status, "application/json", orjson.dumps(body).decode())


class TestSummarise:
    def test_the_service_in_a_few_facts(self) -> None:
        """Verdict, totals, window, top errors and the slowest routes first."""
        health = {"status": "fail", "checks": {"db": {"ok": False, "error": "timeout"}}}
        out = summarise(answer(200, METRICS), answer(503, health))
        assert (out["verdict"], out["requests"], out["health"]) == ("warning", 100, "fail")
        assert out["failing_checks"] == {"db": "timeout"}
        assert [r["path"] for r in out["slowest"]] == ["/b", "/a"]
        assert out["top_errors"][0]["hash"] == "h"

    def test_refused_metrics_is_said_by_status(self) -> None:
        """A 401 from /metrics leaves only the statuses."""
        out = summarise(answer(401, {"error": "unauthorized"}), answer(200, {"status": "ok"}))
        assert out["metrics_status"] == 401 and "verdict" not in out


class TestFetch:
    def test_not_http_is_refused(self) -> None:
        """Only http(s) URLs are fetched."""
        with pytest.raises(SourceError, match="not an http"):
            fetch("file:///etc/passwd")

    def test_unreachable_is_one_clear_error(self) -> None:
        """A service that is not running is a SourceError naming the URL."""
        with pytest.raises(SourceError, match="is the service running"):
            fetch("http://127.0.0.1:9/metrics", timeout=2)
