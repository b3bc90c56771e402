"""The bound logger: structlog's API, and a fast path that writes what the general way writes."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Any

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

import bellwatch
from bellwatch.log import context, pipeline
from bellwatch.log.context import request_scope
from bellwatch.log.logger import BoundLogger, get_logger
from bellwatch.testing import capture_logs


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def _strip_ts(line: str) -> str:
    return re.sub(r'^\{"ts":("[^"]*"|\d+),?', "{", line)


class TestApi:
    def test_bind_adds_fields_to_a_new_logger(self) -> None:
        """bind() returns a new logger with more fields; the original is unchanged."""
        log = get_logger(a=1)
        with capture_logs() as cap:
            log.bind(b=2).info("e")
            log.info("e")
        assert [(e.get("a"), e.get("b")) for e in cap.events] == [(1, 2), (1, None)]

    def test_unbind_removes_and_refuses_missing_keys(self) -> None:
        """unbind() drops a bound key and raises KeyError for one that is not bound."""
        log = get_logger(a=1, b=2)
        with capture_logs() as cap:
            log.unbind("a").info("e")
        assert "a" not in cap.events[0]
        with pytest.raises(KeyError):
            log.unbind("zzz")

    def test_try_unbind_ignores_missing_keys(self) -> None:
        """try_unbind() drops what is bound and ignores the rest."""
        with capture_logs() as cap:
            get_logger(a=1).try_unbind("a", "zzz").info("e")
        assert "a" not in cap.events[0]

    def test_new_clears_then_binds(self) -> None:
        """new() clears the logger's own fields (as structlog does) and binds the new ones."""
        log = get_logger(a=1)
        with capture_logs() as cap:
            log.info("before")
            log.new(b=2).info("after")
            log.info("cleared")
        assert [("a" in e, e.get("b")) for e in cap.events] == [
            (True, None),
            (False, 2),
            (False, None),
        ]

    def test_aliases_write_at_their_levels(self) -> None:
        """msg, warn, err and fatal are info, warning, error and critical."""
        log = get_logger()
        with capture_logs() as cap:
            log.msg("m")
            log.warn("w")
            log.err("e")
            log.fatal("f")
        assert [e.get("level", "INFO") for e in cap.events] == [
            "INFO",
            "WARNING",
            "ERROR",
            "CRITICAL",
        ]

    def test_exception_carries_the_exception(self) -> None:
        """exception() logs at ERROR with the exception being handled."""
        with capture_logs() as cap:
            try:
                raise ValueError("boom")
            except ValueError:
                get_logger().exception("failed")
        event = next(e for e in cap.events if e["event"] == "failed")
        assert (event["level"], event["type"], event["msg"]) == ("ERROR", "ValueError", "boom")

    def test_log_takes_a_numeric_level(self) -> None:
        """log(logging.WARNING, ...) writes a WARNING line; a filtered level writes nothing."""
        with capture_logs() as cap:
            get_logger().log(logging.WARNING, "w")
            get_logger().log(logging.DEBUG, "d")
        assert [e["event"] for e in cap.events] == ["w"]
        assert cap.events[0]["level"] == "WARNING"

    def test_levels_can_be_asked(self) -> None:
        """is_enabled_for() and get_effective_level() follow the configured level."""
        with capture_logs(level="WARNING"):
            log = get_logger()
            assert log.get_effective_level() == logging.WARNING
            assert log.is_enabled_for(logging.ERROR)
            assert not log.is_enabled_for(logging.INFO)

    def test_positional_arguments_are_interpolated(self) -> None:
        """info("%s of %d", a, b) formats the event, by name with one mapping."""
        with capture_logs() as cap:
            get_logger().info("%s of %d", "page", 3)
            get_logger().info("%(n)s", {"n": "named"})
        assert [e["event"] for e in cap.events] == ["page of 3", "named"]

    @pytest.mark.parametrize(
        ("event", "args", "shown"),
        [
            ("%s of %s", (1,), "%s of %s (1,)"),
            ("%s", (1, 2), "%s (1, 2)"),
            ("%(n)s", ({"m": 1},), "%(n)s ({'m': 1},)"),
            ("%d", ("x",), "%d ('x',)"),
        ],
    )
    def test_arguments_that_do_not_fit_keep_the_line(
        self, event: str, args: tuple[Any, ...], shown: str
    ) -> None:
        """Arguments that do not fit the event never raise: the line shows both as given."""
        with capture_logs() as cap:
            get_logger().info(event, *args, k=1)
            get_logger(a=[1]).warning(event, *args)  # the general way
        assert [e["event"] for e in cap.events] == [shown, shown]
        assert cap.events[0]["k"] == 1

    def test_an_argument_whose_str_raises_keeps_the_line(self) -> None:
        """An argument whose __str__ and __repr__ raise is named by its type, not raised."""
        with capture_logs() as cap:
            get_logger().info("got %s", _Unprintable())
        assert cap.events[0]["event"] == "got %s (<unrepresentable _Unprintable>,)"

    def test_fields_never_rewrite_the_lines_level_or_time(self) -> None:
        """A call's or a logger's own ts and level fields leave the line's own in place."""
        with capture_logs() as cap:
            get_logger().warning("a", level="DEBUG", ts=1, k=1)
            get_logger(level="DEBUG", ts=1).error("b")
        assert [(e["event"], e["level"]) for e in cap.events] == [("a", "WARNING"), ("b", "ERROR")]
        assert all(e["ts"] > 1 for e in cap.events)
        assert cap.events[0]["k"] == 1

    def test_stack_info_gives_the_apps_frames(self) -> None:
        """stack_info=True writes the app's frames that led to the call, innermost last."""
        with capture_logs() as cap:
            get_logger().info("here", stack_info=True)
            get_logger().info("not here", stack_info=False)
        frames = cap.events[0]["stack"].split(" > ")
        assert frames[-1].startswith("test_logger:test_stack_info_gives_the_apps_frames:")
        assert "stack_info" not in cap.events[0]
        assert "stack" not in cap.events[1] and "stack_info" not in cap.events[1]

    def test_async_methods_write_at_once(self) -> None:
        """ainfo() and friends write the same line as their sync twins."""

        async def main(log: BoundLogger) -> None:
            await log.ainfo("a", n=1)
            await log.awarning("w")

        with capture_logs() as cap:
            asyncio.run(main(get_logger()))
        assert [(e["event"], e.get("level", "INFO")) for e in cap.events] == [
            ("a", "INFO"),
            ("w", "WARNING"),
        ]

    def test_a_method_taken_before_the_first_call_is_the_compiled_one(self) -> None:
        """info = log.info before any call already writes through the fast path."""
        with capture_logs() as cap:
            info = get_logger().info
            assert not hasattr(info, "__self__")  # a plain function, not a bound method
            info("e", n=1)
        assert cap.events[0]["n"] == 1

    def test_structlog_reads_the_context(self) -> None:
        """structlog.get_context() sees the logger's own fields."""
        assert structlog.get_context(get_logger(a=1).bind(b=2)) == {"a": 1, "b": 2}


values = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["+15551234567", "Bearer abcdefgh12345", "4111111111111111", "a=b"]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just(4111111111111111),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.lists(st.text(max_size=8), max_size=3),
    st.dictionaries(st.sampled_from(["password", "x"]), st.text(max_size=8), max_size=2),
    st.just(b"bytes"),
)
keys = st.sampled_from(
    ["uid", "sid", "path", "password", "phone", "token", "key", "ts", "level", "cid", "note"]
)
fields_st = st.dictionaries(keys, values, max_size=4)


class TestShowable:
    def test_a_bidi_override_in_a_call_is_escaped_in_the_line(self) -> None:
        """The compiled logger method escapes what a terminal would obey, as the renderer does."""
        with capture_logs() as cap:
            get_logger().info("upload", name="invoice\u202efdp.exe", note="\x9b[2J")
        assert "\\u202e" in cap.lines[0] and "\\u009b" in cap.lines[0]
        assert cap.events[0]["name"] == "invoice\u202efdp.exe"


class TestFastPathSameBytes:
    @settings(max_examples=150, deadline=None)
    @given(
        kw=fields_st,
        own=st.dictionaries(
            st.sampled_from(["svc", "event", "level", "token"]), values, max_size=3
        ),
        bound=fields_st,
        event=st.one_of(st.text(max_size=30), st.just("Bearer abcdefgh12345"), st.integers()),
        cid=st.sampled_from(["3f9a1c7e2b4d", "token=s3cret", None]),
        level=st.sampled_from(["info", "warning", "error"]),
        max_line=st.sampled_from([100, 200, 100_000]),
    )
    def test_writes_what_the_general_way_writes(
        self,
        kw: dict[str, Any],
        own: dict[str, Any],
        bound: dict[str, Any],
        event: Any,
        cid: str | None,
        level: str,
        max_line: int,
    ) -> None:
        """Any fields, bound or passed, any event and id: the same bytes as Pipeline.log,
        and as structlog's own filtering bound logger running the pipeline (the old way)."""
        with capture_logs(max_line=max_line) as cap, request_scope(cid or ""):
            if cid is None:
                context.set_cid(None)
            with bellwatch.bound(**bound):
                getattr(get_logger(**own), level)(event, **kw)
                pipe = pipeline.current()
                pipe.log(level, event, own, dict(kw))
                old = structlog.make_filtering_bound_logger(logging.INFO)
                getattr(old(pipe.sink, [pipe], dict(own)), level)(event, **kw)
            lines = cap._buffer.getvalue().rstrip("\n").split("\n")
        fast, general, structlogs = (_strip_ts(line) for line in lines)
        assert fast == general == structlogs

    @pytest.mark.parametrize("timestamp", ["ms", "iso"])
    def test_both_timestamp_formats_take_the_fast_path(self, timestamp: str) -> None:
        """A plain line with either timestamp format matches the general way."""
        with capture_logs(timestamp=timestamp) as cap:
            get_logger().info("e", n=1)
            pipeline.current().log("info", "e", {}, {"n": 1})
        fast, general = cap.lines
        assert pipeline.current().fast is not None
        assert _strip_ts(fast) == _strip_ts(general)

    def test_a_user_processor_takes_the_general_way(self) -> None:
        """With the user's own processors there is no fast path, and they still run."""

        def tag(_: object, __: str, event: dict[str, Any]) -> dict[str, Any]:
            event["tagged"] = True
            return event

        bellwatch.configure(stdout=False, processors=[tag])
        assert pipeline.current().fast is None
