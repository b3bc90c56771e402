"""What the middleware reads from an ASGI scope: route templates, form posts."""

from __future__ import annotations

from bellwatch.asgi._scope import is_form, route_template


class TestScope:
    def test_no_route_is_unmatched(self) -> None:
        """A scope the router never matched counts under one bucket."""
        assert route_template({"type": "http"}, "") == "<unmatched>"

    def test_a_known_route_answers_the_same_under_a_mount(self) -> None:
        """The per-route memo serves plain scopes only: a mounted scope keeps its prefix."""
        from starlette.routing import Route

        route = Route("/items/{id}", lambda request: None)
        plain = {"type": "http", "route": route, "root_path": ""}
        mounted = {"type": "http", "route": route, "root_path": "/api"}
        assert route_template(plain, "") == "/items/{id}"
        assert route_template(plain, "") == "/items/{id}"  # from the memo
        assert route_template(mounted, "") == "/api/items/{id}"
        assert route_template(plain, "") == "/items/{id}"

    def test_form_post_is_recognised_by_content_type(self) -> None:
        """Only a urlencoded POST keeps its body for a session extractor."""
        form = [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-8")]
        assert is_form({"method": "POST", "headers": form})
        assert not is_form({"method": "GET", "headers": form})


def _served_path(app: object, path: str) -> str:
    """The route template the middleware logged for one GET of ``path`` through ``app``."""
    import asyncio

    import httpx

    from bellwatch import instrument
    from bellwatch.testing import capture_logs

    async def go() -> None:
        transport = httpx.ASGITransport(app=instrument(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await client.get(path)

    with capture_logs() as captured:
        asyncio.run(go())
    (line,) = [e for e in captured.events if e["event"] == "request_complete"]
    return str(line["path"])


class TestRoutesFastAPIDoesNotName:
    """FastAPI's router sets ``scope["route"]`` for its APIRoutes only."""

    def test_a_static_files_mount_is_its_prefix(self, tmp_path: object) -> None:
        """app.mount("/static", StaticFiles(...)) logs /static/{path}, not <unmatched>."""
        from pathlib import Path

        from fastapi import FastAPI
        from fastapi.staticfiles import StaticFiles

        Path(str(tmp_path), "app.css").write_text("body {}")
        app = FastAPI()
        app.mount("/static", StaticFiles(directory=str(tmp_path)))
        assert _served_path(app, "/static/app.css") == "/static/{path}"

    def test_a_mount_keeps_its_parameters_templated(self, tmp_path: object) -> None:
        """A mount at /t/{tenant} logs the parameter's name, never the tenant."""
        from fastapi import FastAPI
        from fastapi.staticfiles import StaticFiles

        app = FastAPI()
        app.mount("/t/{tenant}", StaticFiles(directory=str(tmp_path)))
        assert _served_path(app, "/t/acme/logo.png") == "/t/{tenant}/{path}"

    def test_a_plain_starlette_route_is_its_template(self) -> None:
        """app.add_route("/hooks/{name}", handler) logs its template."""
        from fastapi import FastAPI
        from starlette.responses import PlainTextResponse

        async def hook(request: object) -> PlainTextResponse:
            return PlainTextResponse("ok")

        app = FastAPI()
        app.add_route("/hooks/{name}", hook)
        assert _served_path(app, "/hooks/stripe") == "/hooks/{name}"

    def test_one_handler_on_two_paths_is_told_apart(self) -> None:
        """A handler added at two paths logs the path the request took."""
        from fastapi import FastAPI
        from starlette.responses import PlainTextResponse

        async def hook(request: object) -> PlainTextResponse:
            return PlainTextResponse("ok")

        app = FastAPI()
        app.add_route("/a/{x}", hook)
        app.add_route("/b/{x}", hook)
        assert (_served_path(app, "/a/1"), _served_path(app, "/b/2")) == ("/a/{x}", "/b/{x}")
