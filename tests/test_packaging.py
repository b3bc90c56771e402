"""The sdist and the wheel as published: what they hold, and the wheel installed and run.

``python -m build`` makes the sdist, then the wheel from the sdist (so a file the sdist
forgets is missing from the wheel too); the wheel goes into a fresh virtual environment
with the ``cli`` extra from the package index, and runs there. The sdist is the whole
source tree as git has it; the wheel is the package alone.
"""

from __future__ import annotations

import email
import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import orjson
import pytest
from trove_classifiers import classifiers as known_classifiers

import bellwatch

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "bellwatch"


@dataclass(frozen=True)
class Dists:
    """The built sdist and wheel, and the names of the files in each."""

    sdist: Path
    wheel: Path

    def sdist_names(self) -> set[str]:
        """Paths inside the sdist, without its ``bellwatch-X.Y.Z/`` prefix."""
        with tarfile.open(self.sdist) as tar:
            return {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}

    def wheel_names(self) -> set[str]:
        with zipfile.ZipFile(self.wheel) as whl:
            return set(whl.namelist())

    def metadata(self) -> Message:
        with zipfile.ZipFile(self.wheel) as whl:
            name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
            return email.message_from_bytes(whl.read(name))


def run(command: list[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``command`` without the test run's virtual environment leaking into it."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=300, check=False,
    )  # fmt: skip


def package_files() -> set[str]:
    """Every source file of the package, as a wheel names it (``bellwatch/...``): not the
    C scanner the editable install built beside its source (``*.so``)."""
    return {
        path.relative_to(PACKAGE.parent).as_posix()
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".so"
    }


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    out = tmp_path_factory.mktemp("dist")
    done = run([sys.executable, "-m", "build", "--outdir", str(out), str(REPO)])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return Dists(sdist, wheel)


@pytest.fixture(scope="module")
def installed(dists: Dists, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment holding the wheel with the ``cli`` extra; its bin/."""
    venv = tmp_path_factory.mktemp("venv")
    done = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert done.returncode == 0, done.stderr
    # This interpreter's pip installs into the new environment: no second copy of pip.
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python")]
    done = run(
        [*pip, "install", "--no-compile", "--disable-pip-version-check", f"{dists.wheel}[cli]"]
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return venv / "bin"


class TestWheel:
    def test_holds_the_package_and_nothing_else(self, dists: Dists) -> None:
        """The wheel has every file of src/bellwatch, static assets and py.typed included,
        and the C scanner built for this Python."""
        names = dists.wheel_names()
        package = {n for n in names if not n.split("/", 1)[0].endswith(".dist-info")}
        built = {n for n in package if n.startswith("bellwatch/sources/_scan.") and ".so" in n}
        assert len(built) == 1
        assert package - built == package_files()
        assert {"bellwatch/py.typed", "bellwatch/__init__.py"} <= package
        assert any("/static/" in n and n.endswith(".js") for n in package)

    def test_has_no_tests_or_benchmarks(self, dists: Dists) -> None:
        """Nothing from tests/ or bench/ lands in site-packages."""
        tops = {name.split("/", 1)[0] for name in dists.wheel_names()}
        assert {top for top in tops if not top.endswith(".dist-info")} == {"bellwatch"}

    def test_carries_the_license(self, dists: Dists) -> None:
        """The LICENSE file is in the wheel's metadata folder, named by License-File."""
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in dists.wheel_names())
        meta = dists.metadata()
        assert (meta["License-Expression"], meta["License-File"]) == ("MIT", "LICENSE")

    def test_metadata_version_is_the_package_version(self, dists: Dists) -> None:
        """The one version source: the built metadata says bellwatch.__version__."""
        assert dists.metadata()["Version"] == bellwatch.__version__
        assert dists.wheel.name.startswith(f"bellwatch-{bellwatch.__version__}-")

    def test_classifiers_are_known_and_urls_given(self, dists: Dists) -> None:
        """Every classifier is a real trove classifier, and the project URLs are set."""
        meta = dists.metadata()
        classifiers = meta.get_all("Classifier") or []
        assert "Typing :: Typed" in classifiers
        assert set(classifiers) <= known_classifiers
        urls = dict(url.split(", ", 1) for url in meta.get_all("Project-URL") or [])
        assert {"Homepage", "Changelog", "Issues"} <= set(urls)


class TestWithoutACompiler:
    def test_the_wheel_builds_without_the_scanner(self, tmp_path: Path) -> None:
        """The C scanner is optional: with no working C compiler the build still succeeds,
        without it (the Python fold then runs, with the same answers)."""
        env = {**os.environ, "CC": "false", "LDSHARED": "false"}
        done = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path),
             str(REPO)],
            capture_output=True, text=True, env=env, check=False, timeout=600,
        )  # fmt: skip
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        (wheel,) = tmp_path.glob("*.whl")
        names = zipfile.ZipFile(wheel).namelist()
        assert "bellwatch/sources/_scan.c" in names
        assert not [n for n in names if n.startswith("bellwatch/sources/_scan.") and ".so" in n]


class TestSdist:
    def test_holds_every_file_git_tracks(self, dists: Dists) -> None:
        """The sdist is the source tree: package, docs, LICENSE, tests, scripts, benchmarks."""
        names = dists.sdist_names()
        assert {f"src/{name}" for name in package_files()} <= names
        assert {"LICENSE", "README.md", "CHANGELOG.md", "pyproject.toml", "Makefile"} <= names
        assert {"tests/conftest.py", "tests/test_packaging.py", "bench/run_all.py"} <= names
        if (REPO / ".git").exists():
            tracked = run(["git", "ls-files"], cwd=REPO).stdout.split()
            assert set(tracked) - names == set()

    def test_leaves_out_generated_files(self, dists: Dists) -> None:
        """No virtual environment, benchmark corpus, log or compiled file goes in."""
        names = dists.sdist_names()
        generated = (".venv/", "bench/corpus/", "logs/", "tests/artifacts/", "build/", "dist/")
        assert not [n for n in names if n.startswith(generated)]
        assert not [n for n in names if n.endswith(".pyc") or "__pycache__" in n]


class TestInstalledWheel:
    def test_version(self, installed: Path, tmp_path: Path) -> None:
        """``bellwatch --version`` from the installed wheel prints bellwatch.__version__."""
        done = run([str(installed / "bellwatch"), "--version"], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"bellwatch, version {bellwatch.__version__}"

    def test_errors_report_on_a_log_file(self, installed: Path, tmp_path: Path) -> None:
        """``bellwatch errors`` groups a small log file's error lines into one pattern."""
        line = {
            "ts": 1_796_000_000_000, "level": "ERROR", "event": "error", "hash": "6aca4327",
            "type": "OperationalError", "msg": "database is locked", "sev": "critical",
            "path": "/api/assistant/book", "n": 1,
        }  # fmt: skip
        log = tmp_path / "app.jsonl"
        log.write_bytes(b"".join(orjson.dumps({**line, "cid": f"c{i}"}) + b"\n" for i in range(3)))
        command = [str(installed / "bellwatch"), "errors", "-l", str(log), "--json"]
        done = run(command, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        (pattern,) = orjson.loads(done.stdout)
        assert (pattern["hash"], pattern["count"]) == ("6aca4327", 3)

    def test_imports_from_the_new_environment(self, installed: Path, tmp_path: Path) -> None:
        """The installed package runs from the fresh environment, not from this checkout."""
        code = "import bellwatch; print(bellwatch.__file__)"
        done = run([str(installed / "python"), "-c", code], cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip()).is_relative_to(installed.parent)

    def test_demo_without_its_extra_names_the_install_line(
        self, installed: Path, tmp_path: Path
    ) -> None:
        """With only ``[cli]``, ``bellwatch demo`` says what to install, never "None"."""
        done = run([str(installed / "bellwatch"), "demo", "--duration", "1"], cwd=tmp_path)
        assert done.returncode == 2
        assert done.stderr.strip().endswith("pip install 'bellwatch[demo]'")
        assert "None" not in done.stderr

    def test_mcp_without_its_extra_names_the_install_line(
        self, installed: Path, tmp_path: Path
    ) -> None:
        """With only ``[cli]``, ``bellwatch mcp`` says to install the ``mcp`` extra."""
        done = run([str(installed / "bellwatch"), "mcp", "-l", str(tmp_path)], cwd=tmp_path)
        assert done.returncode == 2
        assert "pip install 'bellwatch[mcp]'" in done.stderr
