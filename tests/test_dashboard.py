"""The /dashboard page: its time series, its protection, and the page in headless chromium."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from bellwatch import instrument, metrics
from bellwatch._runtime import runtime
from bellwatch.asgi.dashboard import COOKIE
from bellwatch.demo.app import create_app
from bellwatch.demo.server import RunningServer, start_server
from bellwatch.monitor.timeline import Timeline
from bellwatch.testing import Captured, capture_logs

SECRET = "metrics-s3cret"
# An error message an attacker controls: the page must show it as text, never run it.
HOSTILE = "</script><img src=x onerror=document.body.remove()><b>bold</b>"
pytest_plugins = ["redis_server"]

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's headless chromium under Playwright (never `playwright install`), closed after."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed (scripts/ensure-system-deps.sh)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _errors_showing(browser: Any, url: str, text: str) -> Any:
    """A dashboard page, once its errors panel shows ``text``.

    An error is recorded as its request finishes; the page may have fetched /metrics just
    before that, so this waits for a refresh that shows it."""
    page = browser.new_page()
    page.goto(f"{url}/dashboard?token={SECRET}")
    page.wait_for_function(
        "t => (document.querySelector('#errors')?.textContent || '').includes(t)",
        arg=text,
        timeout=15_000,
    )
    return page


@pytest.fixture
def fresh() -> Iterator[None]:
    runtime.reset()
    metrics.clear_ratios()
    yield
    runtime.reset()
    metrics.clear_ratios()


@pytest.fixture
def plain(fresh: None) -> Iterator[tuple[RunningServer, Captured]]:
    """A minimal instrumented FastAPI app with a metrics token, on a real port."""
    with capture_logs(metrics_token=SECRET) as logs:
        app = FastAPI()

        @app.get("/hello")
        def hello() -> dict[str, str]:
            return {"hello": "world"}

        @app.get("/boom")
        def boom() -> None:
            raise ValueError(HOSTILE)

        instrument(app)
        with start_server(app) as server:
            yield server, logs


class TestTimeline:
    def test_counts_land_in_their_bucket(self) -> None:
        """Requests are counted in the bucket of their time; other buckets are zeros."""
        t = Timeline(step=5, span=60)
        t("/a", 200, 0.1, False, 1000.0)
        t("/a", 500, 0.3, False, 1001.0)
        t("/a", 404, 2.5, True, 1012.0)
        s = t.section(now=1014.0)
        assert len(s["count"]) == 12
        assert s["start"] == 1014 // 5 * 5 - 55
        assert s["count"][-3:] == [2, 0, 1]
        assert s["errors"][-3:] == [1, 0, 0]
        assert s["client_errors"][-1] == 1
        assert s["slow"][-1] == 1
        assert s["p95"][-1] == pytest.approx(2.5, rel=0.02)

    def test_old_buckets_are_forgotten(self) -> None:
        """Buckets older than the span leave memory and the series."""
        t = Timeline(step=5, span=20)
        for second in range(0, 100, 5):
            t("/a", 200, 0.01, False, float(second))
        assert len(t._buckets) == 4
        assert sum(t.section(now=99.0)["count"]) == 4

    def test_slow_requests_are_kept_newest_first(self) -> None:
        """The latest slow requests are listed with path, status and duration, newest first."""
        t = Timeline(keep_slow=2)
        for i in range(3):
            t(f"/slow{i}", 200, 2.0 + i, True, 1000.0 + i)
        recent = t.section(now=1003.0)["slow_recent"]
        assert [r["path"] for r in recent] == ["/slow2", "/slow1"]
        assert recent[0]["duration"] == 4.0


class TestProtection:
    def test_no_token_is_refused(self, plain: tuple[RunningServer, Captured]) -> None:
        """Without the token the page is a 401 that says how to get in."""
        server, _ = plain
        r = httpx.get(server.url + "/dashboard")
        assert r.status_code == 401
        assert "token" in r.text
        assert httpx.get(server.url + "/dashboard?token=wrong").status_code == 401

    def test_bearer_token_gets_the_page(self, plain: tuple[RunningServer, Captured]) -> None:
        """The bearer token that opens /metrics opens the page too, with a strict CSP."""
        server, _ = plain
        r = httpx.get(server.url + "/dashboard", headers={"Authorization": f"Bearer {SECRET}"})
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp
        assert "script-src 'sha256-" in csp

    def test_query_token_sets_a_cookie_and_drops_the_token(
        self, plain: tuple[RunningServer, Captured]
    ) -> None:
        """?token= answers 303 to the bare URL with an HttpOnly cookie that is not the token."""
        server, _ = plain
        r = httpx.get(server.url + f"/dashboard?token={SECRET}")
        assert r.status_code == 303
        assert r.headers["location"] == "/dashboard"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=Strict" in cookie
        assert SECRET not in cookie

    def test_cookie_opens_the_page_and_metrics(self, plain: tuple[RunningServer, Captured]) -> None:
        """The cookie from ?token= lets the browser read both /dashboard and /metrics."""
        server, _ = plain
        with httpx.Client(base_url=server.url) as client:
            assert client.get("/metrics").status_code == 401
            client.get(f"/dashboard?token={SECRET}")
            assert COOKIE in client.cookies
            assert client.get("/dashboard").status_code == 200
            assert client.get("/metrics").status_code == 200


class TestPage:
    def test_page_loads_nothing_from_elsewhere(self, plain: tuple[RunningServer, Captured]) -> None:
        """Script and style are inline: no src=, no <link>, no URL but the SVG namespace."""
        server, _ = plain
        html = httpx.get(server.url + f"/dashboard?token={SECRET}", follow_redirects=True).text
        assert "<script src" not in html
        # The one link is the empty inline icon, so the browser asks the app for no favicon.
        assert re.findall(r"(?:src|href)=\"([^\"]*)\"", html) == ["data:,"]
        assert set(re.findall(r"https?://[^\s\"'`]+", html)) == {"http://www.w3.org/2000/svg"}

    def test_metrics_adds_series_only_when_asked(
        self, plain: tuple[RunningServer, Captured]
    ) -> None:
        """/metrics?series=1 carries the per-bucket series; plain /metrics keeps its shape."""
        server, _ = plain
        auth = {"Authorization": f"Bearer {SECRET}"}
        httpx.get(server.url + "/dashboard", headers=auth)  # the first view starts the charts
        for _ in range(3):
            httpx.get(server.url + "/hello")
        plain_doc = httpx.get(server.url + "/metrics", headers=auth).json()
        assert "series" not in plain_doc
        series = httpx.get(server.url + "/metrics?series=1", headers=auth).json()["series"]
        assert sum(series["count"]) == 3
        assert len(series["count"]) == len(series["p95"]) == 60

    def test_charts_cover_requests_before_the_page_is_opened(
        self, plain: tuple[RunningServer, Captured]
    ) -> None:
        """The series start with the process: a request before anyone opened the page is charted."""
        server, _ = plain

        def counted(n: int) -> None:
            # The server finishes a request after its response has gone: wait for it.
            deadline = time.monotonic() + 10
            while runtime.monitor().snapshot().totals().count < n:
                assert time.monotonic() < deadline, "the request was never counted"
                time.sleep(0.01)

        httpx.get(server.url + "/hello")
        counted(1)
        httpx.get(server.url + "/dashboard", headers={"Authorization": f"Bearer {SECRET}"})
        httpx.get(server.url + "/hello")  # bellwatch's own routes are not counted
        counted(2)
        series = runtime.series()
        assert series is not None
        assert sum(series["count"]) == 2

    def test_page_follows_its_mount_point(self, fresh: None) -> None:
        """Mounted under /svc, the page fetches /svc/metrics, which answers."""
        from starlette.applications import Starlette
        from starlette.routing import Mount

        with capture_logs():
            inner = instrument(FastAPI())
            outer = Starlette(routes=[Mount("/svc", app=inner)])
            with start_server(outer) as server:
                html = httpx.get(server.url + "/svc/dashboard").text
                assert '"metrics":"/svc/metrics"' in html
                assert httpx.get(server.url + "/svc/metrics?series=1").status_code == 200

    def test_the_slow_threshold_shown_is_the_one_counted(self, fresh: None) -> None:
        """instrument(app, slow_threshold=0.25): the page draws 0.25, not the 2 s default."""
        import asyncio

        async def page() -> str:
            app = instrument(FastAPI(), slow_threshold=0.25)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return (await client.get("/dashboard")).text

        with capture_logs():
            assert '"slow":0.25' in asyncio.run(page())

    def test_own_routes_are_not_logged(self, plain: tuple[RunningServer, Captured]) -> None:
        """Opening the dashboard writes no request line and counts no request."""
        server, logs = plain
        httpx.get(server.url + f"/dashboard?token={SECRET}", follow_redirects=True)
        assert not [e for e in logs.events if e.get("event") == "request_complete"]


def _day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def _traffic(client: httpx.Client, n: int, *, slow: bool = False) -> int:
    """Send ``n`` rounds of bookings (one invalid each round) and lookups; return requests."""
    sent = 0
    for i in range(n):
        phone = "555-0000" if i % 3 == 0 else "+15551234567"
        client.post("/api/assistant/book", json={"name": "Ann", "phone": phone, "date": _day(2)})
        client.get(f"/api/users/user_{900 + i}")
        sent += 2
    if slow:
        body = {
            "name": "Ann",
            "phone": "+15551234567",
            "date": _day(2),
            "calendar": "legacy-exchange",
        }
        client.post("/api/assistant/book", json=body)
        sent += 1
    return sent


@pytest.mark.browser
class TestInChromium:
    @pytest.fixture
    def bella(self, fresh: None, tmp_path: Path) -> Iterator[RunningServer]:
        with capture_logs(service="bella", metrics_token=SECRET):
            app = create_app(tmp_path / "bella.db", twilio_token="t")
            with start_server(app) as server:
                yield server

    def test_page_shows_real_numbers_and_updates(self, bella: RunningServer) -> None:
        """The page renders the running service's numbers and charts, then follows new traffic."""
        with httpx.Client(base_url=bella.url, timeout=10) as client:
            sent = _traffic(client, 15, slow=True)
            # One invalid booking by a known user: the users panel names the error it hit.
            hurt = {"name": "Ann", "phone": "555-0000", "date": _day(2), "user_id": "user_901"}
            assert client.post("/api/assistant/book", json=hurt).status_code == 422
            sent += 1
            with chromium() as browser:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                problems: list[Any] = []  # script errors and CSP violations
                page.on("pageerror", lambda exc: problems.append(str(exc)))
                page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
                page.goto(f"{bella.url}/dashboard?token={SECRET}&refresh=0.5")
                assert "token" not in page.url
                # A request is counted just after its response: wait for the last one.
                page.wait_for_function(
                    "n => document.getElementById('total-requests').textContent === n",
                    arg=str(sent),
                )
                assert page.locator("#chart-rate rect").count() >= 1
                assert page.locator("#chart-p95 path.p95").count() == 1
                assert "ValidationError" in (page.text_content("#errors") or "")
                assert "/api/assistant/book" in (page.text_content("#slow") or "")
                assert "booking_success_rate" in (page.text_content("#business") or "")
                assert page.text_content("#slow-total") == "1"
                # 15 users looked up (user_900..914); small counts are exact.
                assert page.text_content("#users-active") == "15"
                assert page.text_content("#users-day") == "15"
                assert "ValidationError" in (page.text_content("#users-errors") or "")
                assert "returning, 24 h" in (page.text_content("#users") or "")
                ARTIFACTS.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

                more = _traffic(client, 5)
                page.wait_for_function(
                    "n => document.getElementById('total-requests').textContent === n",
                    arg=str(sent + more),
                )
                assert not problems

    def test_hostile_error_message_is_shown_as_text(
        self, plain: tuple[RunningServer, Captured]
    ) -> None:
        """An error message full of markup appears verbatim and runs nothing."""
        server, _ = plain
        assert httpx.get(server.url + "/boom").status_code == 500
        with chromium() as browser:
            page = _errors_showing(browser, server.url, HOSTILE)
            assert page.locator("#errors img, #errors b").count() == 0
            assert page.locator("#errors").count() == 1  # the body is still there


class TestBidiInChromium:
    def test_bidi_controls_are_shown_escaped(self, fresh: None) -> None:
        """Bidi overrides in the service name, a route and an error message appear as visible
        \\u202e escapes, as the CLI and MCP show them: 'gnp.exe' cannot pose as 'exe.png',
        nor reverse the text beside it."""
        with capture_logs(service="evil\u202e", metrics_token=SECRET):
            app = FastAPI()

            @app.get("/\u202eevil/{item}")
            def evil(item: str) -> None:
                raise ValueError("\u202egnp.exe")

            instrument(app)
            with start_server(app) as server:
                assert httpx.get(server.url + "/%E2%80%AEevil/1").status_code == 500
                with chromium() as browser:
                    page = _errors_showing(browser, server.url, "\\u202egnp.exe")
                    for where in ("#service", "#errors", "#endpoints"):
                        text = page.text_content(where) or ""
                        assert "\u202e" not in text, where
                    assert "\\u202eevil/{item}" in (page.text_content("#endpoints") or "")
                    assert page.title() == "evil\\u202e · bellwatch"


class TestRefreshInChromium:
    @pytest.mark.parametrize("refresh", ["1e9", "Infinity"])
    def test_a_huge_refresh_does_not_poll_in_a_loop(self, fresh: None, refresh: str) -> None:
        """?refresh= beyond what setTimeout holds (2^31 ms) is capped at an hour: the page
        fetches /metrics once, not in a tight loop (browsers run such a timer at once).
        A fake clock runs the page's timers, so nothing here waits on real time."""
        with capture_logs():
            app = FastAPI()
            instrument(app)
            with start_server(app) as server, chromium() as browser:
                page = browser.new_page()
                page.clock.install()
                fetched: list[str] = []
                page.on("request", lambda r: fetched.append(r.url) if "/metrics" in r.url else None)
                with page.expect_response(lambda r: "/metrics" in r.url):
                    page.goto(f"{server.url}/dashboard?refresh={refresh}")
                for _ in range(5):  # five minutes of page time, less than an hour
                    page.clock.run_for(60_000)
                    page.wait_for_load_state()
                assert len(fetched) == 1


@pytest.mark.browser
@pytest.mark.redis
class TestClusterInChromium:
    def test_tiles_are_the_clusters_and_the_charts_say_whose_they_are(
        self, fresh: None, redis_url: str
    ) -> None:
        """With Redis, the requests tile is the cluster's (its 5-minute window), not the
        answering worker's last minute beside the cluster's total, and the page says that
        its charts and slow requests are that one worker's."""
        from bellwatch.store.redis import RedisStore

        other = RedisStore(redis_url, flush_interval=3600)  # another worker of the service
        try:
            for _ in range(600):
                other.record("/hello", 200, 0.01, False, time.time())
            assert other.flush()
        finally:
            other.close()
        with capture_logs(redis_url=redis_url):
            app = FastAPI()

            @app.get("/hello")
            def hello() -> dict[str, str]:
                return {"hello": "world"}

            instrument(app)
            with start_server(app) as server, chromium() as browser:
                for _ in range(3):
                    assert httpx.get(server.url + "/hello").status_code == 200
                page = browser.new_page()
                page.goto(f"{server.url}/dashboard?refresh=0.5")
                page.wait_for_function(
                    "() => document.getElementById('total-requests').textContent === '603'"
                )
                worker = runtime.worker
                rpm = int((page.text_content("#rpm") or "0").replace(",", ""))
                scope = page.evaluate("() => document.getElementById('scope')?.textContent")
        assert rpm == 603  # the cluster's last 5 minutes; this worker served 3
        assert scope is not None and "cluster" in scope
        assert worker in scope
