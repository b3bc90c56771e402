"""The README matches the code: its generated tables, and every Python snippet runs."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from bellwatch import _settings as _config
from bellwatch import schema
from fresh_python import run_python

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import update_readme  # noqa: E402 - the scripts dir is not a package


class TestReadme:
    def test_schema_table_is_current(self) -> None:
        """The README shows exactly schema.markdown_table()."""
        assert schema.markdown_table() in (ROOT / "README.md").read_text()

    def test_settings_table_is_current(self) -> None:
        """The README shows exactly the settings table built from _config."""
        assert _config.markdown_table() in (ROOT / "README.md").read_text()

    def test_regenerating_changes_nothing(self) -> None:
        """scripts/update_readme.py has been run after the last schema or settings change."""
        text = (ROOT / "README.md").read_text()
        assert update_readme.render(text) == text

    def test_quick_start_is_the_two_commands(self) -> None:
        """The Quick start shows make demo and make test."""
        text = (ROOT / "README.md").read_text()
        quick = text.split("## Quick start", 1)[1].split("##", 1)[0]
        assert "make demo" in quick
        assert "make test" in quick


def _snippets() -> list[tuple[int, str]]:
    """Every ```python block of the README: (line number, code), dedented."""
    text = (ROOT / "README.md").read_text()
    out = []
    for match in re.finditer(r"^( *)```python\n(.*?)^ *```", text, re.S | re.M):
        line = text[: match.start()].count("\n") + 1
        out.append((line, textwrap.dedent(match.group(2))))
    return out


# After a snippet has run, what checks that what it built works (in the same interpreter).
PROBES = {
    "bellwatch.instrument(app)": (
        "import asyncio, httpx\n"
        "async def _probe():\n"
        "    t = httpx.ASGITransport(app=app)\n"
        "    async with httpx.AsyncClient(transport=t, base_url='http://t') as c:\n"
        "        return await c.get('/metrics')\n"
        "assert asyncio.run(_probe()).json()['status'] == 'healthy'\n"
    ),
    "bellwatch.outgoing.event_hooks()": (
        "import asyncio\n"
        "from bellwatch.log.context import request_scope\n"
        "with request_scope('3f9a1c7e2b4d'):\n"
        "    request = client.build_request('GET', 'http://calendar.invalid/slots')\n"
        "    for hook in client.event_hooks['request']:\n"
        "        asyncio.run(hook(request))\n"
        "assert request.headers['x-request-id'] == '3f9a1c7e2b4d'\n"
        "assert request.headers['traceparent'].startswith('00-000000000000000000003f9a1c7e2b4d-')\n"
    ),
}


class TestSnippets:
    def test_the_readme_has_python_snippets(self) -> None:
        """The snippets below are found (a changed fence would silently skip them)."""
        assert len(_snippets()) >= 4

    @pytest.mark.parametrize(("line", "code"), _snippets(), ids=lambda v: f"line {v}" if
                             isinstance(v, int) else "")  # fmt: skip
    def test_snippet_runs_in_a_fresh_interpreter(
        self, line: int, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The snippet runs as written, after a bare import, and what it builds works."""
        monkeypatch.chdir(tmp_path)
        probes = [probe for marker, probe in PROBES.items() if marker in code]
        run_python(code + "\n" + "\n".join(probes))
