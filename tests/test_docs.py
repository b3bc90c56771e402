"""The docs match the code: generated tables, figures, paths, commands, and every snippet runs."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import sys
import textwrap
from pathlib import Path

import pytest

from bellwatch import _settings, schema
from fresh_python import run_python

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

import update_readme  # noqa: E402 - the scripts dir is not a package

# bench/report.py, loaded by path: putting bench/ on sys.path would let its scripts
# (query.py, tokens.py...) shadow other top-level modules in this test process.
_spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
assert _spec is not None and _spec.loader is not None
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

# A measured-looking number: a ratio, a percentage, a time, a size or a token count.
_FIGURE = re.compile(
    r"[~+]?\d[\d,.]*(?:-\d[\d,.]*)?\s?(?:x\b|%|us\b|µs\b|μs\b|ms\b|s\b|MB\b|KB\b|tokens\b|requests\b)"
)
# Numbers in the README that are not measurements, each with why.
_NOT_MEASURED = {
    "50%",  # the birthday bound: arithmetic, shown with its formula
    "0.2%",  # the same arithmetic for a million requests a day
    "60-80%",  # the guide's own claim, quoted to be corrected
    "1%",  # DDSketch's relative accuracy, a setting; the verdict's warning threshold
    "5%",  # the verdict's degraded threshold (bellwatch.verdict), a setting
    "80%",  # the CPU alarm's threshold, a setting
    "85%",  # the memory alarm's threshold, a setting
    "77,000 requests",  # the birthday bound again, for the guide's 8-hex ids
    "0.2 s",  # BELLWATCH_LOG_FLUSH's default, a setting
    "1 s",  # BELLWATCH_FLUSH_INTERVAL's default, a setting
    "2 s",  # the webhook's connect timeout, a setting; and the trickle it defeats
    "5 s",  # the webhook's whole-exchange timeout; the latency alarm's threshold
    "~150 requests",  # the load bench/durability_errors.py applies, an input
}


class TestReadme:
    def test_schema_table_is_current(self) -> None:
        """The README shows exactly schema.markdown_table()."""
        assert schema.markdown_table() in (ROOT / "README.md").read_text()

    def test_settings_table_is_current(self) -> None:
        """The README shows exactly the settings table built from _settings."""
        assert _settings.markdown_table() in (ROOT / "README.md").read_text()

    def test_cost_figures_are_current(self) -> None:
        """The README's "What it costs" figures are what scripts/cost_example.py computes."""
        import cost_example

        assert cost_example.markdown() in (ROOT / "README.md").read_text()

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


class TestBenchmarkFigures:
    def test_readme_figures_match_results(self) -> None:
        """Every figure between bench markers is the one bench/results/*.md holds."""
        text = (ROOT / "README.md").read_text()
        assert report.render_readme(text) == text, "run: .venv/bin/python bench/report.py"

    def test_results_md_is_current(self) -> None:
        """bench/RESULTS.md is the join of bench/results/*.md."""
        assert (ROOT / "bench" / "RESULTS.md").read_text() == report.results_md()

    def test_benchmark_table_is_generated(self) -> None:
        """The Benchmarks section's table sits between bench markers."""
        text = (ROOT / "README.md").read_text()
        section = text.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
        assert "<!-- bench:table:benchmarks -->\n| what |" in section

    def test_no_figure_without_a_script(self) -> None:
        """Outside code blocks and bench markers, the README quotes no measured number."""
        text = (ROOT / "README.md").read_text()
        text = re.sub(r"```.*?```", "", text, flags=re.S)
        text = re.sub(r"`[^`\n]*`", "", text)  # inline code: literals and examples, not figures
        # blocks a script writes (scripts/update_readme.py: schema, settings, cost example)
        text = re.sub(r"<!-- (\w+):start -->.*?<!-- \1:end -->", "", text, flags=re.S)
        text = report.MARKER.sub("", text)
        unbacked = [m.group(0) for m in _FIGURE.finditer(text) if m.group(0) not in _NOT_MEASURED]
        assert unbacked == []


# What a backticked span must look like to be read as a path: no spaces, and a folder
# (``bench/``) or a file name with an extension (``tests/conftest.py``). ``<name>`` stands
# for any name. Paths under folders that commands create are not checked.
_PATH = re.compile(r"^[\w.<>*-]*(/[\w.<>*-]*)*$")
_SUFFIX = re.compile(r"\.(py|md|sh|toml|txt|in|cfg|json|ya?ml|js|css|html)$")
_CREATED = (".venv/", "logs/", "dist/", "build/", "bench/results/quick/")


def named_paths(text: str) -> list[str]:
    """The backticked spans of ``text`` that name a file or folder of the repository."""
    spans = re.findall(r"`([^`\n]+)`", text)
    return [
        span
        for span in spans
        if _PATH.match(span)
        and ("/" in span or _SUFFIX.search(span))
        and not span.startswith(("/", *_CREATED))
    ]


def exists(path: str) -> bool:
    """Whether ``path`` is in the repository: from its root, or from the package's folder."""
    pattern = re.sub(r"<[^>]*>", "*", path).rstrip("/")
    return any(any(base.glob(pattern)) for base in (ROOT, ROOT / "src" / "bellwatch"))


class TestContributing:
    def test_every_named_path_exists(self) -> None:
        """Each file or folder CONTRIBUTING.md names in backticks is in the repository."""
        paths = named_paths((ROOT / "CONTRIBUTING.md").read_text())
        assert len(paths) >= 5
        assert [path for path in paths if not exists(path)] == []

    def test_layout_names_every_module(self) -> None:
        """The layout block names each module of src/bellwatch under its own package."""
        text = (ROOT / "CONTRIBUTING.md").read_text()
        block = text.split("```\nsrc/bellwatch/\n", 1)[1].split("```", 1)[0]
        entries: dict[str, str] = {}
        name = ""
        for line in block.splitlines():
            said = line
            if re.match(r"^  \S", line):
                name, _, said = line.strip().partition(" ")
            entries[name] = entries.get(name, "") + " " + said
        missing = []
        for path in sorted((ROOT / "src" / "bellwatch").rglob("*.py")):
            rel = path.relative_to(ROOT / "src" / "bellwatch")
            if path.name in {"__init__.py", "__main__.py"}:
                continue
            if len(rel.parts) == 1:
                ok = rel.name in entries
            else:
                said = entries.get(rel.parts[0] + "/", "")
                globs = re.findall(r"[\w]*\*[\w.*]*", said)
                ok = bool(re.search(rf"(?<!\w){re.escape(path.stem)}(?!\w)", said)) or any(
                    fnmatch.fnmatch(path.name, g) for g in globs
                )
            if not ok:
                missing.append(str(rel))
        assert missing == []

    def test_every_make_target_exists(self) -> None:
        """Each ``make X`` that CONTRIBUTING.md or the README shows is a Makefile target."""
        targets = set(re.findall(r"^([\w-]+):", (ROOT / "Makefile").read_text(), re.M))
        docs = (ROOT / "CONTRIBUTING.md").read_text() + (ROOT / "README.md").read_text()
        named = set(re.findall(r"`make ([\w-]+)`", docs))
        assert {"demo", "shell", "test"} <= named
        assert named - targets == set()

    def test_named_paths_are_read_generically(self) -> None:
        """Paths, folders and ``<name>`` placeholders count; code, URLs and created files don't."""
        text = (
            "`tests/conftest.py` `bench/` `tests/test_<module>.py` `F.PATH` `make test` "
            "`/metrics` `.venv/bin/pytest` `bellwatch.schema` `README.md`"
        )
        assert named_paths(text) == [
            "tests/conftest.py", "bench/", "tests/test_<module>.py", "README.md",
        ]  # fmt: skip
        assert exists("tests/test_<module>.py")
        assert not exists("tests/test_no_such_module.py")


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
