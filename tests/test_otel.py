"""OpenTelemetry joins: an active span's trace id is the correlation id; calls carry traceparent."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bellwatch import get_logger, instrument
from bellwatch.asgi._otel import current_span
from bellwatch.asgi.outgoing import stamp, trace_id_of, traceparent
from bellwatch.log.context import request_scope
from bellwatch.testing import Captured, capture_logs
from fresh_python import run_python

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
SPAN_ID = 0x00F067AA0BA902B7
TRACE_HEX = f"{TRACE_ID:032x}"


def _span() -> NonRecordingSpan:
    return NonRecordingSpan(
        SpanContext(TRACE_ID, SPAN_ID, is_remote=False, trace_flags=TraceFlags(1))
    )


class Traced:
    """What OpenTelemetry's ASGI middleware does around our app: a span is active inside."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        with trace.use_span(_span()):
            await self.app(scope, receive, send)


async def hello(request: Request) -> JSONResponse:
    get_logger("app").info("inside")
    outgoing = httpx.Request("GET", "http://downstream/x")
    stamp(outgoing)
    return JSONResponse(dict(outgoing.headers))


def _get(app: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            return await client.get("/hello", headers=headers)

    return asyncio.run(go())


@pytest.fixture
def logs() -> Iterator[Captured]:
    with capture_logs() as captured:
        yield captured


class TestTraceIdIsTheCorrelationId:
    def test_an_active_span_gives_the_request_its_trace_id(self, logs: Captured) -> None:
        """Request line, app lines, response header and outgoing call share the trace id."""
        app = Traced(instrument(Starlette(routes=[Route("/hello", hello)])))
        response = _get(app, {"X-Request-ID": "from-the-client"})
        assert response.headers["x-request-id"] == TRACE_HEX
        by_event = {e["event"]: e for e in logs.events}
        assert by_event["request_complete"]["cid"] == by_event["inside"]["cid"] == TRACE_HEX
        sent = response.json()
        assert sent["x-request-id"] == TRACE_HEX
        assert sent["traceparent"] == f"00-{TRACE_HEX}-{SPAN_ID:016x}-01"

    def test_a_span_kept_elsewhere_is_still_found(self, logs: Captured, monkeypatch: Any) -> None:
        """Where the API keeps its span somewhere we do not know, the middleware asks the
        public call for every request, and still takes the trace id."""
        from bellwatch.asgi import _correlation

        monkeypatch.setattr(_correlation, "SLOT", None)
        app = Traced(instrument(Starlette(routes=[Route("/hello", hello)])))
        assert _get(app, {}).headers["x-request-id"] == TRACE_HEX

    def test_without_a_span_the_usual_id_stands(self, logs: Captured) -> None:
        """No span: the inbound X-Request-ID is the id, and the call's traceparent carries it."""
        app = instrument(Starlette(routes=[Route("/hello", hello)]))
        response = _get(app, {"X-Request-ID": "0123456789ab"})
        assert response.headers["x-request-id"] == "0123456789ab"
        parent = response.json()["traceparent"]
        assert re.fullmatch(r"00-0{20}0123456789ab-[0-9a-f]{16}-01", parent)


class TestOutgoing:
    def test_a_traceparent_set_by_the_caller_is_kept(self) -> None:
        """An explicit header (the httpx OpenTelemetry instrumentation's) is left alone."""
        request = httpx.Request(
            "GET", "http://x/", headers={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-00"}
        )
        with request_scope("abc123abc123"):
            stamp(request)
        assert request.headers["traceparent"].startswith("00-1111")
        assert request.headers["x-request-id"] == "abc123abc123"

    def test_outside_a_request_nothing_is_added(self) -> None:
        """No correlation id and no span: no header."""
        request = httpx.Request("GET", "http://x/")
        stamp(request)
        assert "traceparent" not in request.headers
        assert traceparent(None) is None

    def test_the_active_span_is_the_parent(self) -> None:
        """Inside a span, the call's parent is that span."""
        with trace.use_span(_span()):
            assert current_span() == (TRACE_HEX, f"{SPAN_ID:016x}", "01")
            assert traceparent("ignored") == f"00-{TRACE_HEX}-{SPAN_ID:016x}-01"

    def test_the_quick_lookup_answers_as_the_public_call(self, monkeypatch: Any) -> None:
        """The direct read of the API's context variable finds the span the public call finds."""
        from bellwatch.asgi import _otel

        assert _otel.SLOT is not None  # the installed API keeps its span where we look
        with trace.use_span(_span()):
            quick = current_span()
            monkeypatch.setattr(_otel, "SLOT", None)
            assert current_span() == quick == (TRACE_HEX, f"{SPAN_ID:016x}", "01")

    def test_no_span_is_none_either_way(self, monkeypatch: Any) -> None:
        """Outside any span both lookups answer None."""
        from bellwatch.asgi import _otel

        assert current_span() is None
        monkeypatch.setattr(_otel, "SLOT", None)
        assert current_span() is None

    @given(st.text(min_size=1, max_size=80))
    def test_any_id_maps_to_a_valid_trace_id(self, cid: str) -> None:
        """32 lowercase hex, never all zeros; a 32-hex id is its own, shorter hex padded."""
        trace_id = trace_id_of(cid)
        assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
        assert trace_id != "0" * 32
        if re.fullmatch(r"[0-9a-f]{1,32}", cid) and set(cid) != {"0"}:
            assert trace_id.endswith(cid)


class TestOptional:
    def test_only_one_module_imports_opentelemetry(self) -> None:
        """The optional package is imported in asgi/_otel.py and nowhere else."""
        src = Path(__file__).resolve().parents[1] / "src" / "bellwatch"
        importing = {
            path.relative_to(src).as_posix()
            for path in src.rglob("*.py")
            if re.search(r"^\s*(from|import) opentelemetry", path.read_text(), re.M)
        }
        assert importing == {"asgi/_otel.py"}

    def test_requests_are_served_without_the_package(self) -> None:
        """With opentelemetry missing, ids come from headers and calls still carry traceparent."""
        code = (
            "import sys; sys.modules['opentelemetry'] = None\n"
            "import asyncio, httpx\n"
            "from starlette.applications import Starlette\n"
            "from starlette.responses import PlainTextResponse\n"
            "from starlette.routing import Route\n"
            "import bellwatch\n"
            "from bellwatch.asgi import _otel\n"
            "bellwatch.configure(stdout=False)\n"
            "async def ok(request): return PlainTextResponse('ok')\n"
            "app = bellwatch.instrument(Starlette(routes=[Route('/', ok)]))\n"
            "async def go():\n"
            "    t = httpx.ASGITransport(app=app)\n"
            "    async with httpx.AsyncClient(transport=t, base_url='http://t') as c:\n"
            "        return await c.get('/', headers={'X-Request-ID': 'abc'})\n"
            "r = asyncio.run(go())\n"
            "print(_otel.AVAILABLE, r.headers['x-request-id'])\n"
        )
        assert run_python(code).split() == ["False", "abc"]
