"""The scripted scenario logs the guide's lifecycle through the pipeline."""

from __future__ import annotations

import io
from pathlib import Path

import orjson
import pytest

from bellwatch.demo import scenario


class TestScenario:
    def test_writes_valid_lines_within_budget(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every line in the scenario's file parses and fits 200 characters."""
        monkeypatch.setattr("sys.stdout", io.StringIO())
        path = scenario.run(log_dir=str(tmp_path))
        lines = path.read_text().splitlines()
        assert len(lines) >= 5
        for line in lines:
            assert len(line) <= 200
            orjson.loads(line)

    def test_masks_the_token_and_phone(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The scenario's secrets never reach the file."""
        monkeypatch.setattr("sys.stdout", io.StringIO())
        text = scenario.run(log_dir=str(tmp_path)).read_text()
        assert "s3cret" not in text
        assert "5551234567" not in text
