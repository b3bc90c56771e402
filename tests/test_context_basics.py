"""Correlation ids: generation, validation, scoping."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bellwatch import context


class TestIds:
    def test_new_id_is_twelve_lowercase_hex(self) -> None:
        """The default id is 12 lowercase hex characters (48 bits)."""
        assert re.fullmatch(r"[0-9a-f]{12}", context.new_id())

    def test_new_ids_differ(self) -> None:
        """Ten thousand fresh ids are all distinct."""
        assert len({context.new_id() for _ in range(10_000)}) == 10_000

    @given(st.text())
    def test_valid_ids_are_safe_to_echo(self, value: str) -> None:
        """Anything accepted is short and made of safe characters only."""
        if context.valid_id(value):
            assert len(value) <= 64
            assert re.fullmatch(r"[A-Za-z0-9._:=-]+", value)

    def test_rejects_header_injection(self) -> None:
        """CR/LF and spaces are refused."""
        assert not context.valid_id("abc\r\nSet-Cookie: x=1")


class TestScopes:
    def test_request_scope_resets(self) -> None:
        """The cid and fields are restored after the scope."""
        context.bind(a=1)
        with context.request_scope("c1"):
            assert context.get_cid() == "c1"
            assert dict(context.get_fields()) == {}
        assert context.get_cid() is None
        assert dict(context.get_fields()) == {"a": 1}

    def test_unbind_removes_keys(self) -> None:
        """unbind() drops only the named keys."""
        context.bind(a=1, b=2)
        context.unbind("a")
        assert dict(context.get_fields()) == {"b": 2}
