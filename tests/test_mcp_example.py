"""The README's worked example: an assistant finds the demo's locked database in 3 calls."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import mcp_example  # noqa: E402 - the scripts dir is not a package

_MASKS = (
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "T"),
    (re.compile(r"\b\d\d:\d\d:\d\d\b"), "t"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{8,}\b"), "H"),
    (re.compile(r"\d[\d,.]*"), "N"),
)


def skeleton(block: str) -> list[str]:
    """The calls, in order, and the first line of each reply, with ids, times and
    numbers masked: what stays the same from one demo run to the next."""
    out = []
    lines = block.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("**") or (i and lines[i - 1] == "```text"):
            masked = line
            for pattern, mask in _MASKS:
                masked = pattern.sub(mask, masked)
            out.append(masked)
    return out


@pytest.fixture(scope="module")
def calls(demo_logs: Path, tmp_path_factory: pytest.TempPathFactory) -> list[mcp_example.Call]:
    return mcp_example.transcript(demo_logs, tmp_path_factory.mktemp("cache"))


class TestWorkedExample:
    def test_finds_the_locked_database_within_three_calls(
        self, calls: list[mcp_example.Call]
    ) -> None:
        """The digest names the locked database; error_detail and trace follow it to the
        request that got a 500, in three calls."""
        assert [c.tool for c in calls] == ["digest", "error_detail", "trace"]
        assert '[critical] OperationalError: "database is locked"' in calls[0].text
        assert calls[1].structured["summary"]["msg"] == "database is locked"
        rows = calls[2].structured["rows"]
        assert any(r[2] == "request_complete" and r[4]["status"] == 500 for r in rows)

    def test_readme_shows_what_the_calls_give(self, calls: list[mcp_example.Call]) -> None:
        """The README's example has the same calls and replies as a fresh run gives (ids,
        times and counts aside): run scripts/mcp_example.py when it does not."""
        found = mcp_example.BLOCK.search((ROOT / "README.md").read_text())
        assert found is not None
        readme = found.group(0)
        assert skeleton(readme) == skeleton(mcp_example.markdown(calls))
        assert readme.count("```text") == 3


class TestPicksThePattern:
    def test_a_critical_pattern_with_users_is_picked(self) -> None:
        """The most frequent critical pattern is followed even when it names its users."""
        digest = (
            '- 9x [low] ValidationError: "Invalid phone" (hash 53949e8d, e.g. cid 1d2f661a34ba)\n'
            '- 5x [critical] OperationalError: "database is locked" (hash 4544f029, 2 users, '
            "e.g. cid 37bdaebef9f3, on /api/assistant/book)\n"
            '- 2x [critical] OperationalError: "database is locked" (hash 6bd0de12, '
            "e.g. cid 65affa50ffe1, on /api/users)\n"
        )
        found = mcp_example.CRITICAL.search(digest)
        assert found is not None and found.groups() == ("4544f029", "37bdaebef9f3")
