"""GET /metrics (JSON and Prometheus text) and GET /health."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from bellwatch import metrics, register_check
from bellwatch._runtime import runtime
from bellwatch.asgi.endpoints import HealthEndpoint, MetricsEndpoint
from bellwatch.monitor import Monitor
from bellwatch.monitor.document import metrics_document, prometheus_text
from bellwatch.store import MemoryStore
from bellwatch.testing import capture_logs
from real_server import UVICORN, Server

pytest_plugins = ["redis_server"]

pytest_plugins = ["redis_server"]


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    runtime.reset()
    runtime.reset()
    metrics.clear_ratios()
    runtime.checks.clear()
    yield
    runtime.checks.clear()
    metrics.clear_ratios()
    runtime.reset()


def get(app: Any, path: str = "/", **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, **kw)

    return asyncio.run(go())


def busy_monitor() -> Monitor:
    monitor = Monitor(slow_threshold=2.0)
    for status, duration in ((200, 0.1), (200, 0.3), (404, 0.01), (500, 2.5)):
        monitor.observe("/api/book", status, duration, session="CA1")
    monitor.observe("/twilio/voice", 200, 0.2, session="CA2")
    return monitor


class TestMetricsJson:
    def test_guide_shape(self) -> None:
        """status, performance and errors have exactly the guide's keys."""
        doc = get(MetricsEndpoint(busy_monitor())).json()
        assert doc["status"] in ("healthy", "degraded", "unhealthy")
        assert set(doc["performance"]) == {
            "active_sessions",
            "total_requests",
            "avg_response_time",
            "error_rate",
            "slow_requests",
        }
        assert set(doc["errors"]) >= {
            "total_unique_errors",
            "total_error_count",
            "by_severity",
            "top_errors",
        }

    def test_performance_numbers(self) -> None:
        """error_rate is the 5xx share in %, 4xx are not errors; sessions are distinct keys."""
        perf = get(MetricsEndpoint(busy_monitor())).json()["performance"]
        assert perf["total_requests"] == 5
        assert perf["error_rate"] == 20.0
        assert perf["slow_requests"] == 1
        assert perf["active_sessions"] == 2
        assert perf["avg_response_time"] == round((0.1 + 0.3 + 0.01 + 2.5 + 0.2) / 5, 3)

    def test_endpoints_section(self) -> None:
        """Per route template: counts, client errors and quantiles, plus the window."""
        book = get(MetricsEndpoint(busy_monitor())).json()["endpoints"]["/api/book"]
        assert (book["count"], book["errors"], book["client_errors"]) == (4, 1, 1)
        assert book["p99"] >= book["p95"] >= book["p50"] > 0
        assert book["window"]["count"] == 4

    def test_degraded_when_window_error_rate_is_high(self) -> None:
        """A 20% 5xx rate in the window marks the service degraded."""
        assert get(MetricsEndpoint(busy_monitor())).json()["status"] == "degraded"

    def test_business_metrics_are_shown(self) -> None:
        """Counters and ratios recorded through bellwatch.metrics appear."""
        monitor = Monitor()
        runtime.reset()

        runtime.set_monitor(monitor)
        metrics.outcome("booking", ok=True)
        metrics.outcome("booking", ok=True)
        metrics.outcome("booking", ok=False)
        business = get(MetricsEndpoint(monitor)).json()["business"]
        assert business["counters"] == {"booking_failure": 1, "booking_success": 2}
        assert business["ratios"] == {"booking_success_rate": 66.67}

    def test_unhandled_errors_show_in_errors_section(self) -> None:
        """The aggregator's stats fill the errors section."""
        with capture_logs():
            runtime.aggregator().record(ValueError("bad phone"), endpoint="/api/book")
            doc = get(MetricsEndpoint(Monitor())).json()
        assert doc["errors"]["total_error_count"] == 1
        assert doc["errors"]["total_unique_errors"] == 1

    @pytest.mark.internal_errors
    def test_errors_section_is_empty_when_the_aggregator_fails(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An aggregator that cannot answer gives an empty section, not an error."""

        def broken() -> None:
            raise RuntimeError("no aggregator")

        monkeypatch.setattr(runtime, "aggregator", broken)
        section = runtime.errors_section()
        assert section["total_unique_errors"] == 0
        assert section["top_errors"] == []

    def test_process_numbers_beside_cluster_numbers(self) -> None:
        """With a shared store, this process's own numbers sit under ``process``."""
        cluster, local = busy_monitor().snapshot(), Monitor().snapshot()
        doc = metrics_document(cluster, runtime.errors_section(), local=local)
        assert doc["performance"]["total_requests"] == 5
        assert doc["process"]["performance"]["total_requests"] == 0


class TestPrometheus:
    def test_parser_accepts_the_text(self) -> None:
        """prometheus_client's own parser reads every family."""
        text = get(MetricsEndpoint(busy_monitor()), "/?format=prometheus").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert families["bellwatch_request_duration_seconds"].type == "summary"
        requests = families["bellwatch_requests"]
        counts = {s.labels["path"]: s.value for s in requests.samples}
        assert counts == {"/api/book": 4.0, "/twilio/voice": 1.0}

    def test_accept_text_plain_selects_prometheus(self) -> None:
        """A scraper's Accept header gets text, a browser's gets JSON."""
        app = MetricsEndpoint(busy_monitor())
        scraper = get(app, headers={"accept": "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"})
        assert scraper.headers["content-type"].startswith("text/plain")
        assert get(app, headers={"accept": "*/*"}).headers["content-type"] == "application/json"

    @given(st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s))
    def test_label_values_round_trip(self, path: str) -> None:
        """Any route template survives escaping and parsing."""
        store = MemoryStore()
        store.record(path, 200, 0.1, False, now=time.time())
        text = prometheus_text(store.snapshot(time.time()), runtime.errors_section())
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert families["bellwatch_requests"].samples[0].labels["path"] == path


class TestAlertCounts:
    def test_metrics_show_each_alert_channels_outcomes(self, tmp_path: Path) -> None:
        """A critical error alerts a webhook: /metrics (JSON and Prometheus) counts it sent."""
        import bellwatch
        from test_alerts import Server as Hook

        hook = Hook("ok")
        try:
            bellwatch.configure(stdout=False, alert_webhook=hook.url)
            runtime.aggregator().record(RuntimeError("payments down"), severity="critical")
            deadline = time.monotonic() + 30
            while not hook.bodies and time.monotonic() < deadline:
                time.sleep(0.02)
            while time.monotonic() < deadline:  # the count follows the answer
                doc = get(MetricsEndpoint(), "/").json()
                if doc["process"]["alerts"]["channels"].get("webhook", {}).get("sent"):
                    break
                time.sleep(0.02)
            text = get(MetricsEndpoint(), "/?format=prometheus").text
        finally:
            hook.close()
        assert doc["process"]["alerts"]["channels"]["webhook"] == {
            "sent": 1, "failed": 0, "dropped": 0,
        }  # fmt: skip
        samples = {
            (s.labels["channel"], s.labels["outcome"]): s.value
            for f in text_string_to_metric_families(text)
            if f.name == "bellwatch_alerts"
            for s in f.samples
        }
        assert samples[("webhook", "sent")] == 1.0


class TestToken:
    def test_token_required_when_set(self) -> None:
        """Without the bearer token /metrics answers 401."""
        app = MetricsEndpoint(Monitor(), token="s3cret")
        response = get(app)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"

    def test_wrong_token_is_refused(self) -> None:
        """A different token is refused."""
        app = MetricsEndpoint(Monitor(), token="s3cret")
        assert get(app, headers={"authorization": "Bearer s3cre"}).status_code == 401

    def test_right_token_is_accepted(self) -> None:
        """The configured token as a bearer token gets the document."""
        app = MetricsEndpoint(Monitor(), token="s3cret")
        assert get(app, headers={"authorization": "Bearer s3cret"}).status_code == 200

    def test_token_comes_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """BELLWATCH_METRICS_TOKEN protects the endpoint."""
        monkeypatch.setenv("BELLWATCH_METRICS_TOKEN", "from-env")
        with capture_logs():
            app = MetricsEndpoint(Monitor())
        assert get(app).status_code == 401

    def test_token_configured_after_the_endpoint_still_protects(self) -> None:
        """instrument() before configure(metrics_token=...) must not leave /metrics open."""
        app = MetricsEndpoint(Monitor())
        with capture_logs(metrics_token="later"):
            assert get(app).status_code == 401
            assert get(app, headers={"authorization": "Bearer later"}).status_code == 200


class TestHealth:
    def test_liveness_without_checks(self) -> None:
        """No checks registered: 200 and status ok."""
        response = get(HealthEndpoint())
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "verdict": "healthy", "checks": {}}

    def test_passing_sync_and_async_checks(self) -> None:
        """Sync and async checks that pass give 200."""

        async def db() -> bool:
            return True

        register_check("db", db)
        register_check("disk", lambda: None)
        body = get(HealthEndpoint()).json()
        assert body["status"] == "ok"
        assert body["checks"]["db"]["ok"] and body["checks"]["disk"]["ok"]

    def test_failing_check_gives_503_and_a_line(self) -> None:
        """A raising check answers 503 and logs health_check_failed naming it."""

        def redis() -> None:
            raise ConnectionError("refused")

        register_check("redis", redis)
        with capture_logs() as logs:
            response = get(HealthEndpoint())
        assert response.status_code == 503
        assert response.json()["checks"]["redis"]["error"] == "ConnectionError"
        (line,) = [e for e in logs.events if e["event"] == "health_check_failed"]
        assert line["check"] == "redis"

    def test_check_returning_false_fails(self) -> None:
        """A check that returns False fails."""
        register_check("flag", lambda: False)
        with capture_logs():
            assert get(HealthEndpoint()).status_code == 503

    def test_slow_check_times_out(self) -> None:
        """An async check slower than its timeout fails with a timeout message."""

        async def hang() -> None:
            await asyncio.sleep(5)

        register_check("hang", hang, timeout=0.05)
        with capture_logs():
            body = get(HealthEndpoint()).json()
        assert body["checks"]["hang"]["error"].startswith("timed out")

    def test_failed_health_marks_metrics_unhealthy(self) -> None:
        """After a failed /health, /metrics reports unhealthy."""
        register_check("flag", lambda: False)
        with capture_logs():
            get(HealthEndpoint())
        assert get(MetricsEndpoint(Monitor())).json()["status"] == "unhealthy"


def _counters(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every counter sample of a scrape, by name and labels."""
    out = {}
    for family in text_string_to_metric_families(text):
        if family.type != "counter":
            continue
        for sample in family.samples:
            if sample.name.endswith("_created"):
                continue
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


@pytest.mark.redis
class TestScrapingWorkers:
    def test_every_counter_only_grows_whichever_worker_answers(
        self, tmp_path: Path, redis_url: str
    ) -> None:
        """Two workers behind one port, scraped 16 times between bursts of requests: no
        counter series ever goes down, and cluster and per-worker series both appear."""
        env = {"BELLWATCH_REDIS_URL": redis_url, "BELLWATCH_FLUSH_INTERVAL": "60"}
        server = Server(tmp_path, [*UVICORN, "--workers", "2"], 2, env)
        scrapes = []
        try:
            for burst in range(16):
                # new connections: the kernel picks the worker (and a 500 closes its own)
                for i in range(12):
                    httpx.get(server.base + ("/fail" if (burst + i) % 4 == 0 else "/ok"))
                text = httpx.get(server.base + "/metrics?format=prometheus", timeout=10).text
                scrapes.append(_counters(text))
        finally:
            server.stop()
        seen: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for scrape in scrapes:
            for key, value in scrape.items():
                assert value >= seen.get(key, 0.0), key
                seen[key] = value
        scopes = {dict(labels).get("scope") for _, labels in seen}
        workers = {dict(labels).get("worker") for _, labels in seen} - {None}
        assert {"cluster", "process"} <= scopes
        assert len(workers) >= 1
        requests = [(labels, v) for (name, labels), v in seen.items()
                    if name == "bellwatch_requests_total"]  # fmt: skip
        cluster = [v for labels, v in requests if ("scope", "cluster") in labels]
        assert 0 < sum(cluster) <= 16 * 12 + 16


@pytest.mark.redis
class TestFreshWorker:
    def test_first_read_fetches_the_cluster_before_answering(self, redis_url: str) -> None:
        """A worker that just started answers its first /metrics with the cluster's totals."""
        from bellwatch.store.redis import RedisStore

        other = RedisStore(redis_url, flush_interval=3600)
        try:
            for _ in range(7):
                other.record("/api/book", 200, 0.1, False, time.time())
            assert other.flush()
        finally:
            other.close()
        with capture_logs(redis_url=redis_url, flush_interval=60.0):
            doc = get(MetricsEndpoint()).json()
        assert (doc["source"], doc["stale"]) == ("cluster", False)
        assert doc["performance"]["total_requests"] == 7

    def test_the_cluster_errors_are_there_on_the_first_read(self, redis_url: str) -> None:
        """The errors section of a fresh worker's first read is the cluster's too."""
        from bellwatch._settings import resolve
        from bellwatch.errors.aggregator import ErrorAggregator

        other = ErrorAggregator(resolve({}, redis_url=redis_url, flush_interval=3600.0),
                                emit=lambda method, event: None)  # fmt: skip
        try:
            for n in range(3):
                other.record(KeyError(f"user {n}"))
            assert other.store.flush()  # type: ignore[attr-defined]
        finally:
            other.close()
        with capture_logs(redis_url=redis_url, flush_interval=60.0):
            errors = get(MetricsEndpoint()).json()["errors"]
        assert (errors["total_error_count"], errors["total_unique_errors"]) == (3, 1)

    def test_a_fresh_workers_health_verdict_is_the_clusters(self, redis_url: str) -> None:
        """A worker that just started gives /health the verdict /metrics gives: the
        cluster's, not that of its own (still empty) numbers."""
        from bellwatch.store.redis import RedisStore

        other = RedisStore(redis_url, flush_interval=3600)
        try:
            for i in range(10):  # half of them 500: the cluster is degraded
                other.record("/api/book", 500 if i % 2 else 200, 0.1, False, time.time())
            assert other.flush()
        finally:
            other.close()
        with capture_logs(redis_url=redis_url, flush_interval=60.0):
            health = get(HealthEndpoint()).json()
            status = get(MetricsEndpoint()).json()["status"]
        assert health["verdict"] == status == "degraded"

    def test_without_redis_the_answer_is_local_and_says_stale(self) -> None:
        """Redis unreachable: the read gives up and marks this process's numbers stale."""
        with capture_logs(redis_url="redis://127.0.0.1:1/0", flush_interval=60.0):
            runtime.monitor().observe("/api/book", 200, 0.1)
            doc = get(MetricsEndpoint()).json()
        assert (doc["source"], doc["stale"]) == ("local", True)
        assert doc["performance"]["total_requests"] == 1


class TestWithoutRedis:
    def test_each_worker_answers_its_own_numbers_as_the_readme_says(self, tmp_path: Path) -> None:
        """Two workers and no Redis: each /metrics is the answering worker's own numbers
        (source local, no stale), the workers' numbers add up to what was sent, and a
        restart starts from zero; the README says so."""
        readme = (Path(__file__).parents[1] / "README.md").read_text()
        assert "Without Redis every number is the answering worker's own" in readme
        server = Server(tmp_path, [*UVICORN, "--workers", "2"], 2)
        by_worker: dict[str, dict[str, Any]] = {}
        try:
            answered_ok, answered_fail = server.load()
            for _ in range(200):  # new connections: the kernel picks the worker
                doc = httpx.get(server.base + "/metrics", headers={"Connection": "close"}).json()
                by_worker[doc["process"]["worker"]] = doc
                if len(by_worker) == 2:
                    break
        finally:
            server.stop()
        assert len(by_worker) == 2
        for doc in by_worker.values():
            assert doc["source"] == "local" and "stale" not in doc
            assert doc["performance"] == doc["process"]["performance"]
        counted = [doc["endpoints"].get(path, {}).get("count", 0)
                   for doc in by_worker.values() for path in ("/ok", "/fail")]  # fmt: skip
        assert sum(counted) == answered_ok + answered_fail
        again = Server(tmp_path, UVICORN, 1)
        try:
            doc = httpx.get(again.base + "/metrics").json()
        finally:
            again.stop()
        assert "/ok" not in doc["endpoints"] and doc["errors"]["total_error_count"] == 0


def _users_app() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    import bellwatch

    async def me(request: Any) -> PlainTextResponse:
        bellwatch.bind(uid=request.query_params["u"])
        if request.query_params.get("fail"):
            raise RuntimeError("slot taken")
        return PlainTextResponse("ok")

    return bellwatch.instrument(Starlette(routes=[Route("/me", me)]))


def _visit(app: Any, *queries: str) -> None:
    async def go() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            for query in queries:
                await client.get("/me?" + query)

    asyncio.run(go())


class TestUsers:
    def test_users_section_and_users_per_top_error(self) -> None:
        """/metrics: distinct active users, and how many users each top error affected."""
        with capture_logs():
            app = _users_app()
            _visit(app, *(f"u=u{i}" for i in range(7)), "u=u1&fail=1", "u=u2&fail=1", "u=u2&fail=1")
            doc = get(app, "/metrics").json()
        users = doc["users"]
        assert users["counted"] and users["source"] == "local"
        assert users["active"] == {"5m": 7, "1h": 7, "24h": 7}
        assert 0 < users["error"] < 0.05
        (error,) = doc["errors"]["top_errors"]
        assert (error["count"], error["users"]) == (3, 2)

    def test_prometheus_gauges_by_scope(self) -> None:
        """bellwatch_active_users per window, new and returning users, labelled scope=process."""
        with capture_logs():
            app = _users_app()
            _visit(app, "u=a", "u=b")
            text = get(app, "/metrics?format=prometheus").text
        families = {f.name: f for f in text_string_to_metric_families(text)}
        active = {s.labels["window"]: s.value for s in families["bellwatch_active_users"].samples}
        assert active == {"5m": 2.0, "1h": 2.0, "24h": 2.0}
        (sample,) = families["bellwatch_new_users"].samples
        assert sample.value == 2.0 and sample.labels["scope"] == "process"

    def test_not_counted_without_the_setting(self) -> None:
        """user_analytics off: the section says so, errors carry users None."""
        with capture_logs(user_analytics=False):
            app = _users_app()
            _visit(app, "u=a&fail=1")
            doc = get(app, "/metrics").json()
        assert doc["users"] == {"counted": False, "reason": "off (user_analytics)"}
        assert doc["errors"]["top_errors"][0]["users"] is None

    def test_not_counted_without_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without datasketches: "not counted", with the install line; requests still served."""
        from bellwatch.monitor import _sketches

        monkeypatch.setattr(_sketches, "_module", None)
        monkeypatch.setitem(__import__("sys").modules, "datasketches", None)
        with capture_logs():
            app = _users_app()
            _visit(app, "u=a")
            doc = get(app, "/metrics").json()
        assert doc["users"] == {"counted": False, "reason": _sketches.HINT}
        assert doc["performance"]["total_requests"] == 1

    @pytest.mark.redis
    def test_cluster_users_with_redis(self, redis_url: str) -> None:
        """With Redis the top level is the cluster's (source cluster), process this worker's;
        Prometheus has both, scope="cluster" and scope="process"."""
        with capture_logs(redis_url=redis_url, service="usersdoc", flush_interval=0.2):
            app = _users_app()
            _visit(app, "u=a", "u=b", "u=c")
            deadline = time.monotonic() + 30
            while True:
                users = get(app, "/metrics").json()["users"]
                if users["source"] == "cluster" and users["active"]["5m"] == 3:
                    break
                assert time.monotonic() < deadline, users
                time.sleep(0.1)
            assert users["process"]["active"]["5m"] == 3
            text = get(app, "/metrics?format=prometheus").text
            runtime.monitor().store.reset()
        families = {f.name: f for f in text_string_to_metric_families(text)}
        scopes = {(s.labels["scope"], s.labels["window"]): s.value
                  for s in families["bellwatch_active_users"].samples}  # fmt: skip
        assert scopes[("cluster", "5m")] == 3.0 and scopes[("process", "5m")] == 3.0
