"""The stdlib bridge: records of an app's, a library's and a server's loggers as bellwatch lines."""

from __future__ import annotations

import io
import logging
import logging.config
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bellwatch._runtime import runtime
from bellwatch.testing import capture_logs


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


@pytest.fixture
def _quiet_pytest_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    """pytest's own capture handler re-raises a record's formatting error; production's
    handlers (logging.raiseExceptions off) do not."""
    monkeypatch.setattr(logging, "raiseExceptions", False)


@pytest.mark.usefixtures("_quiet_pytest_handler")
class TestMessage:
    def test_arguments_that_do_not_fit_keep_the_line(self) -> None:
        """A record whose %-arguments do not fit its message is written, showing both."""
        with capture_logs() as cap:
            logging.getLogger("app").error("charge %s failed: %s", 42)  # noqa: PLE1206 - the mistake on trial
            logging.getLogger("app").info("%(order)s", {"id": 1})
        assert [e["event"] for e in cap.events] == [
            "charge %s failed: %s (42,)",
            "%(order)s {'id': 1}",
        ]
        assert cap.events[0]["level"] == "ERROR"

    def test_an_argument_whose_str_raises_keeps_the_line(self) -> None:
        """An argument that cannot be printed is named by its type; the line is written."""
        with capture_logs() as cap:
            logging.getLogger("app").warning("got %s", _Unprintable())
        assert cap.events[0]["event"] == "got %s (<unrepresentable _Unprintable>,)"


class TestExtra:
    def test_extra_never_rewrites_the_lines_own_keys(self) -> None:
        """extra= named ts, level, event or logger leaves the record's own values on the line."""
        with capture_logs() as cap:
            logging.getLogger("lib").warning(
                "real", extra={"ts": 1, "level": "DEBUG", "event": "fake", "logger": "x", "k": 2}
            )
        event = cap.events[0]
        assert (event["event"], event["level"], event["logger"]) == ("real", "WARNING", "lib")
        assert event["ts"] > 1 and event["k"] == 2


@pytest.fixture
def console_handler() -> Iterator[logging.Handler]:
    """What logging.basicConfig() puts on the root logger: a handler writing to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(handler)
    try:
        yield handler
    finally:
        logging.getLogger().removeHandler(handler)


class TestRootHandlers:
    def test_a_console_handler_on_the_root_is_taken_off(
        self, console_handler: logging.Handler
    ) -> None:
        """basicConfig() before configure() gives one JSON line per record, not a plain copy too."""
        with capture_logs():
            assert console_handler not in logging.getLogger().handlers

    def test_the_console_handler_comes_back_when_bellwatch_lets_go(
        self, console_handler: logging.Handler
    ) -> None:
        """capture_stdlib=False (and a reset) puts the app's own handler back."""
        with capture_logs():
            pass
        runtime.configure(stream=io.StringIO(), capture_stdlib=False)
        assert console_handler in logging.getLogger().handlers

    def test_a_file_handler_stays(self, tmp_path: Path) -> None:
        """A handler writing elsewhere (a file) keeps its copy: it is not a duplicate."""
        handler = logging.FileHandler(tmp_path / "app.log")
        logging.getLogger().addHandler(handler)
        try:
            with capture_logs():
                assert handler in logging.getLogger().handlers
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()


def _caller_of_stack_test() -> None:
    logging.getLogger("app").warning("slow path", stack_info=True)


class TestStackInfo:
    def test_stack_info_gives_the_apps_frames(self) -> None:
        """stack_info=True writes the app's frames that led to the call, innermost last."""
        with capture_logs() as cap:
            _caller_of_stack_test()
        frames = cap.events[0]["stack"].split(" > ")
        assert frames[-1].startswith("test_stdlib:_caller_of_stack_test:")
        assert frames[-2].startswith("test_stdlib:test_stack_info_gives_the_apps_frames:")
        assert "stack_info" not in cap.events[0]


class TestServerConfigAfterConfigure:
    def test_uvicorns_config_applied_after_configure_is_taken_back(
        self, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """uvicorn.run(app) after configure() applies uvicorn's logging config again: its
        lines still come out as bellwatch's, once, and its access log stays quiet."""
        uvicorn_config = pytest.importorskip("uvicorn.config")
        with capture_logs() as cap:
            logging.config.dictConfig(uvicorn_config.LOGGING_CONFIG)
            logging.getLogger("uvicorn.error").info("Started server process [1]")
            access = logging.getLogger("uvicorn.access")
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:1", "GET", "/", "1.1", 200)
            logging.getLogger("uvicorn.error").warning("Shutting down")
        assert [e["event"] for e in cap.events] == ["Started server process [1]", "Shutting down"]
        assert capsys.readouterr().err == ""
