"""The ``bellwatch`` console script, with and without the ``cli`` extra."""

from __future__ import annotations

import json
import subprocess
import sys

import bellwatch


def console(*args: str, block: str = "") -> subprocess.CompletedProcess[str]:
    """Run the console script's ``main`` in a fresh interpreter, ``block`` made unimportable."""
    code = (
        "import sys\n"
        f"if {block!r}: sys.modules[{block!r}] = None\n"
        f"sys.argv = ['bellwatch', *{list(args)!r}]\n"
        "from bellwatch._console import main\n"
        "main()\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


class TestConsole:
    def test_runs_the_cli(self) -> None:
        """With the extra installed, the script is the CLI: --version prints the version."""
        done = console("--version")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"bellwatch, version {bellwatch.__version__}"

    def test_without_click_prints_the_install_line(self) -> None:
        """Without click, one line names it and the exact install command; exit code 2."""
        done = console("--version", block="click")
        assert done.returncode == 2
        assert done.stderr == "the bellwatch command needs click: pip install 'bellwatch[cli]'\n"
        assert done.stdout == ""

    def test_the_collector_runs_after_the_import(self) -> None:
        """The collector is paused while the CLI imports, then on again for the command,
        with what the import made frozen out of its passes."""
        code = (
            "import gc, sys\n"
            "import importlib\n"
            "m = importlib.import_module('bellwatch.cli.main')\n"
            "seen = []\n"
            "m.cli.main = lambda **kw: seen.append((gc.isenabled(), gc.get_freeze_count()))\n"
            "from bellwatch._console import main\n"
            "main()\n"
            "import json\n"
            "print(json.dumps(seen))\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        enabled, frozen = json.loads(done.stdout)[0]
        assert enabled and frozen > 1000
