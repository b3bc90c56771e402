"""Who may read /metrics and /dashboard: per-browser sessions, and refusals counted, not echoed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import bellwatch
from bellwatch import _guard
from bellwatch._runtime import runtime
from bellwatch._settings import ConfigError
from bellwatch.asgi._auth import COOKIE, Failures, authorize, new_session, session_check
from bellwatch.asgi.dashboard import DashboardEndpoint
from bellwatch.asgi.endpoints import MetricsEndpoint
from bellwatch.monitor import Monitor
from bellwatch.testing import Captured, capture_logs

TOKEN = b"metrics-s3cret"
PRESENTED = "wrong-but-secret-looking-value-42"


def get(app: Any, path: str = "/", **kw: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path, **kw)

    return asyncio.run(go())


def scope(cookie: str | None = None, bearer: str | None = None) -> dict[str, Any]:
    headers = []
    if cookie is not None:
        headers.append((b"cookie", f"other=1; {COOKIE}={cookie}".encode()))
    if bearer is not None:
        headers.append((b"authorization", f"Bearer {bearer}".encode()))
    return {"type": "http", "headers": headers}


def flip(text: str) -> str:
    """``text`` with its last character changed."""
    return text[:-1] + ("1" if text[-1] == "0" else "0")


@pytest.fixture
def logs() -> Iterator[Captured]:
    with capture_logs(metrics_token=TOKEN.decode()) as captured:
        yield captured


class TestSessions:
    def test_each_login_is_a_session_of_its_own(self) -> None:
        """Two browsers never share a cookie value, and both are valid."""
        one, two = new_session(TOKEN, 60), new_session(TOKEN, 60)
        assert one != two
        assert session_check(one, TOKEN, 60) is None
        assert session_check(two, TOKEN, 60) is None

    def test_the_cookie_is_not_the_token(self) -> None:
        """Nothing of the token is in the cookie."""
        assert TOKEN.decode() not in new_session(TOKEN, 60)

    def test_a_session_expires(self) -> None:
        """A session is refused once its expiry has passed."""
        value = new_session(TOKEN, 60, now=1000.0)
        assert session_check(value, TOKEN, 60, now=1059.0) is None
        assert session_check(value, TOKEN, 60, now=1060.0) == "expired"

    def test_a_shorter_ttl_applies_to_sessions_already_issued(self) -> None:
        """Lowering dashboard_session_ttl ends longer sessions issued before."""
        value = new_session(TOKEN, 3600, now=1000.0)
        assert session_check(value, TOKEN, 60, now=1000.0) == "expired"

    def test_a_new_token_ends_every_session(self) -> None:
        """The signing key comes from the token: after a change the cookie is refused."""
        value = new_session(TOKEN, 60)
        assert session_check(value, b"rotated-token", 60) == "cookie"

    @pytest.mark.parametrize("tamper", ["expiry", "id", "signature", "garbage"])
    def test_a_forged_session_is_refused(self, tamper: str) -> None:
        """Changing any part of the cookie (to extend it, say) breaks its signature."""
        sid, expires, signature = new_session(TOKEN, 60).split(".")
        forged = {
            "expiry": f"{sid}.{int(expires) + 10}.{signature}",
            "id": f"{flip(sid)}.{expires}.{signature}",
            "signature": f"{sid}.{expires}.{flip(signature)}",
            "garbage": "not-a-session",
        }[tamper]
        assert session_check(forged, TOKEN, 3600) == "cookie"

    @pytest.mark.parametrize(
        ("request_scope", "expected"),
        [
            (scope(), (False, "missing")),
            (scope(bearer=PRESENTED), (False, "bearer")),
            (scope(bearer=TOKEN.decode()), (True, "bearer")),
            (scope(cookie="forged.1.abc"), (False, "cookie")),
        ],
    )
    def test_authorize_says_how_or_why(
        self, request_scope: dict[str, Any], expected: tuple[bool, str]
    ) -> None:
        """A request is let in by bearer or cookie, or refused with a reason."""
        assert authorize(request_scope, TOKEN, 60) == expected

    def test_a_valid_cookie_lets_in(self) -> None:
        """The session cookie alone opens /metrics."""
        assert authorize(scope(cookie=new_session(TOKEN, 60)), TOKEN, 60) == (True, "cookie")


class TestRefusals:
    def test_a_refusal_is_logged_without_the_value(self, logs: Captured) -> None:
        """/metrics with a wrong token: 401, one auth_failed WARNING, the value nowhere."""
        response = get(MetricsEndpoint(Monitor()), headers={"authorization": f"Bearer {PRESENTED}"})
        assert response.status_code == 401
        (line,) = [e for e in logs.events if e["event"] == "auth_failed"]
        assert line["level"] == "WARNING"
        assert line["path"] == "/metrics"
        assert line["check"] == "bearer"
        assert PRESENTED not in "".join(logs.lines)
        assert bellwatch.stats()["auth_failures"] == 1

    def test_refusals_are_rate_limited_and_counted(self, logs: Captured) -> None:
        """A flood of bad tokens writes one line a minute; every refusal is counted."""
        app = MetricsEndpoint(Monitor())
        for _ in range(20):
            assert get(app, headers={"authorization": f"Bearer {PRESENTED}"}).status_code == 401
        assert len([e for e in logs.events if e["event"] == "auth_failed"]) == 1
        assert bellwatch.stats()["auth_failures"] == 20

    def test_the_next_line_says_how_many_were_not_logged(self, logs: Captured) -> None:
        """After the quiet period the next line carries the count since the previous one."""
        failures = Failures(every=3600.0)
        for _ in range(5):
            failures.record("/metrics", "bearer")
        failures._next = 0.0  # the quiet period is over
        failures.record("/metrics", "missing")
        counts = [e["count"] for e in logs.events if e["event"] == "auth_failed"]
        assert counts == [1, 5]

    def test_a_wrong_query_token_on_the_dashboard_is_counted(self, logs: Captured) -> None:
        """/dashboard?token=<wrong> is refused and logged without the value."""
        response = get(DashboardEndpoint(), f"/?token={PRESENTED}")
        assert response.status_code == 401
        (line,) = [e for e in logs.events if e["event"] == "auth_failed"]
        assert (line["path"], line["check"]) == ("/dashboard", "query")
        assert PRESENTED not in "".join(logs.lines)
        assert _guard.counters.auth_failures == 1

    def test_an_expired_cookie_no_longer_reads_metrics(self, logs: Captured) -> None:
        """A session past its expiry gets 401 on /metrics too."""
        stale = new_session(TOKEN, 60, now=0.0)
        response = get(MetricsEndpoint(Monitor()), headers={"cookie": f"{COOKIE}={stale}"})
        assert response.status_code == 401
        (line,) = [e for e in logs.events if e["event"] == "auth_failed"]
        assert line["check"] == "expired"


class TestDashboardCookie:
    def test_login_sets_a_session_that_expires(self, logs: Captured) -> None:
        """?token= answers with a signed session whose Max-Age is the configured ttl."""
        bellwatch.configure(
            stream=logs._buffer, metrics_token=TOKEN.decode(), dashboard_session_ttl=120
        )
        response = get(DashboardEndpoint(), f"/?token={TOKEN.decode()}")
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "Max-Age=120" in cookie
        value = cookie.split(";")[0].split("=", 1)[1]
        assert session_check(value, TOKEN, 120) is None

    def test_two_logins_get_two_sessions(self, logs: Captured) -> None:
        """Every browser that logs in gets its own session, not one shared HMAC."""
        app = DashboardEndpoint()
        first = get(app, f"/?token={TOKEN.decode()}").headers["set-cookie"]
        second = get(app, f"/?token={TOKEN.decode()}").headers["set-cookie"]
        assert first.split(";")[0] != second.split(";")[0]

    def test_a_rotated_token_locks_old_browsers_out(self, logs: Captured) -> None:
        """After the token changes, a cookie issued under the old one gets 401."""
        old = new_session(TOKEN, 60)
        bellwatch.configure(stream=logs._buffer, metrics_token="rotated")
        assert get(DashboardEndpoint(), headers={"cookie": f"{COOKIE}={old}"}).status_code == 401
        assert (
            get(MetricsEndpoint(Monitor()), headers={"cookie": f"{COOKIE}={old}"}).status_code
            == 401
        )


class TestEmptyToken:
    def test_empty_token_argument_fails_at_configure(self) -> None:
        """configure(metrics_token="") fails like a blank token, instead of opening /metrics."""
        with pytest.raises(ConfigError, match="metrics_token"):
            bellwatch.configure(metrics_token="")

    def test_empty_token_in_the_environment_fails_at_configure(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BELLWATCH_METRICS_TOKEN= (set, empty) fails, naming the variable."""
        monkeypatch.setenv("BELLWATCH_METRICS_TOKEN", "")
        with pytest.raises(ConfigError, match="BELLWATCH_METRICS_TOKEN"):
            runtime.configure()
