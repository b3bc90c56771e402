"""configure(), get_logger(), the stdlib bridge, and never raising into the app."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest

import bellwatch
from bellwatch import ConfigError
from bellwatch._runtime import runtime
from bellwatch.log import pipeline
from bellwatch.log.context import request_scope
from bellwatch.testing import capture_logs


class TestConfigure:
    def test_one_json_line_per_event(self) -> None:
        """A logger call writes exactly one compact JSON line."""
        with capture_logs() as cap:
            bellwatch.get_logger().info("hello", n=1)
        assert len(cap.lines) == 1
        assert cap.events[0]["event"] == "hello"
        assert cap.events[0]["n"] == 1

    def test_bad_value_raises_at_configure_time(self) -> None:
        """configure() refuses a bad value, naming the key."""
        with pytest.raises(ConfigError, match="max_line"):
            bellwatch.configure(max_line="wide")

    def test_logger_made_before_configure_follows_it(self) -> None:
        """A module-level logger created before configure() uses the later configuration."""
        log = bellwatch.get_logger("early")
        with capture_logs(max_line=120) as cap:
            log.info("x" * 500)
        assert len(cap.lines[0]) <= 120

    def test_reconfigure_rebinds_existing_loggers(self) -> None:
        """A logger already used follows a new configure()."""
        log = bellwatch.get_logger()
        with capture_logs(level="INFO") as first:
            log.debug("hidden")
        with capture_logs(level="DEBUG") as second:
            log.debug("shown")
        assert first.lines == []
        assert second.events[0]["event"] == "shown"

    def test_filtered_level_writes_nothing(self) -> None:
        """debug() at INFO produces no line."""
        with capture_logs() as cap:
            bellwatch.get_logger().debug("nope")
        assert cap.lines == []

    def test_initial_fields_are_bound(self) -> None:
        """Fields passed to get_logger appear on every line of that logger."""
        with capture_logs() as cap:
            bellwatch.get_logger("svc", component="billing").info("e")
        assert cap.events[0]["component"] == "billing"

    def test_secrets_are_masked_end_to_end(self) -> None:
        """A password passed to a log call is masked on the line."""
        with capture_logs() as cap:
            bellwatch.get_logger().info("login", password="hunter2", to="+15551234567")
        assert "hunter2" not in cap.lines[0]
        assert cap.events[0]["to"] == "+***4567"

    def test_dev_mode_renders_for_humans(self) -> None:
        """env=dev gives the console renderer at DEBUG."""
        buf = io.StringIO()
        bellwatch.configure(stream=buf, env="dev", log_file=False)
        bellwatch.get_logger().debug("readable", k="v")
        text = buf.getvalue()
        assert "readable" in text
        assert not text.startswith("{")

    def test_dev_mode_writes_no_colours_into_a_file_or_pipe(self) -> None:
        """env=dev on a stream that is not a terminal: plain text, no ANSI escapes."""
        buf = io.StringIO()
        bellwatch.configure(stream=buf, env="dev", log_file=False)
        bellwatch.get_logger().info("plain", k="v")
        assert "plain" in buf.getvalue() and "\x1b[" not in buf.getvalue()

    def test_force_color_colours_even_a_pipe(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """FORCE_COLOR (force-color.org) keeps the colours where they would be left out."""
        monkeypatch.setenv("FORCE_COLOR", "1")
        buf = io.StringIO()
        bellwatch.configure(stream=buf, env="dev", log_file=False)
        bellwatch.get_logger().info("bright")
        assert "\x1b[" in buf.getvalue()

    def test_file_sink_writes_jsonl(self, tmp_path: Path) -> None:
        """log_file=True also writes <log_dir>/<service>.jsonl."""
        bellwatch.configure(
            stream=io.StringIO(), service="svc", log_file=True, log_dir=str(tmp_path)
        )
        bellwatch.get_logger().info("to file")
        bellwatch.flush()
        lines = (tmp_path / "svc.jsonl").read_bytes().splitlines()
        assert orjson.loads(lines[0])["event"] == "to file"

    def test_dev_mode_keeps_the_file_json(self, tmp_path: Path) -> None:
        """env=dev with log_file: the console on the stream, JSON lines the CLI reads in
        the file (not the console's ANSI text)."""
        buf = io.StringIO()
        bellwatch.configure(stream=buf, env="dev", service="svc", log_file=True,
                            log_dir=str(tmp_path))  # fmt: skip
        log = bellwatch.get_logger()
        log.debug("readable", k="v")
        log.warning("careful", password="hunter2")
        bellwatch.flush()
        assert "readable" in buf.getvalue() and not buf.getvalue().startswith("{")
        lines = [orjson.loads(x) for x in (tmp_path / "svc.jsonl").read_bytes().splitlines()]
        assert [(e["event"], e["level"]) for e in lines] == [
            ("readable", "DEBUG"), ("careful", "WARNING")
        ]  # fmt: skip
        assert lines[0]["k"] == "v" and lines[1]["password"] == "***"

    def test_unwritable_log_dir_fails_at_configure(self, tmp_path: Path) -> None:
        """A log dir that cannot be created is a ConfigError at start-up."""
        blocker = tmp_path / "file"
        blocker.write_text("")
        with pytest.raises(ConfigError, match="log_dir"):
            bellwatch.configure(log_file=True, log_dir=str(blocker / "sub"))


class TestContext:
    def test_correlation_id_reaches_the_line(self) -> None:
        """Inside a request scope every line carries its cid."""
        with capture_logs() as cap, request_scope("abc123"):
            bellwatch.get_logger().info("e")
        assert cap.events[0]["cid"] == "abc123"

    def test_bound_fields_are_scoped(self) -> None:
        """bound() adds fields inside the block only."""
        log = bellwatch.get_logger()
        with capture_logs() as cap:
            with bellwatch.bound(uid="u1"):
                log.info("in")
            log.info("out")
        assert cap.events[0]["uid"] == "u1"
        assert "uid" not in cap.events[1]

    def test_threads_and_tasks_see_their_own_context(self) -> None:
        """Concurrent tasks keep separate correlation ids."""

        async def work(cid: str) -> None:
            with request_scope(cid):
                await asyncio.sleep(0)
                bellwatch.get_logger().info("t")

        async def main() -> None:
            await asyncio.gather(*(work(f"c{i}") for i in range(5)))

        with capture_logs() as cap:
            asyncio.run(main())
        assert sorted(e["cid"] for e in cap.events) == [f"c{i}" for i in range(5)]


class TestStdlib:
    def test_stdlib_record_has_the_same_format(self) -> None:
        """logging.getLogger(...).warning() comes out as a bellwatch JSON line."""
        with capture_logs() as cap, request_scope("cid9"):
            logging.getLogger("botocore.x").warning("retry %d", 3)
        event = cap.events[0]
        assert event["event"] == "retry 3"
        assert event["logger"] == "botocore.x"
        assert event["level"] == "WARNING"
        assert event["cid"] == "cid9"

    def test_stdlib_exception_is_compact(self) -> None:
        """logger.exception() renders type, msg and frames, no traceback block."""
        with capture_logs() as cap:
            try:
                raise RuntimeError("db locked")
            except RuntimeError:
                logging.getLogger("app").exception("query failed")
        assert cap.events[0]["type"] == "RuntimeError"
        assert len(cap.lines) == 1

    def test_uvicorn_loggers_propagate(self) -> None:
        """uvicorn's own handlers are replaced so its records use our format."""
        with capture_logs() as cap:
            logging.getLogger("uvicorn.error").info("Started server process")
        assert cap.events[0]["logger"] == "uvicorn.error"

    def test_extra_fields_are_kept(self) -> None:
        """extra= fields of a stdlib record appear on the line."""
        with capture_logs() as cap:
            logging.getLogger("app").info("x", extra={"order_id": 7})
        assert cap.events[0]["order_id"] == 7


class _Closed(io.StringIO):
    def write(self, s: str) -> int:
        raise ValueError("I/O operation on closed file.")


class _RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class TestNeverRaises:
    def test_closed_stream_drops_and_counts(self) -> None:
        """Writing to a closed stream returns normally and counts the dropped line."""
        bellwatch.configure(stream=_Closed(), log_file=False)
        bellwatch.get_logger().info("lost")
        assert bellwatch.stats()["lines_dropped"] == 1

    def test_full_disk_drops_and_counts(self, tmp_path: Path) -> None:
        """A file sink on /dev/full loses the line, not the request."""
        (tmp_path / "svc.jsonl").symlink_to("/dev/full")
        bellwatch.configure(
            stream=io.StringIO(), service="svc", log_file=True, log_dir=str(tmp_path)
        )
        bellwatch.get_logger().info("disk full")
        assert bellwatch.stats()["lines_dropped"] == 1

    def test_raising_repr_degrades_one_value(self) -> None:
        """An object whose repr raises is replaced by a placeholder."""
        with capture_logs() as cap:
            bellwatch.get_logger().info("e", obj=_RaisingRepr())
        assert cap.events[0]["obj"] == "<unrepresentable _RaisingRepr>"
        assert bellwatch.stats()["values_replaced"] == 1

    def test_recursive_value_renders(self) -> None:
        """A self-referencing structure still yields one valid line."""
        loop: dict[str, Any] = {}
        loop["me"] = loop
        with capture_logs() as cap:
            bellwatch.get_logger().info("e", loop=loop)
        assert cap.events[0]["event"] == "e"

    @pytest.mark.internal_errors
    def test_failing_processor_yields_a_minimal_line(self) -> None:
        """A user processor that raises is counted; the call still returns."""

        def broken(_l: object, _m: str, _e: dict[str, Any]) -> dict[str, Any]:
            raise RuntimeError("broken processor")

        buf = io.StringIO()
        bellwatch.configure(stream=buf, log_file=False, processors=[broken])
        bellwatch.get_logger().info("e", secret_value="s")
        line = orjson.loads(buf.getvalue())
        assert line["event"] == "bellwatch_internal_error"
        assert "secret_value" not in buf.getvalue()
        assert bellwatch.stats()["internal_errors"] == 1

    def test_threads_share_one_sink_safely(self) -> None:
        """Lines from many threads never interleave inside a line."""
        with capture_logs() as cap:
            log = bellwatch.get_logger()
            threads = [
                threading.Thread(target=lambda: [log.info("t", i=i) for i in range(50)])
                for _ in range(4)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        assert len(cap.events) == 200


def test_stats_are_public() -> None:
    """bellwatch.stats() exposes the pipeline's own counters."""
    assert {"lines_written", "lines_dropped", "internal_errors"} <= set(bellwatch.stats())


def test_reset_forgets_configuration() -> None:
    """runtime.reset() makes the next use configure defaults again."""
    bellwatch.configure(stream=io.StringIO(), log_file=False)
    runtime.reset()
    assert pipeline._current is None
