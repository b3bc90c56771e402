"""The request line's fast path writes exactly what the general pipeline writes."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import bellwatch
from bellwatch.asgi._request_line import RequestLine
from bellwatch.log import pipeline
from bellwatch.log.context import get_cid, get_fields, request_scope
from bellwatch.testing import capture_logs


def write(line: bytes | None, level: str) -> None:
    """Write a built line as the middleware does."""
    assert line is not None
    pipeline.current().sink.write(line, level != "info")


def ns() -> int:
    return time.time_ns()


def _strip_ts(line: str) -> str:
    return re.sub(r'^\{"ts":\d+,', "{", line)


request_fields = st.dictionaries(
    st.sampled_from(["uid", "sid", "token", "note", "phone", "path"]),
    st.one_of(st.text(max_size=300), st.integers(), st.just("+15551234567")),
    max_size=4,
)


# Values the redactor masks on a line's own facts, next to plain ones.
line_paths = st.sampled_from(["/a/{id}", "/call/+15551234567", "x" * 300, "/cb?token=s3cret"])
http_methods = st.sampled_from(["GET", "+14155550123"])
inbound_ids = st.sampled_from(["abc123", "token=s3cret"])


# What both fast paths are checked on: fields bound before and during the request,
# a line's own facts, the level, and the inbound id.
line_cases = {
    "bound": request_fields,
    "late": request_fields,
    "path": line_paths,
    "method": st.sampled_from(["info", "warning", "error"]),
    "http": http_methods,
    "cid": inbound_ids,
}


def assert_emit_writes_the_same(
    build: Callable[[], bytes | None],
    method: str,
    event: dict[str, Any],
    cid: str,
    bound: dict[str, Any],
) -> None:
    """What ``build()`` gives in a context with ``cid`` and ``bound`` is what emit() writes."""
    with capture_logs() as captured, request_scope(cid), bellwatch.bound(**bound):
        write(build(), method)
        pipeline.current().emit(method, dict(event))
    # Split on "\n" only: Captured.lines uses splitlines(), which also splits on
    # characters such as U+0085 that JSON strings may carry unescaped.
    fast, slow = captured._buffer.getvalue().rstrip("\n").split("\n")
    assert _strip_ts(fast) == _strip_ts(slow)


class TestSameBytesAsEmit:
    @settings(max_examples=60, deadline=None)
    @given(**line_cases)
    def test_writes_exactly_what_emit_writes(
        self,
        bound: dict[str, Any],
        late: dict[str, Any],
        path: str,
        method: str,
        http: str,
        cid: str,
    ) -> None:
        """Same keys, order, redaction and budget as Pipeline.emit, for any bound fields."""
        event = {"event": "request_complete", "method": http, "path": path, "status": 200}
        event.update(duration=0.012, **late)
        assert_emit_writes_the_same(
            lambda: RequestLine().event_line(method, dict(event), get_cid(), get_fields(), ns()),
            method,
            event,
            cid,
            bound,
        )

    @settings(max_examples=60, deadline=None)
    @given(
        **line_cases,
        sid=st.one_of(st.none(), st.just("CA123"), st.just("+15551234567")),
        duration=st.floats(min_value=0, max_value=1e4),
    )
    def test_request_line_is_what_emit_writes_for_its_event(
        self,
        bound: dict[str, Any],
        late: dict[str, Any],
        sid: str | None,
        path: str,
        method: str,
        duration: float,
        http: str,
        cid: str,
    ) -> None:
        """The built-once line equals emit() of the event: facts, then late fields, then sid."""
        event: dict[str, Any] = {
            "event": "request_complete",
            "method": http,
            "path": path,
            "status": 200,
            "duration": round(duration, 3),
        }
        for key, value in late.items():
            event.setdefault(key, value)
        if sid is not None:
            event.setdefault("sid", sid)
        assert_emit_writes_the_same(
            lambda: RequestLine().line(
                method, http, path, 200, duration, dict(late), sid, cid, get_fields(), ns()
            ),
            method,
            event,
            cid,
            bound,
        )

    def test_redact_keys_naming_our_keys_still_apply(self) -> None:
        """redact_keys=path masks the path on the fast path too."""
        event = {"event": "request_complete", "method": "GET", "path": "/a", "status": 200}
        with capture_logs(redact_keys="path") as captured:
            write(
                RequestLine().event_line("info", dict(event, duration=0.1), None, {}, ns()), "info"
            )
        assert captured.events[0]["path"] == "***"
