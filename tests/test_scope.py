"""What the middleware reads from an ASGI scope: inbound ids, route templates, form posts."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bellwatch.asgi._scope import EXTRACT, is_form, route_template

amzn = EXTRACT[b"x-amzn-trace-id"]
traceparent = EXTRACT[b"traceparent"]


class TestInboundIds:
    def test_alb_root_is_taken_from_any_position(self) -> None:
        """The ALB puts Self= first on a second hop; Root= is found either way."""
        value = "Self=1-67891234-12456789abcdef012345678;Root=1-67891233-abcdef012345678912345678"
        assert amzn(value) == "1-67891233-abcdef012345678912345678"

    def test_traceparent_gives_its_trace_id(self) -> None:
        """The W3C example header yields its 32-hex trace id."""
        value = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        assert traceparent(value) == "0af7651916cd43dd8448eb211c80319c"

    @given(st.text())
    def test_extractors_never_raise_and_only_cut(self, value: str) -> None:
        """Any header text gives a piece of itself (or nothing), never an exception."""
        for extract in (amzn, traceparent):
            assert extract(value) in value


class TestScope:
    def test_no_route_is_unmatched(self) -> None:
        """A scope the router never matched counts under one bucket."""
        assert route_template({"type": "http"}, "") == "<unmatched>"

    def test_form_post_is_recognised_by_content_type(self) -> None:
        """Only a urlencoded POST keeps its body for a session extractor."""
        form = [(b"content-type", b"application/x-www-form-urlencoded; charset=utf-8")]
        assert is_form({"method": "POST", "headers": form})
        assert not is_form({"method": "GET", "headers": form})
