"""errors --explain HASH: a fingerprint recomputed from its first line, and what a line lacks."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner, Result

import bellwatch
from bellwatch import reports
from bellwatch._runtime import runtime
from bellwatch.cli import cli
from bellwatch.errors.fingerprint import explain_parts
from bellwatch.sources.files import FileSource

T0 = 1795742449915


def _validate(phone: str) -> None:
    raise ValueError(f"Invalid phone number {phone}")


def write(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def explain(log: Path, fingerprint: str, *extra: str) -> Result:
    return CliRunner().invoke(cli, ["errors", "--explain", fingerprint, "-l", str(log), *extra])


class TestFromRealLines:
    def test_explains_what_the_pipeline_wrote(self, tmp_path: Path) -> None:
        """Lines the runtime wrote: the parameterized message is the pattern's, the app's
        frame is found, and what the line lacks is said."""
        bellwatch.configure(
            stream=io.StringIO(), service="svc", log_file=True, log_dir=str(tmp_path)
        )
        log = bellwatch.get_logger("app")
        for i in range(11):
            try:
                _validate(f"+1555123{i:04d}")
            except ValueError:
                log.exception("booking_failed")
        runtime.flush()
        lines = [orjson.loads(x) for x in (tmp_path / "svc.jsonl").read_bytes().splitlines()]
        (summary,) = [x for x in lines if x["event"] == "aggregated_error"]
        result = explain(tmp_path / "svc.jsonl", summary["hash"], "--json")
        assert result.exit_code == 0, result.output
        doc = orjson.loads(result.stdout)
        assert doc["line"]["event"] == "booking_failed"  # the first occurrence, not the summary
        assert doc["recomputed"]["parameterized"] == summary["msg"]
        assert f"{__name__}:_validate" in doc["recomputed"]["frames"]
        # ValueError is builtins.ValueError and the app's frames all fit: the same hash.
        assert doc["recomputed"]["type"] == "builtins.ValueError"
        assert doc["same_hash"] is True
        assert not any("module" in x for x in doc["unrecoverable"])
        text = explain(tmp_path / "svc.jsonl", summary["hash"]).stdout
        assert "What a log line cannot recover:" in text and "+1555123" not in text
        assert "its first line is a booking_failed line" in text


class TestChoosingTheLine:
    def test_first_occurrence_before_summaries_and_alerts(self, tmp_path: Path) -> None:
        """The earliest first-occurrence line is explained, even after an earlier summary;
        escalations and alerts are not occurrences."""
        base = {"level": "ERROR", "hash": "aa11bb22", "type": "KeyError"}
        log = write(
            tmp_path / "app.jsonl",
            {**base, "ts": T0, "event": "aggregated_error", "msg": "no key <quoted>", "n": 9},
            {**base, "ts": T0 + 1, "event": "alert_fired", "msg": "alert"},
            {**base, "ts": T0 + 3, "event": "error", "msg": "no key 'b'", "n": 1},
            {**base, "ts": T0 + 2, "event": "error", "msg": "no key 'a'", "n": 1},
        )
        found = reports.explain(FileSource([str(log)]), "aa11bb22")
        assert found.line is not None and found.line["msg"] == "no key 'a'"

    def test_only_a_summary(self, tmp_path: Path) -> None:
        """With no first-occurrence line, the aggregated_error line is used, and said so."""
        log = write(
            tmp_path / "app.jsonl",
            {"ts": T0, "event": "aggregated_error", "hash": "cc33dd44", "type": "E", "msg": "x"},
        )
        found = reports.explain(FileSource([str(log)]), "cc33dd44")
        assert any("parameterized text" in x for x in found.unrecoverable)

    def test_no_line_exits_1(self, tmp_path: Path) -> None:
        """A hash no error line has: a clean message on stderr and exit code 1."""
        log = write(
            tmp_path / "app.jsonl",
            {"ts": T0, "event": "error_escalated", "hash": "ee55ff66", "type": "E", "sev": "high"},
        )
        result = explain(log, "ee55ff66")
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr == "bellwatch: no error line has hash ee55ff66\n"
        assert orjson.loads(explain(log, "ee55ff66", "--json").stdout)["found"] is False


class TestBuiltinTypes:
    def test_bare_and_qualified_builtin_names_both_explain(self, tmp_path: Path) -> None:
        """A line naming ``KeyError`` or ``builtins.KeyError`` recomputes the logged hash."""
        parts = explain_parts("builtins.KeyError", "no slot <quoted>", ["app.api:book"])
        for logged in ("KeyError", "builtins.KeyError"):
            log = write(
                tmp_path / f"{logged}.jsonl",
                {"ts": T0, "event": "error", "n": 1, "hash": parts.hash, "type": logged,
                 "msg": "no slot 'monday'", "exc": "app.api:book:40"},
            )  # fmt: skip
            found = reports.explain(FileSource([str(log)]), parts.hash)
            assert found.explanation is not None
            assert found.explanation.type == "builtins.KeyError"
            assert found.same_hash, logged
            assert not any("module" in x for x in found.unrecoverable)

    def test_an_app_type_without_its_module_is_said(self, tmp_path: Path) -> None:
        """A bare name that is not a built-in: the module it lacks is named."""
        log = write(
            tmp_path / "app.jsonl",
            {"ts": T0, "event": "error", "n": 1, "hash": "0badc0de", "type": "Declined",
             "msg": "card declined"},
        )  # fmt: skip
        found = reports.explain(FileSource([str(log)]), "0badc0de")
        assert any("module.Declined" in x for x in found.unrecoverable)


class TestArticle:
    def test_an_before_a_vowel_sound(self, tmp_path: Path) -> None:
        """An error line, an ImportError line, but a booking_failed line."""
        for event, said in (
            ("error", "an error line"),
            ("aggregated_error", "an aggregated_error line"),
            ("ImportError", "an ImportError line"),
            ("booking_failed", "a booking_failed line"),
            ("user_error", "a user_error line"),
        ):
            log = write(
                tmp_path / f"{event}.jsonl",
                {"ts": T0, "event": event, "n": 1, "hash": "0badf00d", "type": "E", "msg": "x"},
            )
            assert f"its first line is {said} of" in explain(log, "0badf00d").stdout


class TestWhatALineKeeps:
    def test_a_line_with_everything_gives_the_same_hash(self, tmp_path: Path) -> None:
        """A module-qualified type and the app's frames: the logged hash is recomputed."""
        parts = explain_parts("app.errors.Declined", "card declined after 3 tries",
                              ["app.api:pay", "app.billing:charge"])  # fmt: skip
        log = write(
            tmp_path / "app.jsonl",
            {
                "ts": T0,
                "event": "error",
                "n": 1,
                "hash": parts.hash,
                "type": parts.type,
                "msg": "card declined after 3 tries",
                "exc": "app.billing:charge:12 < app.api:pay:40",
            },
        )
        result = explain(log, parts.hash)
        assert result.exit_code == 0
        assert f"The recomputed hash is the logged one, {parts.hash}." in result.stdout
        assert "module.app.errors" not in result.stdout

    def test_cut_messages_and_frames_are_named(self, tmp_path: Path) -> None:
        """A message or frame list the budget cut is named; a frame cut before its function
        is not hashed."""
        log = write(
            tmp_path / "app.jsonl",
            {
                "ts": T0,
                "event": "error",
                "n": 1,
                "hash": "12345678",
                "type": "E",
                "msg": "upstream refused the request becau…",
                "exc": "app.a:f:1 < app.b:g:1 < app.c…",
            },
        )
        found = reports.explain(FileSource([str(log)]), "12345678")
        assert found.explanation is not None and found.explanation.frames == ("app.b:g", "app.a:f")
        said = " ".join(found.unrecoverable)
        assert "the end of the message" in said and "the outer frames" in said

    def test_a_message_the_budget_dropped_is_named(self, tmp_path: Path) -> None:
        """A line with no msg at all (the line budget dropped it) says the message is lost."""
        log = write(
            tmp_path / "app.jsonl",
            {"ts": T0, "event": "aggregated_error", "hash": "aa11bb22", "type": "E", "n": 2,
             "_dropped": 3},
        )  # fmt: skip
        said = " ".join(reports.explain(FileSource([str(log)]), "aa11bb22").unrecoverable)
        assert "the message: this line has none" in said

    def test_a_summary_without_frames_is_not_blamed_on_severity(self, tmp_path: Path) -> None:
        """An aggregated_error line never carries frames: the note says so, not 'low severity'."""
        log = write(
            tmp_path / "app.jsonl",
            {"ts": T0, "event": "aggregated_error", "hash": "aa11bb22", "type": "E", "msg": "x",
             "sev": "high", "n": 2},
        )  # fmt: skip
        said = " ".join(reports.explain(FileSource([str(log)]), "aa11bb22").unrecoverable)
        assert "low severity" not in said and "a summary line never carries" in said
