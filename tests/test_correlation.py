"""Which correlation id a request gets: trace headers' formats, the inbound id rules."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.asgi._correlation import EXTRACT

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

    @pytest.mark.parametrize(
        "value",
        [
            "Root=1-67891233-abcdef012345678912345678\n",  # a trailing newline
            "Root=1-67891233-abcdef012345678912345678 ",  # a trailing space
            "Root=\t1-67891233-abcdef012345678912345678",  # a tab inside
            " Root=1-67891233-abcdef012345678912345678",  # a space before the key
            "Root=1-6789123-abcdef012345678912345678",  # 7 hex for the time
            "Root=1-67891233-abcdef01234567891234567",  # 23 hex for the id
            "Root=2-67891233-abcdef012345678912345678",  # version 2 does not exist
            "Root=1-6789123g-abcdef012345678912345678",  # not hex
            "Root=1-67891233-abcdef012345678912345678-x",
            "Self=1-67891233-abcdef012345678912345678",  # no Root at all
            "root=1-67891233-abcdef012345678912345678",
        ],
    )
    def test_alb_root_must_be_exactly_its_format(self, value: str) -> None:
        """A Root that is not 1-<8 hex>-<24 hex>, exactly as received, gives no id."""
        assert amzn(value) == ""

    def test_alb_root_may_be_uppercase_hex(self) -> None:
        """X-Ray ids are hex; the case does not make them unsafe to echo."""
        assert (
            amzn("Root=1-6789ABCD-ABCDEF012345678912345678")
            == "1-6789ABCD-ABCDEF012345678912345678"
        )

    @pytest.mark.parametrize(
        "value",
        [
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\n",  # trailing newline
            " 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # leading space
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\t",  # trailing tab
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",  # uppercase hex
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # version ff
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",  # zero trace id
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",  # zero parent id
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",  # 00 ends at flags
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",  # no flags
            "00-0af7651916cd43dd8448eb211c8031-b7ad6b7169203331-01",  # short trace id
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01",  # short parent id
            "0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",  # one-digit version
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
            "",
        ],
    )
    def test_traceparent_must_be_valid_trace_context(self, value: str) -> None:
        """Anything W3C Trace Context calls invalid gives no id."""
        assert traceparent(value) == ""

    def test_a_later_version_may_carry_more_fields(self) -> None:
        """Versions after 00 may add fields after the flags, separated by a dash."""
        value = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-future"
        assert traceparent(value) == "0af7651916cd43dd8448eb211c80319c"

    @given(st.text())
    def test_extractors_never_raise_and_only_cut(self, value: str) -> None:
        """Any header text gives a piece of itself (or nothing), never an exception."""
        for extract in (amzn, traceparent):
            assert extract(value) in value
