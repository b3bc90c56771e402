"""MCP replies within a token budget: rows cut, counted, and paged on."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch.mcp import reply
from bellwatch.mcp.reply import Column, Scan

COLUMNS = (Column("n", "n"), Column("msg", "msg"))


def rows(count: int, width: int = 40) -> list[dict[str, Any]]:
    return [{"n": i, "msg": f"message {i} " + "x" * width} for i in range(count)]


class TestTable:
    @settings(max_examples=25)
    @given(st.integers(0, 300), st.integers(200, 3000), st.integers(0, 400))
    def test_never_over_budget(self, count: int, budget: int, width: int) -> None:
        """Whatever the rows, both forms of the reply fit the budget."""
        answer = reply.table("t", COLUMNS, rows(count, width), budget=budget, scan=Scan())
        text, data = answer.tokens()
        assert text <= budget and data <= budget

    def test_complete_reply_has_no_cursor(self) -> None:
        """Everything shown: not truncated, nothing omitted, no cursor."""
        answer = reply.table("t", COLUMNS, rows(3), budget=2000, scan=Scan())
        assert answer.data["truncated"] is False and answer.data["next_cursor"] is None
        assert "complete" in answer.text.splitlines()[0]

    def test_limit_cuts_and_counts(self) -> None:
        """A limit shows that many rows and counts the rest as omitted, with the cursor."""
        answer = reply.table("t", COLUMNS, rows(10), budget=2000, scan=Scan(), offset=20, limit=4)
        assert answer.data["shown"] == 4 and answer.data["omitted"] == 6
        assert answer.data["next_cursor"] == "24"
        assert "truncated, 6 omitted, next_cursor=24" in answer.text

    def test_more_beyond_is_said(self) -> None:
        """When the report holds rows past those fetched, the count says so with a +."""
        answer = reply.table("t", COLUMNS, rows(2), budget=2000, scan=Scan(), more=True)
        assert answer.data["more"] is True and answer.data["next_cursor"] == "2"
        assert "0+ omitted" in answer.text

    def test_budget_cuts_rows(self) -> None:
        """Rows that do not fit the budget are left out, counted, and paged on."""
        answer = reply.table("t", COLUMNS, rows(500), budget=300, scan=Scan())
        shown = answer.data["shown"]
        assert 0 < shown < 500 and answer.data["omitted"] == 500 - shown
        assert answer.data["next_cursor"] == str(shown)

    def test_scan_is_said(self) -> None:
        """Bytes scanned, and CloudWatch's Insights bytes apart, are in both forms."""
        scan = Scan(records=10, bytes_scanned=2048, insights_bytes_scanned=4096)
        answer = reply.table("t", COLUMNS, rows(1), budget=2000, scan=scan)
        assert answer.data["bytes_scanned"] == 2048
        assert answer.data["insights_bytes_scanned"] == 4096
        assert "scanned 2.0 KB" in answer.text and "Insights bytesScanned 4.0 KB" in answer.text


class TestDocument:
    def test_parts_left_out_from_the_last(self) -> None:
        """A document over budget drops its last parts first and names them."""
        parts = [(f"p{i}", {"x": "y" * 400}, ["z" * 400]) for i in range(6)]
        answer = reply.document("doc", parts, budget=400, scan=Scan())
        assert answer.data["truncated"] is True and "p0" in answer.data
        assert answer.data["omitted"][-1] == "p5"
        text, data = answer.tokens()
        assert text <= 400 and data <= 400


class TestError:
    def test_one_line(self) -> None:
        """An error is one escaped line in both forms."""
        answer = reply.error("bad\nthing")
        assert answer.is_error and answer.text == "error: bad\\nthing"
