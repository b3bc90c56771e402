"""scripts/install.py: one progress line per phase while pip works, pip's output on failure.

A stand-in ``python`` in a fake virtual environment prints what pip prints, so nothing is
installed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

PIP_OUTPUT = """\
Obtaining file:///src/bellwatch
  Installing build dependencies: started
Collecting structlog>=24.1 (from bellwatch==0.1.0)
Processing /opt/wheels/rich-15.0.0-py3-none-any.whl (from bellwatch==0.1.0)
Requirement already satisfied: orjson>=3.9 in ./venv/lib/python3.11/site-packages
Building wheels for collected packages: bellwatch
  Building editable for bellwatch (pyproject.toml): started
  Building editable for bellwatch (pyproject.toml): finished with status 'done'
Installing collected packages: structlog, rich, bellwatch
Successfully installed bellwatch-0.1.0 rich-15.0.0 structlog-26.1.0
"""


def fake_venv(tmp_path: Path, output: str, code: int) -> Path:
    """A venv whose ``python`` prints ``output`` and exits with ``code``, whatever it is asked."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (tmp_path / "pip-output.txt").write_text(output)
    python = venv / "bin" / "python"
    python.write_text(f"#!/bin/sh\ncat '{tmp_path / 'pip-output.txt'}'\nexit {code}\n")
    python.chmod(0o755)
    return venv


def install(venv: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO / "scripts" / "install.py"), "--venv", str(venv)]
    return subprocess.run(
        [*command, "--extras", "cli,demo"], capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


class TestInstallScript:
    def test_prints_phases_not_pip_output(self, tmp_path: Path) -> None:
        """A successful install shows its phases and a summary, none of pip's own lines."""
        done = install(fake_venv(tmp_path, PIP_OUTPUT, 0))
        assert done.returncode == 0, done.stderr
        assert "==> installing bellwatch[cli,demo] into" in done.stdout
        assert done.stdout.count("building bellwatch (editable)") == 1
        assert "installing 3 packages" in done.stdout
        assert "is ready: 3 installed, 1 already there" in done.stdout
        assert "Successfully installed" not in done.stdout

    def test_failure_shows_pip_output_and_its_exit_code(self, tmp_path: Path) -> None:
        """When pip fails, its whole output is printed and its exit code returned."""
        error = "ERROR: No matching distribution found for nope\n"
        done = install(fake_venv(tmp_path, "Collecting nope\n" + error, 1))
        assert done.returncode == 1
        assert error in done.stdout
        assert "pip failed (exit 1)" in done.stdout
