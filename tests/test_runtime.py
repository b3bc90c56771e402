"""The runtime: every setting given to configure() or the environment reaches its component."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import bellwatch
from bellwatch import Settings, instrument
from bellwatch._runtime import runtime
from bellwatch._settings import env_name
from bellwatch.asgi.dashboard import DashboardEndpoint
from bellwatch.asgi.endpoints import MetricsEndpoint
from bellwatch.asgi.middleware import BellwatchMiddleware
from bellwatch.errors.alerts import SnsNotifier, WebhookNotifier
from bellwatch.log import pipeline
from bellwatch.log.context import get_fields
from bellwatch.log.pseudonym import UidHasher
from bellwatch.log.stdlib import BellwatchHandler
from bellwatch.monitor.emf import EmfWriter
from bellwatch.testing import capture_logs

pytest_plugins = ["redis_server"]

Probe = Callable[[], Any]


def _pipe() -> pipeline.Pipeline:
    return pipeline.current()


def _file() -> Any:
    return _pipe().sink._file


def _middleware() -> BellwatchMiddleware:
    mw = BellwatchMiddleware(PlainTextResponse("ok"))
    mw._adopt()
    return mw


def _redacts(key: str, value: str) -> Any:
    return _pipe().redactor(None, "info", {key: value})[key]


def _emf() -> EmfWriter:
    (writer,) = [w for w in runtime.monitor().listeners if isinstance(w, EmfWriter)]
    return writer


def _notifier(kind: type) -> Any:
    (found,) = [n for n in runtime.aggregator().alerter.notifiers if isinstance(n, kind)]
    return found


def _stores() -> tuple[Any, Any]:
    return runtime.monitor().store, runtime.aggregator().store


KEY = "k" * 16  # a uid_key
OTHER_KEY = "o" * 16


def _bound_uid() -> Any:
    bellwatch.bind(uid="alice")
    try:
        return get_fields()["uid"]
    finally:
        bellwatch.clear()


# setting -> (value, other settings it needs, what the component shows, expected)
REDIS = "redis_url"
TABLE: dict[str, tuple[Any, dict[str, Any], Probe, Any]] = {
    "service": ("shop", {REDIS: True}, lambda: {s.prefix for s in _stores()}, {"bellwatch:shop:"}),
    "env": ("dev", {}, lambda: _pipe()._console is not None, True),
    "level": ("WARNING", {}, lambda: _pipe().min_level, 30),
    "max_line": (150, {}, lambda: _pipe().renderer.max_line, 150),
    "error_line_max": (900, {}, lambda: _pipe().first_renderer.max_line, 900),
    "timestamp": ("iso", {}, lambda: type(_pipe().add_context.stamp(0)), str),
    "stdout": (False, {}, lambda: _pipe().sink.stream, None),
    "log_file": (True, {}, lambda: _file() is not None, True),
    "log_dir": ("LOGDIR", {"log_file": True}, lambda: _file().path.parent.name, "custom"),
    "log_max_bytes": (8192, {"log_file": True}, lambda: _file().max_bytes, 8192),
    "log_backups": (2, {"log_file": True}, lambda: _file().backups, 2),
    "log_flush": (0.5, {"log_file": True}, lambda: _file().flush_interval, 0.5),
    "log_blocked": (
        "block",
        {"log_file": True},
        lambda: (_pipe().sink._out.on_full, _file().on_full),
        ("block", "block"),
    ),
    "redact_keys": ("zzz", {}, lambda: (_redacts("zzz", "v"), _redacts("pwd", "v")), ("***",) * 2),
    "redact_builtin_keys": ("zzz", {}, lambda: _redacts("password", "v"), "v"),
    "mask_phones": (False, {}, lambda: _redacts("x", "+15551234567"), "+15551234567"),
    "mask_emails": (True, {}, lambda: _redacts("x", "alice@example.com"), "a***@example.com"),
    "capture_stdlib": (
        False,
        {},
        lambda: any(isinstance(h, BellwatchHandler) for h in logging.getLogger().handlers),
        False,
    ),
    "slow_threshold": (0.01, {}, lambda: runtime.monitor().slow_threshold, 0.01),
    "cid_headers": ("x-trace", {}, lambda: list(_middleware()._ids.rank), [b"x-trace"]),
    "cid_response_header": ("x-corr", {}, lambda: _middleware()._out_header, b"x-corr"),
    "cid_max_length": (10, {}, lambda: _middleware()._ids.max_len, 10),
    "cid_bytes": (8, {}, lambda: _middleware()._ids.nbytes, 8),
    "metrics_token": ("s3cret", {}, lambda: MetricsEndpoint()._token, b"s3cret"),
    "dashboard_session_ttl": (600.0, {}, lambda: DashboardEndpoint()._ttl, 600.0),
    "session_window": (10.0, {}, lambda: runtime.monitor().store.session_window, 10.0),
    "emf": (True, {}, lambda: isinstance(_emf(), EmfWriter), True),
    "emf_namespace": ("NS", {"emf": True}, lambda: _emf().namespace, "NS"),
    "user_analytics": (False, {}, lambda: (runtime.users(), _middleware()._users), (None, None)),
    "hash_uid": (True, {"uid_key": KEY}, _bound_uid, UidHasher(KEY)("alice")),
    "uid_key": (OTHER_KEY, {"hash_uid": True}, _bound_uid, UidHasher(OTHER_KEY)("alice")),
    "error_mode": ("window", {}, lambda: runtime.aggregator().policy.mode, "window"),
    "error_every": (5, {}, lambda: runtime.aggregator().policy.every, 5),
    "error_window": (30.0, {}, lambda: runtime.aggregator().policy.window, 30.0),
    "error_ttl": (60.0, {}, lambda: runtime.aggregator().policy.ttl, 60.0),
    "error_max_patterns": (50, {}, lambda: runtime.aggregator().policy.max_patterns, 50),
    "spike_threshold": (3, {}, lambda: runtime.aggregator().policy.spike_threshold, 3),
    "spike_window": (60.0, {}, lambda: runtime.aggregator().policy.spike_window, 60.0),
    "alert_webhook": (
        "http://127.0.0.1:9/hook",
        {},
        lambda: _notifier(WebhookNotifier).url,
        "http://127.0.0.1:9/hook",
    ),
    "alert_sns_topic": (
        "arn:aws:sns:eu-west-1:123456789012:t",
        {},
        lambda: _notifier(SnsNotifier).topic_arn,
        "arn:aws:sns:eu-west-1:123456789012:t",
    ),
    "alert_interval": (5.0, {}, lambda: runtime.aggregator().alerter.interval, 5.0),
    "alert_low": (True, {}, lambda: runtime.aggregator().page_low, True),
    "redis_url": (
        "REDIS",
        {},
        lambda: [type(s).__name__ for s in _stores()],
        ["RedisStore", "RedisPatternStore"],
    ),
    "flush_interval": (
        0.5,
        {REDIS: True},
        lambda: {s.shipper.interval for s in _stores()},
        {0.5},
    ),
    "buffer_max": (10, {REDIS: True}, lambda: {s.buffer_max for s in _stores()}, {10}),
    "region": (
        "eu-west-2",
        {"alert_sns_topic": "arn:aws:sns::123456789012:t"},
        lambda: _notifier(SnsNotifier).region,
        "eu-west-2",
    ),
}
# Read by the CLI, `aws setup` and `bellwatch mcp`, not by anything configure() builds.
CLI_ONLY = {"log_group", "url", "mcp_token"}


def _concrete(value: Any, redis_url: str, tmp_path: Path) -> Any:
    if value == "REDIS":
        return redis_url
    if value == "LOGDIR":
        return str(tmp_path / "custom")
    return value


@pytest.fixture
def setting_env(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[[str], dict[str, Any]]]:
    monkeypatch.chdir(tmp_path)  # log files land in the test's own directory

    def values(name: str) -> dict[str, Any]:
        value, needs, _, _ = TABLE[name]
        uses_redis = value == "REDIS" or REDIS in needs
        redis_url = request.getfixturevalue("redis_url") if uses_redis else ""
        out = {name: _concrete(value, redis_url, tmp_path)}
        for key, other in needs.items():
            out[key] = redis_url if key == REDIS else other
        return out

    yield values
    runtime.reset()


def _as_env(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


class TestEverySettingActs:
    def test_the_table_covers_every_setting(self) -> None:
        """Each field of Settings is in the table below, or read only by the CLI."""
        names = {f.name for f in dataclasses.fields(Settings)}
        assert names == set(TABLE) | CLI_ONLY

    @pytest.mark.parametrize("name", sorted(TABLE))
    def test_configure_argument_reaches_its_component(
        self, name: str, setting_env: Callable[[str], dict[str, Any]]
    ) -> None:
        """configure(name=value) changes what the component that uses it does."""
        values = setting_env(name)
        bellwatch.configure(**values)
        assert TABLE[name][2]() == TABLE[name][3]

    @pytest.mark.parametrize("name", sorted(TABLE))
    def test_environment_variable_reaches_its_component(
        self,
        name: str,
        setting_env: Callable[[str], dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """BELLWATCH_<NAME>=value does the same without any configure() call."""
        for key, value in setting_env(name).items():
            monkeypatch.setenv(env_name(key), _as_env(value))
        assert TABLE[name][2]() == TABLE[name][3]


def _slow_app() -> Any:
    async def slow(request: Any) -> PlainTextResponse:
        await asyncio.sleep(0.03)
        return PlainTextResponse("ok")

    return Starlette(routes=[Route("/slow", slow)])


def _get(app: Any, path: str) -> None:
    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.get(path)

    asyncio.run(go())


class TestOrder:
    @pytest.mark.parametrize("instrument_first", [True, False])
    def test_slow_threshold_acts_whichever_comes_first(self, instrument_first: bool) -> None:
        """instrument() before or after configure(slow_threshold=0.01): a 30 ms request is slow."""
        with capture_logs() as logs:
            app = instrument(_slow_app()) if instrument_first else None
            bellwatch.configure(stream=logs._buffer, slow_threshold=0.01)
            app = app if app is not None else instrument(_slow_app())
            _get(app, "/slow")
            (line,) = [e for e in logs.events if e["event"] == "request_complete"]
        assert line["level"] == "WARNING"
        assert runtime.monitor().snapshot().totals().slow == 1

    def test_a_later_configure_is_followed_by_a_running_middleware(self) -> None:
        """A second configure() with a new response header reaches an app already serving."""
        with capture_logs() as logs:
            app = instrument(_slow_app())
            _get(app, "/slow")
            bellwatch.configure(stream=logs._buffer, cid_response_header="x-corr")

            async def go() -> httpx.Response:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    return await c.get("/slow")

            response = asyncio.run(go())
        assert "x-corr" in response.headers


@pytest.mark.redis
class TestOneNamespace:
    def test_every_redis_key_of_a_service_shares_its_prefix(self, redis_url: str) -> None:
        """Requests, sessions, counters, errors and users all land under bellwatch:<service>:."""
        import redis

        client = redis.Redis.from_url(redis_url, decode_responses=True)
        for key in client.scan_iter(match="bellwatch:shop:*"):
            client.delete(key)
        try:
            with capture_logs(service="shop", redis_url=redis_url):

                async def fail(request: Any) -> PlainTextResponse:
                    raise RuntimeError("broken 7")

                async def ok(request: Any) -> PlainTextResponse:
                    bellwatch.bind(sid="CA1", uid="u1")
                    bellwatch.metrics.incr("calls")
                    return PlainTextResponse("ok")

                app = instrument(Starlette(routes=[Route("/ok", ok), Route("/fail", fail)]))

                async def go() -> None:
                    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
                    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                        await c.get("/ok")
                        await c.get("/fail")

                asyncio.run(go())
                runtime.flush()
                assert runtime.users() is not None
                runtime.users().error_user("abcd1234", "u1")
                assert runtime.monitor().store.flush()
                assert runtime.aggregator().store.flush()
            keys = set(client.scan_iter(match="bellwatch:*"))
            mine = {k for k in keys if k.startswith("bellwatch:shop:")}
            assert {k.split(":")[2] for k in mine} >= {"ep", "sess", "ctr", "etot", "u"}
            # the users' HyperLogLogs: per minute, per hour, per error fingerprint
            assert {k.split(":")[3] for k in mine if k.split(":")[2] == "u"} >= {"m", "h", "e"}
            assert not {k for k in keys if k.startswith("bellwatch:app:")}
        finally:
            runtime.reset()
            client.close()
