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
