"""``GET /dashboard``: a live page over ``/metrics``, shipped in the package (no CDN, no build).

The page (``static/dashboard.{html,css,js}``, inlined into one response) polls
``/metrics?series=1`` and draws request rate, p95 latency and error rate over the
last minutes as plain SVG, with the slow requests, top error patterns, endpoints,
active sessions and business metrics beside them.

The series come from a :class:`~bellwatch.monitor.timeline.Timeline`: a monitor
listener that keeps this process's requests in 5-second buckets for 5 minutes (per
process, also when the monitor's store is shared), owned by the runtime and
attached when it builds the monitor, so the charts of an incident are there when
someone first opens the page (about 1 us per request). ``/metrics`` adds the
series as ``series`` only when asked with ``?series=1``, so its usual document is
unchanged.

Protection is ``/metrics``'s: with ``metrics_token`` set, a request needs
``Authorization: Bearer <token>``; a browser may instead open
``/dashboard?token=<token>`` once, which sets an HttpOnly, SameSite=Strict cookie
holding a session of its own (a random id and an expiry, signed with a key derived
from the token; see :mod:`bellwatch.asgi._auth`) and redirects to the bare URL, so
the token leaves the address bar and the page's own ``/metrics`` fetches carry it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from importlib import resources
from urllib.parse import parse_qs

import orjson

from .._guard import record_internal_error, suppress_internal_errors
from .._runtime import runtime
from ..monitor.monitor import Monitor
from ..verdict import DEGRADED_ERROR_RATE, WARN_ERROR_RATE
from ._auth import COOKIE, authorize, cookie_ok, failures, new_session
from ._scope import Receive, Scope, Send

__all__ = ["COOKIE", "DashboardEndpoint", "cookie_ok"]

_HTML = b"text/html; charset=utf-8"


def _asset(name: str) -> str:
    return resources.files("bellwatch").joinpath("static", name).read_text("utf-8")


def _sha256(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


class DashboardEndpoint:
    """ASGI app for ``GET /dashboard``: the live page, protected like ``/metrics``.

    Args:
        monitor: whose requests the charts show; the process-wide monitor by default.
        metrics_path: where the page fetches its numbers.
        token: defaults to the ``metrics_token`` setting (no token: open, like /metrics).
        path: where this page is mounted (for the redirect that drops ``?token=``).
    """

    quiet = False  # instrument() sets it: the middleware neither logs nor counts it

    def __init__(
        self,
        monitor: Monitor | None = None,
        *,
        metrics_path: str = "/metrics",
        token: str | None = None,
        path: str = "/dashboard",
    ) -> None:
        self.path = path
        self._given = token
        self._monitor = monitor
        self._metrics_path = metrics_path
        css, js = _asset("dashboard.css"), _asset("dashboard.js")
        html = _asset("dashboard.html").replace("/*CSS*/", css).replace("/*JS*/", js)
        # The config (JSON, never executed) goes in per request: it knows the mount point.
        self._before, _, self._after = html.encode().partition(b'"/*CONFIG*/"')
        # Inline code is allowed by hash only: nothing injected into the page could run.
        self._csp = (
            f"default-src 'none'; script-src 'sha256-{_sha256(js)}'; "
            f"style-src 'sha256-{_sha256(css)}'; connect-src 'self'; img-src data:; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
        ).encode()

    @property
    def _token(self) -> bytes:
        # Read per request, like /metrics: configure(metrics_token=...) may come later.
        return (self._given or runtime.settings.metrics_token or "").encode()

    @property
    def _ttl(self) -> float:
        return runtime.settings.dashboard_session_ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("route", self)  # names our route for the middleware
        try:
            await self._serve(scope, send)
        except Exception as exc:  # never raise into the host app
            record_internal_error(exc)
            with suppress_internal_errors():  # the response may have started already
                await _respond(send, 500, b"dashboard unavailable", b"text/plain")

    async def _serve(self, scope: Scope, send: Send) -> None:
        head = scope.get("method") == "HEAD"
        token = self._token
        how = "open"
        if token:
            query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
            given = (query.get("token") or [""])[0].encode()
            if given and hmac.compare_digest(given, token):
                await self._login(scope, send)
                return
            if given:
                failures.record(self.path, "query")
            ok, how = authorize(scope, token, self._ttl)
            if not ok:
                if not given:
                    failures.record(self.path, how)
                body = (
                    b"<!doctype html><title>bellwatch</title><p>This dashboard needs the "
                    b"metrics token: open <code>/dashboard?token=&lt;BELLWATCH_METRICS_TOKEN"
                    b"&gt;</code> once."
                )
                await _respond(
                    send, 401, body, _HTML, head=head, extra=[(b"www-authenticate", b"Bearer")]
                )
                return
        headers = [
            (b"content-security-policy", self._csp),
            (b"cache-control", b"no-store"),
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
        ]
        if how == "bearer":  # a browser sent the token itself: give it a session
            headers.append((b"set-cookie", self._cookie(scope)))
        # Read per request, like the token: configure() may come after instrument().
        settings = runtime.settings
        config = {
            "service": settings.service,
            # the monitor's: an instrument(app, slow_threshold=...) override counts by it
            "slow": (self._monitor or runtime.monitor()).slow_threshold,
            # the error-rate colours follow the one health verdict (bellwatch.verdict)
            "warn_rate": WARN_ERROR_RATE,
            "bad_rate": DEGRADED_ERROR_RATE,
            "metrics": scope.get("root_path", "") + self._metrics_path,
        }
        page = self._before + orjson.dumps(config).replace(b"</", b"<\\/") + self._after
        await _respond(send, 200, page, _HTML, head=head, extra=headers)

    def _cookie(self, scope: Scope) -> bytes:
        """A new session for this browser, as a ``Set-Cookie`` value."""
        secure = scope.get("scheme") == "https" or any(
            name == b"x-forwarded-proto" and value.startswith(b"https")
            for name, value in scope.get("headers", ())
        )
        ttl = self._ttl
        value = new_session(self._token, ttl)
        cookie = f"{COOKIE}={value}; Path=/; Max-Age={int(ttl)}; HttpOnly; SameSite=Strict"
        return (cookie + ("; Secure" if secure else "")).encode()

    async def _login(self, scope: Scope, send: Send) -> None:
        """``?token=`` was right: set the cookie and send the browser to the bare URL."""
        location = (scope.get("root_path", "") + self.path).encode("latin-1")
        headers = [
            (b"set-cookie", self._cookie(scope)),
            (b"location", location),
            (b"cache-control", b"no-store"),
            (b"referrer-policy", b"no-referrer"),
        ]
        await _respond(send, 303, b"", _HTML, extra=headers)


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes,
    *,
    head: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send(
        {"type": "http.response.start", "status": status, "headers": headers + (extra or [])}
    )
    await send({"type": "http.response.body", "body": b"" if head else body})
