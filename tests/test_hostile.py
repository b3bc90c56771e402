"""A hostile log directory through every command: no traceback, one warning per bad file,
the same counts everywhere (with the cache and without), and nothing unsafe printed."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from bellwatch.cli import cli
from hostile import Hostile, build

READING = [
    ["errors"],
    ["slow"],
    ["endpoints"],
    ["twilio"],
    ["summary"],
    ["filter", '" "'],
    ["insights", "stats count(*) as n"],
]
EVERY = [*READING, ["tail", "-n", "30"], ["trace", "00000000000e"]]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    return build(tmp_path_factory.mktemp("hostile"))


def run(hostile: Hostile, args: list[str], cache: str | None, *extra: str) -> Result:
    where = ["-l", str(hostile.directory)]
    where += ["--cache-dir", cache] if cache else ["--no-cache"]
    return CliRunner().invoke(cli, [*args, *where, *extra])


def unsafe(text: str) -> list[str]:
    plain = re.sub(r"\x1b\[[0-9;]*m", "", text)  # our own colours, when asked for
    return [c for c in plain if c != "\n" and unicodedata.category(c) in {"Cc", "Cf", "Cs"}]


class TestHostileDirectory:
    @pytest.mark.parametrize("args", EVERY, ids=lambda a: a[0])
    def test_no_traceback_one_warning_per_bad_file(
        self, hostile: Hostile, args: list[str], tmp_path: Path
    ) -> None:
        """Every command answers (exit 0) and names each file it could not read, once."""
        result = run(hostile, args, str(tmp_path / "c"), "--no-color")
        assert result.exit_code == 0, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr
        named = [
            Path(n).name for n in re.findall(r"^bellwatch: skipped (\S+): ", result.stderr, re.M)
        ]
        assert len(named) == len(set(named))
        if args[0] == "tail":  # reads from the end and stops: only the files it reached
            paths = {n for n in hostile.skipped if not n.startswith("app.")}
            assert paths <= set(named) <= hostile.skipped
        else:
            assert set(named) == hostile.skipped

    @pytest.mark.parametrize("args", EVERY, ids=lambda a: a[0])
    @pytest.mark.parametrize("colour", [(), ("--no-color",)], ids=["color", "no-color"])
    def test_no_control_character_printed(
        self, hostile: Hostile, args: list[str], colour: tuple[str, ...], tmp_path: Path
    ) -> None:
        """No control byte, format character or stray surrogate reaches the terminal."""
        result = run(hostile, args, str(tmp_path / "c"), *colour)
        assert unsafe(result.stdout) == [] and unsafe(result.stderr) == []

    @pytest.mark.parametrize("cache", ["cold", "warm", None])
    def test_same_counts_from_every_command(
        self, hostile: Hostile, cache: str | None, tmp_path_factory: pytest.TempPathFactory
    ) -> None:
        """Every command that reads everything counts the same events and text lines."""
        cache_dir = str(tmp_path_factory.getbasetemp() / f"hostile-cache-{cache}")
        if cache == "warm":
            run(hostile, ["errors"], cache_dir)  # builds the cache
        total = hostile.records + hostile.text_lines
        note = f"bellwatch: {hostile.text_lines:,} text lines (not JSON) among {total:,} events"
        for args in READING:
            result = run(hostile, args, cache_dir if cache else None, "--no-color")
            assert note in result.stderr.splitlines(), (args, result.stderr)

    def test_counts_match_the_rules(self, hostile: Hostile, tmp_path: Path) -> None:
        """The counts are the ones the reader's rules give, by hand, line by line."""
        events = run(hostile, ["filter", '" "'], str(tmp_path / "c"), "--json")
        assert len(events.stdout_bytes.split(b"\n")) - 1 == hostile.records + hostile.text_lines
        (row,) = orjson.loads(run(hostile, ["insights", "stats count(*) as n"], None,
                                  "--json").stdout)  # fmt: skip
        assert row["n"] == hostile.records + hostile.text_lines
        endpoints = orjson.loads(run(hostile, ["endpoints"], None, "--json").stdout)
        assert sum(r["count"] for r in endpoints) == hostile.requests
