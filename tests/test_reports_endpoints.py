"""The endpoints report over local files: one row per route and method."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from bellwatch.reports import endpoints
from bellwatch.sources.files import FileSource


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def _request(i: int, path: str, status: int, method: str | None = "POST") -> dict[str, Any]:
    line: dict[str, Any] = {"ts": 1_796_600_000_000 + i, "event": "request_complete",
                            "cid": f"{i:012x}", "path": path, "status": status,
                            "duration": 0.1 * (i + 1)}  # fmt: skip
    if method is not None:
        line["method"] = method
    return line


class TestMethodsCut:
    def test_a_request_whose_method_was_cut_counts_under_its_routes_method(
        self, tmp_path: Path
    ) -> None:
        """A 5xx line that lost its method to the budget joins POST /twilio/voice's row."""
        lines = [_request(i, "/twilio/voice", 200) for i in range(3)]
        lines.append(_request(3, "/twilio/voice", 500, method=None))
        source = FileSource([str(_write(tmp_path / "app.jsonl", lines))])
        rows = endpoints(source, None, None).rows
        assert [(r["method"], r["path"], r["count"]) for r in rows] == [
            ("POST", "/twilio/voice", 4)
        ]
        assert rows[0]["error_rate"] == 0.25
        assert rows[0]["max"] == 0.4

    def test_a_route_with_several_methods_keeps_the_unknown_apart(self, tmp_path: Path) -> None:
        """With GET and POST on one route, a line without its method cannot be placed."""
        lines = [_request(0, "/api/x", 200, "GET"), _request(1, "/api/x", 200, "POST"),
                 _request(2, "/api/x", 500, None)]  # fmt: skip
        source = FileSource([str(_write(tmp_path / "app.jsonl", lines))])
        rows = endpoints(source, None, None).rows
        assert sorted((r["method"] or "?", r["count"]) for r in rows) == [
            ("?", 1), ("GET", 1), ("POST", 1),
        ]  # fmt: skip
