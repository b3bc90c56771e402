"""``instrument(app)``: the middleware outermost and its own routes where requests reach them."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route, Router
from starlette.staticfiles import StaticFiles

from bellwatch import instrument
from bellwatch._runtime import runtime
from bellwatch._settings import ConfigWarning


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


def get(app: Any, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await client.get(path)

    return asyncio.run(go())


def is_metrics(response: httpx.Response) -> bool:
    return response.status_code == 200 and "performance" in orjson.loads(response.content)


def is_health(response: httpx.Response) -> bool:
    return response.status_code == 200 and "verdict" in orjson.loads(response.content)


async def spa(request: Any) -> PlainTextResponse:
    return PlainTextResponse("index.html")


class TestOwnRoutes:
    @pytest.mark.parametrize("early", [True, False], ids=["instrument first", "instrument last"])
    def test_a_catch_all_route_does_not_hide_them(self, early: bool) -> None:
        """/metrics and /health answer even where the app ends in a ``{path:path}`` route."""
        app = FastAPI()
        if early:
            instrument(app)

        @app.get("/{full:path}")
        async def fallback(full: str) -> PlainTextResponse:
            return PlainTextResponse("index.html")

        if not early:
            instrument(app)
        assert is_metrics(get(app, "/metrics"))
        assert is_health(get(app, "/health"))
        assert get(app, "/about").text == "index.html"

    def test_a_root_mount_does_not_hide_them(self, tmp_path: Any) -> None:
        """A single-page app served by StaticFiles mounted at "/" leaves /metrics reachable."""
        (tmp_path / "index.html").write_text("spa")
        app = Starlette(routes=[Mount("/", StaticFiles(directory=tmp_path, html=True))])
        instrument(app)
        assert is_metrics(get(app, "/metrics"))
        assert get(app, "/").text == "spa"

    @pytest.mark.parametrize("early", [True, False], ids=["instrument first", "instrument last"])
    def test_the_apps_own_health_route_wins(self, early: bool) -> None:
        """An app that defines /health itself keeps it, whenever instrument() is called."""
        app = FastAPI()
        if early:
            instrument(app)

        @app.get("/health")
        async def health() -> dict[str, bool]:
            return {"mine": True}

        if not early:
            instrument(app)
        assert orjson.loads(get(app, "/health").content) == {"mine": True}
        assert is_metrics(get(app, "/metrics"))

    def test_they_are_added_once_however_often_the_stack_is_built(self) -> None:
        """Rebuilding the middleware stack (a middleware added later) adds no second copy."""
        app = instrument(Starlette(routes=[Route("/{name}", spa)]))
        get(app, "/metrics")
        app.middleware_stack = None
        assert is_metrics(get(app, "/metrics"))
        paths = [getattr(route, "path", None) for route in app.router.routes]
        assert paths.count("/metrics") == 1


class TestNotStarlette:
    @pytest.mark.parametrize("app", [spa, Router()], ids=["ASGI function", "bare Router"])
    def test_another_asgi_app_is_a_clear_type_error(self, app: Any) -> None:
        """instrument() on a raw ASGI callable says to use BellwatchMiddleware instead."""
        with pytest.raises(TypeError, match=r"BellwatchMiddleware\(app\)"):
            instrument(app)


class TestInstrumentedTwice:
    """An instrumented app mounted in another instrumented app (each module calls instrument)."""

    @staticmethod
    def nested() -> FastAPI:
        inner = FastAPI()

        @inner.get("/items/{item_id}")
        async def item(item_id: int) -> dict[str, int]:
            return {"id": item_id}

        outer = instrument(FastAPI())
        outer.mount("/v2", instrument(inner))
        return outer

    def test_a_request_is_one_line_and_one_count(self) -> None:
        """One line, under the outer route with its prefix, with the id the client got."""
        from bellwatch.testing import capture_logs

        with capture_logs() as logs:
            answer = get(self.nested(), "/v2/items/3")
            (line,) = [e for e in logs.events if e["event"] == "request_complete"]
        assert (line["path"], line["cid"]) == (
            "/v2/items/{item_id}",
            answer.headers["x-request-id"],
        )
        assert runtime.monitor().snapshot().totals().count == 1

    def test_the_inner_apps_own_routes_stay_quiet(self) -> None:
        """/v2/metrics of the mounted app is neither logged nor counted by the outer one."""
        from bellwatch.testing import capture_logs

        with capture_logs() as logs:
            assert is_metrics(get(self.nested(), "/v2/metrics"))
            assert [e for e in logs.events if e["event"] == "request_complete"] == []
        assert runtime.monitor().snapshot().totals().count == 0


class TestCalledTwiceOnOneApp:
    def test_the_same_call_again_is_silent(self) -> None:
        """instrument(app) twice with the same options changes nothing and says nothing."""
        app = FastAPI()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert instrument(instrument(app, slow_threshold=0.5), slow_threshold=0.5) is app

    def test_other_options_are_named_in_a_warning(self) -> None:
        """A second call with other options is ignored, and a ConfigWarning says which stand."""
        app = instrument(FastAPI(), slow_threshold=0.5)
        with pytest.warns(ConfigWarning, match=r"slow_threshold: 0\.5, now 2\.0"):
            instrument(app, slow_threshold=2.0)
