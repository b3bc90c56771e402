"""What the CLI prints: log text made safe in every readable view, tables that fit, exact JSON."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.cli import cli
from bellwatch.cli._layout import cut, cut_items, fit, width
from bellwatch.cli._layout import width as width_of
from bellwatch.cli.output import json_safe, safe_text

ROUTE = "/api/very/long/route/template/{appointment_id}/reschedule/confirm"
NASTY = "\x1b[2J\x1b]0;pwned\x07 \x9b31m \u202eevil\u202c \x7f \u2028 [/] [link=http://x]x[/link]"
_UNSAFE = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def unsafe(text: str) -> list[str]:
    """Characters a terminal would act on (what must never be printed raw)."""
    return [c for c in text if c not in "\n" and unicodedata.category(c) in _UNSAFE]


class TestSafeText:
    @given(st.text())
    def test_nothing_unsafe_gets_through(self, text: str) -> None:
        """No control, format, separator or surrogate character survives."""
        assert unsafe(safe_text(text)) == []

    @given(st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp"))))
    def test_harmless_text_is_unchanged(self, text: str) -> None:
        """Ordinary text, any script, passes as it is."""
        assert safe_text(text) == text

    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            ("\x1b[31m", "\\x1b[31m"),
            ("\x9b", "\\x9b"),
            ("\x7f", "\\x7f"),
            ("a\tb\nc\rd", "a\\tb\\nc\\rd"),
            ("\u202eevil", "\\u202eevil"),
            ("\u2066x\u2069", "\\u2066x\\u2069"),
            ("\u200b", "\\u200b"),
            (b"bad \xff".decode("utf-8", "surrogateescape"), "bad \\xff"),
        ],
    )
    def test_escapes_are_visible(self, raw: str, shown: str) -> None:
        """Each escape says what the character was."""
        assert safe_text(raw) == shown

    def test_long_values_are_cut_with_a_marker(self) -> None:
        """A cut value says how much is missing."""
        assert safe_text("x" * 100, 10) == "xxxxxxxxxx…[+90 chars]"


class TestLayout:
    def test_a_dropped_column_comes_back_when_it_fits(self) -> None:
        """Once a wide column went, a narrower one dropped before it is shown again."""
        headers = ["a", "wide", "b"]
        cells = [["a" * 10, "w" * 30, "b" * 10]]
        layout = fit(headers, cells, [None, None, None], [9, 2, 1], 40)
        assert layout.shown == [0, 2]

    def test_width_counts_wide_characters(self) -> None:
        """East Asian wide characters take two columns, combining marks none."""
        assert (width("abc"), width("日本"), width("e\u0301")) == (3, 4, 1)

    def test_cut_marks_the_cut(self) -> None:
        """Cut text ends in an ellipsis and fits."""
        assert cut("abcdefgh", 5) == "abcd…" and cut("abc", 5) == "abc"

    def test_lists_lose_items_not_halves(self) -> None:
        """A list is shortened by whole items, then says how many it left out."""
        items = ["/api/users/{user_id}", "/api/bookings", "/health"]
        assert cut_items(items, 40) == "/api/users/{user_id}, /api/bookings +1"
        assert cut_items(items, 23) == "/api/users/{user_id} +2"
        assert cut_items(items, 22) == "+3"


def _log(tmp_path: Path) -> Path:
    """A log whose error messages and routes carry everything a terminal could act on."""
    lines = []
    for i in range(30):
        lines.append({
            "ts": 1_700_000_000_000 + i, "level": "ERROR", "event": "error", "n": 1,
            "hash": f"{i:08x}", "type": "ValueError", "msg": f"{NASTY} {'long ' * 40}{i}",
            "sev": "high", "path": f"/api/{NASTY}/{{id}}", "cid": f"{i:012x}",
        })  # fmt: skip
        lines.append({
            "ts": 1_700_000_000_000 + i, "event": "request_complete", "method": "GET",
            "path": ROUTE if i % 2 else "/twilio/voice",
            "status": 500, "duration": 3.5, "cid": f"{i:012x}",
            "sid": f"CA{i:032x}",
        })  # fmt: skip
    path = tmp_path / "app.jsonl"
    raw = b"".join(orjson.dumps(line) + b"\n" for line in lines)
    path.write_bytes(raw + NASTY.encode() + b"\n")  # and one raw text line
    return path


COMMANDS = [
    ["errors"],
    ["slow"],
    ["endpoints"],
    ["twilio"],
    ["summary"],
    ["tail", "-n", "5"],
    ["filter", "ERROR"],
    ["trace", "00000000000a"],
    ["insights", "fields msg, path | limit 3"],
]


class TestReadableViews:
    @pytest.mark.parametrize("args", COMMANDS, ids=lambda a: a[0])
    @pytest.mark.parametrize("color", [True, False], ids=["color", "no-color"])
    def test_no_control_character_reaches_the_terminal(
        self, tmp_path: Path, args: list[str], color: bool
    ) -> None:
        """Escape sequences, bidi overrides and Rich markup in log text are shown, not run."""
        log = _log(tmp_path)
        extra = [] if color else ["--no-color"]
        result = CliRunner().invoke(cli, [*args, "-l", str(log), "--cache-dir",
                                          str(tmp_path / "c"), *extra])  # fmt: skip
        assert result.exit_code == 0, result.output
        out = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout) if color else result.stdout
        assert unsafe(out) == [] and unsafe(result.stderr) == []
        assert "\x1b]8;" not in result.stdout  # never a hyperlink

    @pytest.mark.parametrize("args", [["errors"], ["slow"], ["endpoints"], ["twilio"]])
    def test_tables_fit_80_columns(self, tmp_path: Path, args: list[str]) -> None:
        """Off a terminal, tables fit 80 columns and keep ids, hashes and routes whole."""
        log = _log(tmp_path)
        result = CliRunner().invoke(cli, [*args, "-l", str(log), "--cache-dir",
                                          str(tmp_path / "c"), "--no-color"])  # fmt: skip
        lines = result.stdout.splitlines()
        assert lines and max(width(line) for line in lines) <= 80
        whole = {
            "errors": [f"{i:08x}" for i in range(30)],  # every hash, uncut
            "slow": [ROUTE],
            "endpoints": [ROUTE],
            "twilio": [f"CA{i:032x}" for i in range(0, 30, 2)],
        }[args[0]]
        assert all(token in result.stdout for token in whole)
        assert "/api/very" not in result.stdout.replace(ROUTE, "")  # never a cut route

    @pytest.mark.parametrize("width", [80, 100, 120, 130, 160, 200])
    def test_a_list_cell_is_never_a_bare_count(self, tmp_path: Path, width: int) -> None:
        """At any width the endpoints column shows a whole route, or is left out and said."""
        log = tmp_path / "e.jsonl"
        log.write_bytes(b"".join(
            orjson.dumps({"ts": 1_700_000_000_000 + i, "level": "ERROR", "event": "error",
                          "n": 1, "hash": "0000000a", "type": "OperationalError",
                          "msg": "database is locked while writing the booking row",
                          "sev": "critical", "path": path, "cid": "00000000000a"}) + b"\n"
            for i, path in enumerate(["/api/assistant/book", "/api/users/{user_id}"])
        ))  # fmt: skip
        args = ["errors", "-l", str(log), "--no-color", "--no-cache", "--width", str(width)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        header, row = result.stdout.splitlines()[1:3]
        assert max(width_of(line) for line in result.stdout.splitlines()) <= width
        if "endpoints" in header:
            assert re.search(r"/api/(assistant/book|users/\{user_id\})", row)
        else:
            assert "endpoints" in result.stderr
        assert not re.search(r"  \+\d+  ", row)

    def test_width_option_and_columns(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--width sets the table's width; without it COLUMNS does, even when piped;
        --width wins over COLUMNS."""
        log = _log(tmp_path)
        base = ["endpoints", "-l", str(log), "--no-color", "--no-cache"]
        wide = CliRunner().invoke(cli, [*base, "--width", "200"])
        assert max(width_of(line) for line in wide.stdout.splitlines()) > 80
        monkeypatch.setenv("COLUMNS", "200")
        assert CliRunner().invoke(cli, base).stdout == wide.stdout
        narrow = CliRunner().invoke(cli, [*base, "--width", "80"])
        assert max(width_of(line) for line in narrow.stdout.splitlines()) <= 80

    def test_width_below_20_is_a_usage_error(self, tmp_path: Path) -> None:
        """--width 5 is refused with a usage error, exit 2."""
        result = CliRunner().invoke(cli, ["errors", "-l", str(_log(tmp_path)), "--width", "5"])
        assert result.exit_code == 2 and "--width" in result.stderr

    def test_markup_in_a_message_is_text(self, tmp_path: Path) -> None:
        """A message holding Rich markup (``[/]``, ``[link=...]``) is printed as written."""
        log = _log(tmp_path)
        result = CliRunner().invoke(cli, ["summary", "-l", str(log), "--no-color"])
        assert result.exit_code == 0 and "[/]" in result.stdout
        assert "[link=http://x]x[/link]" in result.stdout


class TestJsonStaysExact:
    def test_records_are_their_own_lines(self, tmp_path: Path) -> None:
        """``--json`` prints each event's line as the same JSON; a text line as {"text": ...}."""
        log = _log(tmp_path)
        result = CliRunner().invoke(cli, ["filter", '" "', "-l", str(log), "--json"])
        printed = [orjson.loads(line) for line in result.stdout.splitlines()]
        *events, _text_line = log.read_bytes().splitlines()
        assert printed == [*map(orjson.loads, events), {"text": NASTY}]

    @pytest.mark.parametrize(
        "args", [["tail", "-n", "100"], ["filter", '" "'], ["trace", "00000000000a"]],
        ids=lambda a: a[0],
    )  # fmt: skip
    def test_output_is_json_lines(self, tmp_path: Path, args: list[str]) -> None:
        """Every line --json prints parses as JSON, text lines included, and none is raw."""
        log = _log(tmp_path)
        log.write_bytes(log.read_bytes() + b"worker 00000000000a: plain text\n")
        result = CliRunner().invoke(cli, [*args, "-l", str(log), "--json"])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert lines and all(isinstance(orjson.loads(line), dict) for line in lines)
        assert {"text": "worker 00000000000a: plain text"} in map(orjson.loads, lines)
        assert unsafe(result.stdout) == []

    @pytest.mark.parametrize("args", [["errors"], ["summary"], ["tail"], ["filter", "ERROR"]])
    def test_json_escapes_what_a_terminal_acts_on(self, tmp_path: Path, args: list[str]) -> None:
        """Bidi overrides, C1 controls, DEL and separators are \\u escapes in JSON output."""
        log = _log(tmp_path)
        result = CliRunner().invoke(cli, [*args, "-l", str(log), "--json"])
        assert result.exit_code == 0, result.output
        assert unsafe(result.stdout) == []
        assert "\\u202e" in result.stdout

    @given(st.text())
    def test_json_safe_keeps_the_value(self, text: str) -> None:
        """Escaped JSON parses back to the same string and holds nothing unsafe raw."""
        safe = json_safe(orjson.dumps({"v": text}))
        assert orjson.loads(safe) == {"v": text}
        assert unsafe(safe.decode()) == []

    def test_rows_keep_the_values(self, tmp_path: Path) -> None:
        """Report rows in JSON hold the log's text unescaped and uncut."""
        log = _log(tmp_path)
        result = CliRunner().invoke(cli, ["errors", "-l", str(log), "--json", "--limit", "1"])
        (row,) = orjson.loads(result.stdout)
        assert row["msg"].startswith(NASTY) and len(row["msg"]) > 200


class TestTimesAreUtc:
    def test_whatever_the_local_zone(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """tail and the tables print UTC, as the README says, in any TZ."""
        import time

        monkeypatch.setenv("TZ", "Asia/Tokyo")
        time.tzset()
        try:
            log = tmp_path / "a.jsonl"
            log.write_bytes(orjson.dumps({"ts": 1_700_000_000_000, "event": "e"}) + b"\n")
            out = CliRunner().invoke(cli, ["tail", "-l", str(log), "--no-color"]).stdout
            assert out.startswith("22:13:20.000 ")  # 2023-11-14T22:13:20Z
        finally:
            monkeypatch.delenv("TZ")
            time.tzset()

    def test_readme_says_utc(self) -> None:
        """The README never says the CLI prints local time."""
        readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
        assert "local time" not in readme
        assert "every time it prints is UTC" in readme


class TestQueryTimes:
    def _errors_log(self, tmp_path: Path) -> Path:
        log = tmp_path / "a.jsonl"
        lines = [
            {"ts": 1_700_000_000_000 + i, "level": "ERROR", "event": "error", "hash": "ab12cd34",
             "type": "ValueError", "msg": "bad", "sev": "high", "n": 1, "cid": "3f9a1c7e2b4d"}
            for i in range(2)
        ]  # fmt: skip
        lines.append({"ts": 1_700_000_000_000, "level": "WARNING", "event": "request_complete",
                      "cid": "3f9a1c7e2b4d", "method": "POST", "path": "/api/assistant/book",
                      "status": 200, "duration": 3.5})  # fmt: skip
        log.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
        return log

    def test_first_and_last_seen_are_utc_times(self, tmp_path: Path) -> None:
        """insights top-errors shows first_seen/last_seen as UTC times, not epoch milliseconds."""
        log = self._errors_log(tmp_path)
        args = ["insights", "top-errors", "-l", str(log), "--no-cache", "--width", "200"]
        out = CliRunner().invoke(cli, args).stdout
        assert "1700000000000" not in out and "11-14 22:13:20" in out

    def test_a_timestamp_column_is_never_cut(self, tmp_path: Path) -> None:
        """A query's @timestamp keeps its seconds at 80 columns: it is a time, not free text."""
        log = self._errors_log(tmp_path)
        args = ["insights", "slow", "-l", str(log), "--no-cache", "--width", "80"]
        out = CliRunner().invoke(cli, args).stdout
        assert "2023-11-14 22:13:20.000" in out
