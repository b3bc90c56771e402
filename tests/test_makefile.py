"""The Makefile: what `make demo` and `make test` install, and `make shell`.

The stamps are checked with ``make -n`` (print, do not run) in a copy of the checkout whose
stamp files have chosen ages, so nothing is installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = "--extras cli,demo"
ALL = "--extras cli,aws,redis,demo,test"


def make(cwd: Path, *args: str, stdin: str = "", **env: str) -> str:
    """``make ARGS`` in ``cwd``; its standard output (a failure fails the test)."""
    done = subprocess.run(
        ["make", "--no-print-directory", *args], cwd=cwd, input=stdin, capture_output=True,
        text=True, timeout=60, check=False, env={**os.environ, **env},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A checkout with the real Makefile and scripts, a pyproject.toml an hour old, no .venv."""
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "scripts").symlink_to(REPO / "scripts")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("")
    hour_ago = pyproject.stat().st_mtime - 3600
    os.utime(pyproject, (hour_ago, hour_ago))
    return tmp_path


def stamp(checkout: Path, name: str, *, newer: bool = True) -> None:
    """Leave ``.venv/.installed-NAME``, newer (or older) than pyproject.toml."""
    path = checkout / ".venv" / f".installed-{name}"
    path.parent.mkdir(exist_ok=True)
    path.touch()
    age = (checkout / "pyproject.toml").stat().st_mtime + (60 if newer else -60)
    os.utime(path, (age, age))


class TestStamps:
    def test_fresh_clone_demo_installs_only_the_demo_extras(self, checkout: Path) -> None:
        """On a fresh clone, `make demo` installs cli and demo, not the test tools."""
        out = make(checkout, "-n", "demo")
        assert DEMO in out
        assert ALL not in out

    def test_test_after_demo_installs_the_rest(self, checkout: Path) -> None:
        """After `make demo`, `make test` notices the demo-only install and adds the rest."""
        stamp(checkout, "demo")
        assert ALL in make(checkout, "-n", "lint")

    def test_demo_after_test_installs_nothing(self, checkout: Path) -> None:
        """After `make test`, whose install stamps both sets, `make demo` installs nothing."""
        stamp(checkout, "all")
        stamp(checkout, "demo")
        out = make(checkout, "-n", "demo")
        assert "install.py" not in out
        assert "bellwatch.demo" in out

    def test_changed_pyproject_reinstalls(self, checkout: Path) -> None:
        """A pyproject.toml newer than the stamps installs again, each target its own set."""
        stamp(checkout, "all", newer=False)
        stamp(checkout, "demo", newer=False)
        demo = make(checkout, "-n", "demo")
        assert DEMO in demo
        assert ALL not in demo
        assert ALL in make(checkout, "-n", "lint")

    def test_bench_adds_its_extra_once(self, checkout: Path) -> None:
        """`make bench` installs the bench extra on top of the full set, then not again."""
        stamp(checkout, "all")
        assert f"{ALL},bench" in make(checkout, "-n", "bench")
        stamp(checkout, "bench")
        os.utime(checkout / ".venv" / ".installed-bench")  # now: newer than the full set
        assert "install.py" not in make(checkout, "-n", "bench")


class TestShell:
    @pytest.mark.parametrize("shell", ["/bin/bash", "/bin/sh"])
    def test_puts_the_venv_first_on_path(self, checkout: Path, shell: str) -> None:
        """In `make shell`, bellwatch is .venv's even when ~/.bashrc puts a folder first."""
        if not (Path(sys.prefix) / "bin" / "activate").is_file():
            pytest.skip("the tests run outside a virtual environment")
        (checkout / ".venv").mkdir()
        for entry in Path(sys.prefix).iterdir():
            (checkout / ".venv" / entry.name).symlink_to(entry)
        home = checkout / "home"
        (home / "bin").mkdir(parents=True)
        (home / "bin" / "bellwatch").write_text("#!/bin/sh\necho impostor\n")
        (home / "bin" / "bellwatch").chmod(0o755)
        (home / ".bashrc").write_text(f'export PATH="{home}/bin:$PATH"\n')
        out = make(
            checkout, "-s", "-o", ".venv/.installed-demo", "shell",
            stdin="bellwatch --version\n", SHELL=shell, HOME=str(home),
        )  # fmt: skip
        assert "bellwatch, version " in out
        assert "impostor" not in out
