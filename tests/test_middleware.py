"""The pure-ASGI middleware: ids in and out, context propagation, one line per request."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse
from hypothesis import given, settings
from hypothesis import strategies as st

import bellwatch
from bellwatch import instrument, metrics
from bellwatch._runtime import runtime
from bellwatch.asgi.middleware import BellwatchMiddleware
from bellwatch.monitor import Monitor, cookie, form_field
from bellwatch.store.memory import MemoryStore
from bellwatch.testing import Captured, capture_logs


@pytest.fixture(autouse=True)
def _fresh_monitor() -> Iterator[None]:
    runtime.reset()
    runtime.reset()
    metrics.clear_ratios()
    runtime.checks.clear()
    yield
    runtime.reset()
    runtime.reset()


@pytest.fixture
def logs() -> Iterator[Captured]:
    with capture_logs() as captured:
        yield captured


class Boom(Exception):
    """An exception the test app's own handler turns into a 500."""


def make_app(**options: Any) -> FastAPI:
    app = FastAPI()
    log = bellwatch.get_logger("test")

    @app.get("/api/users/{user_id}")
    def user(user_id: int) -> dict[str, int]:
        bellwatch.bind(uid=str(user_id))
        log.info("in_sync_route")
        return {"id": user_id}

    @app.get("/async")
    async def async_route() -> dict[str, bool]:
        bellwatch.bind(sid="CA123")
        return {"ok": True}

    @app.get("/background")
    async def background(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add_task(lambda: log.info("in_background"))
        return {"ok": True}

    @app.get("/task")
    async def task() -> dict[str, bool]:
        async def child() -> None:
            log.info("in_task")

        await asyncio.create_task(child())
        return {"ok": True}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("kaboom")

    @app.get("/handled")
    async def handled() -> None:
        raise Boom("handled by the app")

    @app.exception_handler(Boom)
    async def on_boom(request: Request, exc: Boom) -> JSONResponse:
        log.error("handler_saw_it")
        return JSONResponse({"error": "boom"}, status_code=500)

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(0.06)
        return {"ok": True}

    @app.post("/twilio/voice")
    async def voice(request: Request) -> dict[str, bool]:
        form = await request.form()  # a Twilio handler reads the form it was posted
        return {"ok": "CallSid" in form}

    return instrument(app, **options)


def call(app: Any, path: str, method: str = "GET", raise_errors: bool = False, **kw: Any) -> Any:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=raise_errors)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.request(method, path, **kw)

    return asyncio.run(go())


def raw_call(app: Any, headers: list[tuple[bytes, bytes]], sent: list[Any]) -> None:
    """One GET /async straight through ASGI, with header bytes no HTTP client would send."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/async",
        "raw_path": b"/async",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            sent.append(message)

    asyncio.run(app(scope, receive, send))


def request_lines(logs: Captured) -> list[dict[str, Any]]:
    return [e for e in logs.events if e["event"] == "request_complete"]


def line_with(logs: Captured, event: str) -> dict[str, Any]:
    return next(e for e in logs.events if e["event"] == event)


class TestCorrelationId:
    def test_inbound_request_id_is_kept_and_echoed(self, logs: Captured) -> None:
        """A valid X-Request-ID is used for the line and returned in the response."""
        response = call(make_app(), "/async", headers={"x-request-id": "abc-123"})
        assert response.headers["x-request-id"] == "abc-123"
        assert request_lines(logs)[0]["cid"] == "abc-123"

    def test_generated_id_is_short_lowercase_hex(self, logs: Captured) -> None:
        """Without an inbound id a 12-hex id is generated."""
        response = call(make_app(), "/async")
        assert re.fullmatch(r"[0-9a-f]{12}", response.headers["x-request-id"])

    def test_alb_trace_root_is_used(self, logs: Captured) -> None:
        """The Root part of X-Amzn-Trace-Id becomes the id."""
        value = "Self=1-aaa;Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"
        call(make_app(), "/async", headers={"x-amzn-trace-id": value})
        assert request_lines(logs)[0]["cid"] == "1-5759e988-bd862e3fe1be46a994272793"

    def test_traceparent_trace_id_is_used(self, logs: Captured) -> None:
        """The trace-id of a W3C traceparent becomes the id."""
        value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        call(make_app(), "/async", headers={"traceparent": value})
        assert request_lines(logs)[0]["cid"] == "4bf92f3577b34da6a3ce929d0e0e4736"

    def test_header_order_is_configurable(self, logs: Captured) -> None:
        """The first header in ``cid_headers`` order wins over a later one."""
        app = make_app(cid_headers="x-correlation-id,x-request-id")
        headers = {"x-request-id": "second", "x-correlation-id": "first"}
        assert call(app, "/async", headers=headers).headers["x-request-id"] == "first"

    def test_invalid_id_is_replaced_with_one_warning(self, logs: Captured) -> None:
        """A bad inbound id is replaced; one warning names the header, never the value."""
        bad = "evil\xe9id <script>".encode("latin-1")
        response = call(make_app(), "/async", headers={"x-request-id": bad})
        fresh = response.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{12}", fresh)
        warnings = [e for e in logs.events if e["event"] == "cid_invalid"]
        assert len(warnings) == 1
        assert warnings[0]["cid"] == fresh
        assert "script" not in logs.lines[0]

    def test_overlong_id_is_replaced(self, logs: Captured) -> None:
        """An id longer than ``cid_max_length`` is replaced."""
        response = call(make_app(), "/async", headers={"x-request-id": "a" * 65})
        assert response.headers["x-request-id"] != "a" * 65

    @pytest.mark.parametrize("value", ["abc-123\n", "abc-123 ", "\tabc-123", " abc-123"])
    def test_ids_are_checked_exactly_as_received(self, logs: Captured, value: str) -> None:
        """Whitespace around an id is not trimmed away: the id is rejected, and never echoed."""
        sent: list[Any] = []
        raw_call(make_app(), [(b"x-request-id", value.encode())], sent)
        echoed = dict(sent[0]["headers"])[b"x-request-id"].decode()
        assert re.fullmatch(r"[0-9a-f]{12}", echoed)
        assert [e["check"] for e in logs.events if e["event"] == "cid_invalid"] == ["x-request-id"]
        assert "abc-123" not in "".join(logs.lines)

    def test_id_at_the_configured_length_is_kept(self, logs: Captured) -> None:
        """cid_max_length characters are kept; one more is replaced."""
        app = make_app(cid_max_length=16)
        assert (
            call(app, "/async", headers={"x-request-id": "a" * 16}).headers["x-request-id"]
            == "a" * 16
        )
        assert (
            call(app, "/async", headers={"x-request-id": "a" * 17}).headers["x-request-id"]
            != "a" * 17
        )

    @pytest.mark.parametrize(
        ("header", "value"),
        [
            ("x-amzn-trace-id", "Root=1-5759e988-bd862e3fe1be46a994272793\n"),
            ("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"),
            ("traceparent", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            ("traceparent", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
            ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"),
        ],
    )
    def test_invalid_trace_headers_are_replaced(
        self, logs: Captured, header: str, value: str
    ) -> None:
        """A trace header not in its format gives a fresh id, named but not echoed."""
        sent: list[Any] = []
        raw_call(make_app(), [(header.encode(), value.encode())], sent)
        echoed = dict(sent[0]["headers"])[b"x-request-id"].decode()
        assert re.fullmatch(r"[0-9a-f]{12}", echoed)
        assert [e["check"] for e in logs.events if e["event"] == "cid_invalid"] == [header]
        assert "4bf92f" not in "".join(logs.lines).lower()
        assert "5759e988" not in "".join(logs.lines)

    @given(st.text(max_size=80))
    @settings(max_examples=200)
    def test_an_id_is_kept_whole_or_replaced(self, value: str) -> None:
        """Whatever X-Request-ID holds, the id used is that exact value or a fresh one."""
        mw = BellwatchMiddleware(make_app())
        mw._adopt()
        raw = value.encode("utf-8")
        cid, rejected = mw._ids.inbound([(b"x-request-id", raw)])
        if rejected is None:
            assert cid.encode("latin-1") == raw
            assert re.fullmatch(r"[A-Za-z0-9._:=-]{1,64}", cid)
        else:
            assert rejected == b"x-request-id"
            assert re.fullmatch(r"[0-9a-f]{12}", cid)

    def test_context_is_reset_after_the_request(self, logs: Captured) -> None:
        """No correlation id or bound field leaks out of a request."""
        call(make_app(), "/async")
        assert bellwatch.get_cid() is None


class TestPropagation:
    def test_sync_route_bind_reaches_request_line(self, logs: Captured) -> None:
        """``bind(uid=...)`` inside a threadpool route appears on request_complete."""
        call(make_app(), "/api/users/42")
        assert request_lines(logs)[0]["uid"] == "42"

    def test_sync_route_lines_carry_the_id(self, logs: Captured) -> None:
        """A line logged in a threadpool route has the request's id."""
        response = call(make_app(), "/api/users/7")
        assert line_with(logs, "in_sync_route")["cid"] == response.headers["x-request-id"]

    def test_background_task_lines_carry_the_id(self, logs: Captured) -> None:
        """A BackgroundTasks function logs with the request's id."""
        response = call(make_app(), "/background")
        assert line_with(logs, "in_background")["cid"] == response.headers["x-request-id"]

    def test_asyncio_task_lines_carry_the_id(self, logs: Captured) -> None:
        """A task created during the request logs with its id."""
        response = call(make_app(), "/task")
        assert line_with(logs, "in_task")["cid"] == response.headers["x-request-id"]

    def test_exception_handler_500_carries_the_id(self, logs: Captured) -> None:
        """An app's exception handler runs inside the request: header, handler line, 500 line."""
        response = call(make_app(), "/handled")
        cid = response.headers["x-request-id"]
        assert response.status_code == 500
        assert line_with(logs, "handler_saw_it")["cid"] == cid
        assert request_lines(logs)[0]["cid"] == cid


class TestNothingPinned:
    """What a server keeps of a request's context after the answer holds none of the request."""

    @staticmethod
    def _contexts_seen_by_the_server(app: Any) -> dict[str, Any]:
        """Run one request; the server copies the context at each message, as uvicorn's
        keep-alive timer (``loop.call_later``) does at the final one."""
        import contextvars

        from bellwatch.log.context import current_scope, get_cid

        seen: dict[str, Any] = {}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            copied = contextvars.copy_context()
            seen[message["type"]] = (copied.run(current_scope), copied.run(get_cid))

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/async",
            "raw_path": b"/async",
            "root_path": "",
            "query_string": b"",
            "headers": [],
        }
        asyncio.run(app(scope, receive, send))
        return seen

    def test_the_final_send_sees_no_request(self) -> None:
        """At the answer's last message the context holds no scope and no id: a server's
        timer that keeps a copy for seconds keeps none of the request's objects alive."""
        seen = self._contexts_seen_by_the_server(make_app())
        assert seen["http.response.body"] == (None, None)

    def test_the_response_start_still_has_the_id(self) -> None:
        """Before the last message the request's id and scope are in force (server logs)."""
        scope, cid = self._contexts_seen_by_the_server(make_app())["http.response.start"]
        assert scope is not None and cid


class TestRequestLine:
    def test_one_line_with_route_template(self, logs: Captured) -> None:
        """Exactly one request_complete line, with the template, not the raw path."""
        call(make_app(), "/api/users/42")
        (line,) = request_lines(logs)
        assert line["path"] == "/api/users/{user_id}"
        assert line["method"] == "GET"
        assert line["status"] == 200
        assert line["level"] == "INFO"
        assert isinstance(line["duration"], float)

    def test_mounted_app_routes_keep_their_prefix(self, logs: Captured) -> None:
        """A route of a mounted sub-application is logged as prefix + template."""
        sub = FastAPI()

        @sub.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            return {"id": item_id}

        app = FastAPI()
        app.mount("/v1", sub)
        call(instrument(app), "/v1/items/3")
        assert request_lines(logs)[0]["path"] == "/v1/items/{item_id}"

    def test_core_keys_lead_the_line(self, logs: Captured) -> None:
        """The wire format starts with ts, level, event, cid."""
        call(make_app(), "/async")
        line = next(raw for raw in logs.lines if "request_complete" in raw)
        assert list(bellwatch.testing.orjson.loads(line))[:4] == ["ts", "level", "event", "cid"]

    def test_slow_request_is_a_warning_and_counted(self, logs: Captured) -> None:
        """A request over slow_threshold logs at WARNING and counts as slow."""
        call(make_app(slow_threshold=0.01), "/slow")
        assert request_lines(logs)[0]["level"] == "WARNING"
        assert runtime.monitor().snapshot().totals().slow == 1

    def test_server_error_is_an_error_line(self, logs: Captured) -> None:
        """A 5xx request line is at ERROR."""
        call(make_app(), "/crash")
        assert request_lines(logs)[0]["level"] == "ERROR"

    def test_unmatched_paths_share_one_bucket(self, logs: Captured) -> None:
        """Random 404 URLs land in one bucket, so a scan cannot grow memory."""
        app = make_app()
        for i in range(20):
            call(app, f"/scan/{i}")
        assert list(runtime.monitor().snapshot().endpoints) == ["<unmatched>"]

    def test_own_routes_are_quiet(self, logs: Captured) -> None:
        """Hits on /metrics and /health are neither logged nor counted."""
        app = make_app()
        call(app, "/metrics")
        call(app, "/health")
        assert request_lines(logs) == []
        assert runtime.monitor().snapshot().totals().count == 0

    def test_instrumenting_twice_logs_once(self, logs: Captured) -> None:
        """A second instrument() call on the same app is a no-op."""
        app = instrument(make_app())
        call(app, "/async")
        assert len(request_lines(logs)) == 1

    def test_levels_below_threshold_are_not_written(self) -> None:
        """With level=WARNING a normal request writes no line but is still counted."""
        with capture_logs(level="WARNING") as captured:
            call(make_app(), "/async")
        assert request_lines(captured) == []
        assert runtime.monitor().snapshot().totals().count == 1


class TestErrors:
    def test_unhandled_exception_is_answered_and_reraised(self, logs: Captured) -> None:
        """The client gets a 500 with the id; the server still sees the exception."""
        with pytest.raises(RuntimeError, match="kaboom"):
            call(make_app(), "/crash", raise_errors=True)
        response = call(make_app(), "/crash")
        assert response.status_code == 500
        assert response.headers["x-request-id"]

    def test_unhandled_exception_reaches_the_aggregator(self, logs: Captured) -> None:
        """The error aggregator counts it under the route template."""
        call(make_app(), "/crash")
        stats = runtime.aggregator().stats()
        assert stats["total_error_count"] == 1
        assert stats["top_errors"][0]["endpoint"] == "/crash"

    def test_error_line_carries_the_request_id(self, logs: Captured) -> None:
        """The aggregator's error line has the same id as the response."""
        response = call(make_app(), "/crash")
        assert line_with(logs, "error")["cid"] == response.headers["x-request-id"]

    def test_bare_asgi_app_without_response_gets_500(self, logs: Captured) -> None:
        """Used alone around a raw ASGI app, the middleware itself answers 500."""

        async def raw(scope: Any, receive: Any, send: Any) -> None:
            raise ValueError("nothing sent")

        response = call(BellwatchMiddleware(raw), "/x")
        assert response.status_code == 500
        assert response.headers["x-request-id"]

    @pytest.mark.internal_errors
    def test_own_failure_never_breaks_the_request(self, logs: Captured) -> None:
        """A failing store is counted as an internal error; the app's answer stands."""

        class BrokenStore(MemoryStore):
            def record(self, *args: Any) -> None:
                raise OSError("disk on fire")

            def record_many(self, *args: Any) -> None:
                raise OSError("disk on fire")

        app = make_app(monitor=Monitor(BrokenStore()))
        assert call(app, "/async").status_code == 200
        assert bellwatch.stats()["internal_errors"] == 1

    def test_an_error_after_the_answer_names_its_route_redacted(self, logs: Captured) -> None:
        """A raw URL from route_of is masked for an error after the answer, as for the line."""

        async def raw(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"ok"})
            raise RuntimeError("cleanup failed")  # after the answer, like a background task

        app = BellwatchMiddleware(raw, route_of=lambda scope: scope["path"])
        call(app, "/reset/token=abc123")
        (pattern,) = runtime.aggregator().stats()["top_errors"]
        assert pattern["endpoint"] == request_lines(logs)[0]["path"] == "/reset/token=***"


class TestPlainAsgi:
    def test_non_http_scopes_pass_straight_through(self) -> None:
        """A lifespan scope reaches the app untouched."""
        seen: list[str] = []

        async def raw(scope: Any, receive: Any, send: Any) -> None:
            seen.append(scope["type"])

        asyncio.run(BellwatchMiddleware(raw)({"type": "lifespan"}, None, None))  # type: ignore[arg-type]
        assert seen == ["lifespan"]

    def test_route_of_names_routes_for_other_frameworks(self, logs: Captured) -> None:
        """``route_of`` supplies the template for apps without scope["route"]."""

        async def raw(scope: Any, receive: Any, send: Any) -> None:
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        app = BellwatchMiddleware(raw, route_of=lambda scope: "/items/{id}")
        call(app, "/items/9")
        assert request_lines(logs)[0]["path"] == "/items/{id}"


class TestSessions:
    def test_twilio_call_sid_counts_as_session(self, logs: Captured) -> None:
        """form_field() reads CallSid from the webhook body and puts it on the line."""
        app = make_app(session_key=form_field())
        for sid in ("CA1", "CA2", "CA1"):
            call(app, "/twilio/voice", method="POST", data={"CallSid": sid, "From": "+1555"})
        assert runtime.monitor().snapshot().active_sessions == 2
        assert request_lines(logs)[0]["sid"] == "CA1"

    def test_call_sid_is_the_sid_when_the_app_binds_fields(self, logs: Captured) -> None:
        """A webhook that binds uid still logs its CallSid as sid, and its uid."""
        app = FastAPI()

        @app.post("/twilio/sms")
        async def sms(request: Request) -> dict[str, bool]:
            await request.form()
            bellwatch.bind(uid="u7")
            return {"ok": True}

        instrument(app, session_key=form_field())
        call(app, "/twilio/sms", method="POST", data={"CallSid": "CA42"})
        line = request_lines(logs)[0]
        assert (line["sid"], line["uid"]) == ("CA42", "u7")

    def test_bound_session_is_the_default(self, logs: Captured) -> None:
        """A route that binds ``sid`` makes an active session."""
        call(make_app(), "/async")
        assert runtime.monitor().snapshot().active_sessions == 1

    def test_cookie_sessions_are_hashed(self, logs: Captured) -> None:
        """cookie() counts sessions without keeping or logging the cookie value."""
        app = make_app(session_key=cookie("session"))
        call(app, "/background", headers={"cookie": "a=1; session=s3cr3t"})
        assert runtime.monitor().snapshot().active_sessions == 1
        assert "s3cr3t" not in "".join(logs.lines)


class TestFastPath:
    def test_user_processors_take_the_full_pipeline(self) -> None:
        """A configured extra processor runs on the request line."""

        def tag(_logger: object, _method: str, event: dict[str, Any]) -> dict[str, Any]:
            event["tagged"] = True
            return event

        with capture_logs(processors=[tag]) as captured:
            call(make_app(), "/async")
        assert request_lines(captured)[0]["tagged"] is True


class TestStdlibQuiet:
    def test_no_stdlib_logging_on_the_request_path(self, logs: Captured) -> None:
        """The request line goes through Pipeline.emit, not a stdlib handler."""
        records: list[logging.LogRecord] = []

        class Spy(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                records.append(record)

        spy = Spy()
        logging.getLogger().addHandler(spy)
        try:
            call(make_app(), "/async")
        finally:
            logging.getLogger().removeHandler(spy)
        assert not [r for r in records if "request_complete" in r.getMessage()]


class TestHostileInput:
    """Found in review: each of these once corrupted a line or the next response."""

    def test_a_reused_start_message_is_not_mutated(self, logs: Captured) -> None:
        """An app sending one module-level start dict gets exactly one id per response."""
        start = {"type": "http.response.start", "status": 200, "headers": []}

        async def raw(scope: Any, receive: Any, send: Any) -> None:
            await send(start)
            await send({"type": "http.response.body", "body": b"ok"})

        app = BellwatchMiddleware(raw)
        responses = [call(app, "/") for _ in range(3)]
        assert [len(r.headers.get_list("x-request-id")) for r in responses] == [1, 1, 1]
        assert start["headers"] == []

    def test_bound_fields_never_overwrite_the_request_facts(self, logs: Captured) -> None:
        """bind(status=..., event=...) in a route leaves status and event of the line alone."""
        app = FastAPI()

        @app.get("/pending")
        def pending() -> JSONResponse:
            bellwatch.bind(status="pending", event="renamed", order="o1")
            return JSONResponse({}, status_code=503)

        instrument(app)
        call(app, "/pending")
        line = request_lines(logs)[0]
        assert (line["status"], line["order"]) == (503, "o1")

    def test_a_form_with_many_fields_is_still_logged(self, logs: Captured) -> None:
        """A webhook body with hundreds of fields is counted and logged like any other."""
        app = make_app(session_key=form_field())
        data = {f"f{i}": "x" for i in range(250)} | {"CallSid": "CA9"}
        call(app, "/twilio/voice", method="POST", data=data)
        assert request_lines(logs)[0]["sid"] == "CA9"

    def test_mount_path_parameters_are_templated(self, logs: Captured) -> None:
        """Mount("/reset/{token}") logs the template, never the token itself."""
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Mount, Route

        async def confirm(request: Any) -> PlainTextResponse:
            return PlainTextResponse("ok")

        inner = Starlette(routes=[Route("/confirm", confirm)])
        app = BellwatchMiddleware(Starlette(routes=[Mount("/reset/{token}", app=inner)]))
        call(app, "/reset/SECRETTOKEN1/confirm")
        line = request_lines(logs)[0]
        assert line["path"] == "/reset/{token}/confirm"
        assert "SECRETTOKEN1" not in "".join(logs.lines)


class TestBrokenAnswers:
    """Answers that end early: a body that raises half-way, a client that goes away."""

    def test_a_body_that_raises_after_its_start_is_a_server_error(self, logs: Captured) -> None:
        """A streamed body raising after the 200 went out is logged and counted as a 500."""
        from starlette.responses import StreamingResponse

        app = FastAPI()

        @app.get("/export")
        async def export() -> StreamingResponse:
            async def rows() -> Any:
                yield "id,total\n"
                raise RuntimeError("database went away")

            return StreamingResponse(rows())

        with pytest.raises(RuntimeError):
            call(instrument(app), "/export", raise_errors=True)
        (line,) = request_lines(logs)
        assert (line["status"], line["level"]) == (500, "ERROR")
        assert runtime.monitor().snapshot().totals().errors == 1

    def test_a_client_gone_mid_upload_is_no_server_error(self, logs: Captured) -> None:
        """Starlette's ClientDisconnect is a 499: no error pattern, no 5xx; raised on (the
        app's exception), marked so that the server's own report of it is dropped."""
        import logging

        from starlette.applications import Starlette
        from starlette.requests import ClientDisconnect
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        from bellwatch.log.stdlib import ReportedElsewhere

        async def upload(request: Any) -> PlainTextResponse:
            return PlainTextResponse(str(len(await request.body())))

        app = instrument(Starlette(routes=[Route("/upload", upload, methods=["POST"])]))
        messages = iter([{"type": "http.request", "body": b"x" * 10, "more_body": True},
                         {"type": "http.disconnect"}])  # fmt: skip
        sent: list[Any] = []

        async def receive() -> Any:
            return next(messages)

        async def send(message: Any) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "POST", "path": "/upload", "root_path": "",
                 "query_string": b"", "headers": [], "scheme": "http"}  # fmt: skip
        with pytest.raises(ClientDisconnect) as raised:
            asyncio.run(app(scope, receive, send))
        (line,) = request_lines(logs)
        assert (line["status"], line["path"]) == (499, "/upload")
        server_report = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "Exception in ASGI application", (),
            (ClientDisconnect, raised.value, raised.value.__traceback__),
        )  # fmt: skip
        assert not ReportedElsewhere().filter(server_report)
        assert runtime.aggregator().stats()["total_error_count"] == 0
        assert runtime.monitor().snapshot().totals().errors == 0


class TestTheIdAnsweredIsTheIdLogged:
    """The id a client reads in X-Request-ID finds every line of its request."""

    @pytest.mark.parametrize(
        "inbound", ["token=abc123", "api_key:s3cr3t", "3028895036909000234"],
        ids=["key=value", "key:value", "card-like number"],
    )  # fmt: skip
    def test_an_id_the_logs_would_mask_is_replaced(self, logs: Captured, inbound: str) -> None:
        """An inbound id the redactor would change gets a fresh id, answered and logged."""
        response = call(make_app(), "/api/users/7", headers={"x-request-id": inbound})
        answered = response.headers["x-request-id"]
        assert answered != inbound
        assert {e["cid"] for e in logs.events if "cid" in e} == {answered}
        assert line_with(logs, "cid_invalid")["check"] == "x-request-id"

    @pytest.mark.parametrize(
        "inbound", ["0f8fad5b-d9cb-469f-a165-70867728950e", "req-42", "3f9a1c7e2b4d"]
    )
    def test_an_ordinary_id_is_kept(self, logs: Captured, inbound: str) -> None:
        """UUIDs and short ids pass through, answered and logged as sent."""
        response = call(make_app(), "/api/users/7", headers={"x-request-id": inbound})
        assert response.headers["x-request-id"] == inbound
        assert {e["cid"] for e in logs.events if "cid" in e} == {inbound}

    def test_the_apps_own_id_header_is_replaced(self, logs: Captured) -> None:
        """An app that sets X-Request-ID itself answers one id: the one logged."""

        async def raw(scope: Any, receive: Any, send: Any) -> None:
            headers = [(b"x-request-id", b"app-made-id"), (b"X-Request-ID", b"again")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b"ok"})

        app = BellwatchMiddleware(raw)
        response = call(app, "/", headers={"x-request-id": "client-id"})
        assert response.headers.get_list("x-request-id") == ["client-id"]
        assert request_lines(logs)[0]["cid"] == "client-id"
