"""One health verdict: the same words and thresholds on /metrics, /health and the dashboard."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bellwatch import instrument
from bellwatch.testing import capture_logs
from bellwatch.verdict import DEGRADED, HEALTHY, UNHEALTHY, WARNING, WORDS, verdict


class TestVerdict:
    @pytest.mark.parametrize(
        ("rate", "p95", "expected"),
        [
            (0.0, 0.1, HEALTHY),
            (0.99, 0.1, HEALTHY),
            (1.0, 0.1, WARNING),
            (2.6, 0.1, WARNING),
            (4.99, 0.1, WARNING),
            (5.0, 0.1, DEGRADED),
            (50.0, 0.1, DEGRADED),
            (0.0, 2.0, WARNING),
            (0.0, None, HEALTHY),
        ],
    )
    def test_thresholds(self, rate: float, p95: float | None, expected: str) -> None:
        """1 % of 5xx warns, 5 % degrades, p95 at the slow threshold warns."""
        assert verdict(rate, p95, 2.0) == expected

    def test_a_failed_check_is_unhealthy_whatever_the_numbers(self) -> None:
        """A failing /health check outranks every rate."""
        assert verdict(0.0, 0.1, 2.0, checks_ok=False) == UNHEALTHY

    def test_words_are_ordered_better_to_worse(self) -> None:
        """The four words, in the order the dashboard and the digest rank them."""
        assert WORDS == (HEALTHY, WARNING, DEGRADED, UNHEALTHY)


def _app() -> Any:
    async def ok(request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def boom(request: Any) -> PlainTextResponse:
        return PlainTextResponse("no", status_code=503)

    return instrument(Starlette(routes=[Route("/ok", ok), Route("/boom", boom)]))


class TestOneWordEverywhere:
    def test_metrics_health_and_dashboard_agree(self) -> None:
        """1 of 38 requests 5xx (2.6 %): /metrics status and /health verdict both say warning."""
        with capture_logs():
            app = _app()

            async def go() -> tuple[dict[str, Any], dict[str, Any], str]:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    for _ in range(37):
                        await c.get("/ok")
                    await c.get("/boom")
                    metrics = (await c.get("/metrics")).json()
                    health = (await c.get("/health")).json()
                    page = (await c.get("/dashboard")).text
                    return metrics, health, page

            metrics, health, page = asyncio.run(go())
        assert metrics["window"]["error_rate"] == 2.63
        assert metrics["status"] == health["verdict"] == WARNING
        assert '"warn_rate":1.0' in page and '"bad_rate":5.0' in page
