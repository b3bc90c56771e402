"""The README's generated tables match the code they describe."""

from __future__ import annotations

import sys
from pathlib import Path

from bellwatch import _settings as _config
from bellwatch import schema

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
