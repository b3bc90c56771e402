"""CloudWatch Embedded Metric Format lines, checked against the specification's structure."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import io
import math
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI, HTTPException
from hypothesis import given
from hypothesis import strategies as st

import bellwatch
from bellwatch import _guard, instrument
from bellwatch._runtime import runtime
from bellwatch.log.outlet import PIPE_BUF
from bellwatch.monitor import Monitor
from bellwatch.monitor.emf import METRICS, EmfWriter, MinuteStats, lines_for
from bellwatch.testing import capture_logs
from emf_spec import check_line, check_lines

# Units the EMF specification (and PutMetricData) accepts.
UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
    "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count",
    "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
    "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
    "Terabits/Second", "Count/Second", "None",
}  # fmt: skip


def check_emf(doc: dict[str, Any]) -> None:
    """Assert ``doc`` follows the EMF specification's document structure."""
    check_line(orjson.dumps(doc))  # every rule, on the line as written
    assert len(orjson.dumps(doc)) <= 1024 * 1024
    meta = doc["_aws"]
    assert set(meta) <= {"Timestamp", "CloudWatchMetrics"}
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 0
    directives = meta["CloudWatchMetrics"]
    assert isinstance(directives, list) and directives
    for directive in directives:
        assert set(directive) == {"Namespace", "Dimensions", "Metrics"}
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and 1 <= len(namespace) <= 255
        assert not namespace.startswith("AWS/")
        for dimension_set in directive["Dimensions"]:
            assert isinstance(dimension_set, list) and len(dimension_set) <= 30
            for name in dimension_set:
                # CloudWatch's Dimension: 1-1024 ASCII characters, no control character,
                # at least one that is not whitespace.
                value = doc[name]
                assert isinstance(value, str) and 1 <= len(value) <= 1024
                assert value.isascii() and value.isprintable() and value.strip()
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            assert 1 <= len(metric["Name"]) <= 255
            assert metric.get("Unit", "None") in UNITS
            value = doc[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= 100
            assert all(isinstance(v, int | float) and math.isfinite(v) for v in values)


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def written(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in buffer.getvalue().splitlines()]


def minute(*durations: float, status: int = 200) -> MinuteStats:
    """A minute of requests counted as the writer counts them."""
    writer = EmfWriter("Bella", "api", stream=io.StringIO())
    for d in durations:
        writer("/a", status, d, d > 2, 60.0)
    return writer._stats.get("/a") or MinuteStats()


class TestLines:
    def test_every_line_follows_the_specification(self) -> None:
        """Per-path and total lines pass the structural check."""
        stats = minute(0.1, 0.2, 2.5)
        for doc in lines_for("Bella", "api", 1_700_000_040.0, {"/a": stats, "/b": stats}):
            check_emf(doc)

    def test_dimension_values_are_valid_for_cloudwatch(self) -> None:
        """Non-ASCII, a control character, a blank service and a long route make valid lines."""
        stats = minute(0.1)
        paths = {"/café/{id}": stats, "/a\tb": stats, "/" + "x" * 2000: stats}
        for doc in lines_for("Bella", " ", 60.0, paths):
            check_emf(doc)

    def test_dimension_values_stay_distinct(self) -> None:
        """Two routes that differ only outside ASCII keep two Path values."""
        stats = MinuteStats()
        docs = lines_for("Bella", "api", 60.0, {"/café": stats, "/cafè": stats})
        assert docs[0]["Path"] != docs[1]["Path"]

    def test_total_line_sums_the_paths(self) -> None:
        """The service line has only the Service dimension and the summed counts."""
        a, b = minute(0.1, status=500), minute(3.0)
        total = lines_for("Bella", "api", 60.0, {"/a": a, "/b": b})[-1]
        assert total["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]]
        assert (total["Requests"], total["ServerErrors"], total["SlowRequests"]) == (2, 1, 1)

    def test_timestamp_is_the_minute_start_in_ms(self) -> None:
        """Timestamp is epoch milliseconds of the minute the requests fell in."""
        doc = lines_for("Bella", "api", 1_700_000_040.0, {"/a": MinuteStats()})[0]
        assert doc["_aws"]["Timestamp"] == 1_700_000_040_000

    def test_declares_every_metric(self) -> None:
        """Each metric written is declared with a unit."""
        doc = lines_for("Bella", "api", 60.0, {"/a": MinuteStats()})[0]
        declared = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        assert [(m["Name"], m["Unit"]) for m in declared] == list(METRICS)


class TestWriter:
    def test_minute_is_written_when_the_next_begins(self) -> None:
        """A minute's lines are written by the next minute's first request, not before."""
        buffer = io.StringIO()
        clock = Clock(600.0)
        writer = EmfWriter("Bella", "api", stream=buffer)
        monitor = Monitor(clock=clock)
        monitor.listeners.append(writer)
        monitor.observe("/a", 200, 0.1)
        monitor.observe("/a", 503, 0.3)
        assert buffer.getvalue() == ""
        clock.now = 660.0
        monitor.observe("/a", 200, 0.1)
        docs = written(buffer)
        assert [d.get("Path") for d in docs] == ["/a", None]
        assert docs[0]["Requests"] == 2 and docs[0]["ServerErrors"] == 1
        for doc in docs:
            check_emf(doc)

    def test_flush_writes_the_current_minute(self) -> None:
        """flush() (at exit) writes what the current minute holds."""
        buffer = io.StringIO()
        writer = EmfWriter("Bella", "api", stream=buffer)
        writer("/a", 200, 0.1, False, 120.0)
        writer.flush()
        assert written(buffer)[-1]["Requests"] == 1

    def test_idle_service_writes_nothing(self) -> None:
        """No requests, no lines."""
        buffer = io.StringIO()
        EmfWriter("Bella", "api", stream=buffer).flush()
        assert buffer.getvalue() == ""

    def test_path_dimension_is_bounded(self) -> None:
        """Beyond max_endpoints a minute's paths share <other>."""
        buffer = io.StringIO()
        writer = EmfWriter("Bella", "api", stream=buffer, max_endpoints=2)
        for i in range(5):
            writer(f"/r{i}", 200, 0.1, False, 60.0)
        writer.flush()
        assert [d.get("Path") for d in written(buffer)] == ["/r0", "/r1", "<other>", None]


class TestExactMax:
    def test_max_is_the_slowest_request_exactly(self) -> None:
        """Known durations: each path's LatencyMax and the service's are the largest exactly."""
        buffer = io.StringIO()
        writer = EmfWriter("Bella", "api", stream=buffer)
        for path, d in (("/a", 0.103), ("/a", 1.234567), ("/a", 0.5), ("/b", 0.250001)):
            writer(path, 200, d, False, 60.0)
        writer.flush()
        docs = written(buffer)
        assert [(d.get("Path"), d["LatencyMax"]) for d in docs] == [
            ("/a", 1.234567),
            ("/b", 0.250001),
            (None, 1.234567),
        ]

    def test_each_minute_has_its_own_max(self) -> None:
        """A slow request of one minute is not the next minute's max."""
        buffer = io.StringIO()
        writer = EmfWriter("Bella", "api", stream=buffer)
        writer("/a", 200, 3.0, True, 60.0)
        writer("/a", 200, 0.2, False, 120.0)
        writer.flush()
        assert [d["LatencyMax"] for d in written(buffer)] == [3.0, 3.0, 0.2, 0.2]

    @given(st.lists(st.floats(0.0, 600.0), min_size=1, max_size=200))
    def test_max_is_exact_and_no_quantile_exceeds_it(self, durations: list[float]) -> None:
        """Any durations: LatencyMax is their max, and p50 <= p95 <= p99 <= max."""
        (doc, _total) = lines_for("Bella", "api", 60.0, {"/a": minute(*durations)})
        assert doc["LatencyMax"] == round(max(durations), 6)
        assert doc["LatencyP50"] <= doc["LatencyP95"] <= doc["LatencyP99"] <= doc["LatencyMax"]


# Seconds a call may take before the test calls it stalled: generous for a loaded machine,
# and far below forever, which is what a blocking write to a full pipe takes.
DEADLINE = 60.0


def _unread_pipe() -> tuple[int, int]:
    """A pipe nobody reads, its buffer made small where Linux allows (it fills sooner)."""
    r, w = os.pipe()
    with contextlib.suppress(AttributeError, OSError):
        fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    return r, w


def _returns(call: Callable[[], object]) -> bool:
    """Whether ``call`` returns within DEADLINE (run in a thread: a stalled one stays there)."""
    done = threading.Event()

    def run() -> None:
        call()
        done.set()

    threading.Thread(target=run, daemon=True).start()
    return done.wait(DEADLINE)


class TestStalledStdout:
    def test_emf_into_a_full_pipe_never_blocks_and_counts_drops(self) -> None:
        """3,000 routes' lines (~2 MB) into a pipe nobody reads: flush returns, and the
        lines that did not fit are counted in emf_dropped and bellwatch.stats()."""
        r, w = _unread_pipe()
        stream = os.fdopen(w, "w")
        try:
            writer = EmfWriter("Bella", "api", stream=stream, max_endpoints=3000)
            for i in range(3000):
                writer(f"/route/{i}", 200, 0.1, False, 60.0)
            assert _returns(writer.flush)
            dropped = _guard.counters.emf_dropped
            assert 0 < dropped <= 3001
            assert bellwatch.stats()["emf_dropped"] == dropped
        finally:
            os.close(r)  # a write still waiting (the stalled case) fails now, and ends
            own = writer._own
            assert own is not None and own.drain(DEADLINE)  # what waited is gone, not later
            stream.close()

    def test_lines_lost_after_they_waited_count_as_emf_drops(self) -> None:
        """Lines waiting in EMF's own outlet when the reader goes away are lost: counted in
        emf_dropped as well as stdout_dropped, not only in the latter."""
        r, w = _unread_pipe()
        stream = os.fdopen(w, "w")
        try:
            writer = EmfWriter("Bella", "api", stream=stream, max_endpoints=300)
            for i in range(300):  # ~200 KB: past the pipe, within the outlet's buffer
                writer(f"/route/{i}", 200, 0.1, False, 60.0)
            assert _returns(writer.flush)
            own = writer._own
            assert own is not None and own.waiting > 0
        finally:
            os.close(r)
        assert own.drain(DEADLINE)
        stream.close()
        assert _guard.counters.emf_dropped == _guard.counters.stdout_dropped > 0

    def test_emf_shares_the_logs_stdout_outlet_and_metrics_count_its_drops(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Standard output a pipe nobody reads, filled by log lines: the EMF flush returns,
        the lines past the shared buffer are dropped and counted, and /metrics (JSON and
        Prometheus) shows them."""
        r, w = _unread_pipe()
        stdout = os.fdopen(w, "w")
        monkeypatch.setattr(sys, "stdout", stdout)
        try:
            bellwatch.configure(emf=True, emf_namespace="Bella", service="api")
            log = bellwatch.get_logger()
            for i in range(100_000):  # until the pipe and the outlet's 1 MiB buffer are full
                log.info("chatty", i=i, pad="x" * 100)
                if _guard.counters.lines_dropped:
                    break
            assert _guard.counters.lines_dropped > 0
            writer = runtime.enable_emf()
            monitor = runtime.monitor()
            for i in range(20):  # 21 lines, ~15 KB: more than a dropped batch leaves free
                monitor.observe(f"/route/{i}", 200, 0.1)
            assert _returns(writer.flush)
            dropped = _guard.counters.emf_dropped
            assert 0 < dropped <= 21
            assert runtime.metrics()["process"]["bellwatch"]["emf_dropped"] == dropped
            text = runtime.prometheus()
            assert 'bellwatch_emf_lines_dropped_total{scope="process"' in text
        finally:
            os.close(r)
            runtime.reset()
            stdout.close()


_EXITING_CHILD = """
import bellwatch
from bellwatch._runtime import runtime
bellwatch.configure(emf=True, emf_namespace="Bella", service="api", stdout=False, log_file=False)
runtime.enable_emf()
monitor = runtime.monitor()
for i in range(50):
    monitor.observe(f"/route/{i}", 200, 0.1)
"""


class TestShutdown:
    def test_lines_a_slow_reader_still_owes_are_written_before_exit(self) -> None:
        """EMF in an outlet of its own (log lines not on stdout), a process that exits
        while its stdout reader is slow: every minute's line still reaches the reader."""
        argv = [sys.executable, "-c", _EXITING_CHILD]
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as child:
            assert child.stdout is not None
            with contextlib.suppress(AttributeError, OSError):
                fcntl.fcntl(child.stdout.fileno(), fcntl.F_SETPIPE_SZ, 4096)
            got: list[bytes] = []
            _read_all(child.stdout.fileno(), got)  # slowly, to the end
            assert child.wait(DEADLINE) == 0
        assert _emf_docs(got) == 51  # each route, and the service


def _read_all(fd: int, into: list[bytes]) -> None:
    """Read ``fd`` to its end, a little at a time (a slow log driver)."""
    with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
        while chunk := f.read(2048):
            into.append(chunk)
            time.sleep(0.001)


def _emf_docs(got: list[bytes]) -> int:
    """The whole EMF lines read so far."""
    lines = b"".join(got).split(b"\n")[:-1]
    return sum(b'"_aws"' in line for line in lines)


class FlushRecorder(io.StringIO):
    """A stream that keeps what each flush sent: one ``write(2)`` on a real stdout."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []
        self._sent = 0

    def flush(self) -> None:
        value = self.getvalue()
        self.flushed.append(value[self._sent :])
        self._sent = len(value)


class TestPipe:
    def test_each_write_is_one_whole_line_within_pipe_buf(self) -> None:
        """A minute of many routes goes out one line per write, so a shared pipe never tears one."""
        stream = FlushRecorder()
        writer = EmfWriter("Bella", "api", stream=stream)
        for i in range(20):
            writer(f"/route/number/{i}", 200, 0.1, False, 60.0)
        writer.flush()
        chunks = [c for c in stream.flushed if c]
        assert len(chunks) == 21
        for chunk in chunks:
            assert chunk.count("\n") == 1 and chunk.endswith("\n")
            assert len(chunk.encode()) <= PIPE_BUF


class TestEnabling:
    def test_off_by_default(self) -> None:
        """Without the emf setting no writer is attached."""
        with capture_logs():
            assert not [w for w in runtime.monitor().listeners if isinstance(w, EmfWriter)]

    def test_setting_attaches_one_writer(self) -> None:
        """With emf=1 the runtime attaches exactly one writer with the namespace."""
        with capture_logs(emf=True, emf_namespace="Bella", service="api"):
            app = instrument(FastAPI())
            instrument(FastAPI())
            (writer,) = [w for w in runtime.monitor().listeners if isinstance(w, EmfWriter)]
            assert (writer.namespace, writer.service) == ("Bella", "api")

            async def go() -> None:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    await c.get("/nope")

            asyncio.run(go())
        assert sum(s.count for s in writer._stats.values()) == 1


_MANY_ROUTES_APP = """
import asyncio
import json
import os

from fastapi import FastAPI, HTTPException
from fastapi.responses import PlainTextResponse

from bellwatch import instrument

app = FastAPI()
ROUTES = int(os.environ["ROUTES"])
AWKWARD = json.loads(os.environ["AWKWARD"])


async def pid():
    return PlainTextResponse(str(os.getpid()))


async def ok(id: str = "", status: int = 200, sleep: float = 0.0):
    if sleep:
        await asyncio.sleep(sleep)
    if status == 599:
        raise RuntimeError("card declined")
    if status != 200:
        raise HTTPException(status_code=status)
    return PlainTextResponse("ok")


app.add_api_route("/pid", pid)
for i in range(ROUTES):
    app.add_api_route(f"/r{i}/{{id}}", ok)
for path in AWKWARD:
    app.add_api_route(path, ok)
app = instrument(app)
"""

# Route templates CloudWatch would refuse as dimension values if written as they are.
_AWKWARD = [
    "/café/{id}", "/ключ/{id}", "/with space", '/quo"te', "/back\\\\slash", "/tab\\there",
    "/" + "x" * 1500, "/{id}:verb", "/emoji/\\U0001f600",
]  # fmt: skip


class TestRealApp:
    def test_every_line_a_real_app_writes_passes_the_specification(self, tmp_path: Any) -> None:
        """A uvicorn app of 130 routes and awkward templates, with 5xx, 4xx and slow requests,
        EMF set only through BELLWATCH_*: every EMF line passes each rule of the specification,
        carries the namespace and service given, and the service lines sum to what was sent."""
        from real_server import UVICORN, Server

        awkward = [p.encode().decode("unicode_escape") for p in _AWKWARD]
        env = {
            "BELLWATCH_EMF": "1", "BELLWATCH_EMF_NAMESPACE": "Bella Voice/api#1",
            "BELLWATCH_SERVICE": "bella api é", "BELLWATCH_SLOW_THRESHOLD": "0.05",
            "ROUTES": "130", "AWKWARD": orjson.dumps(awkward).decode(),
        }  # fmt: skip
        server = Server(tmp_path, UVICORN, env=env, app=_MANY_ROUTES_APP)
        try:
            paths = [f"/r{i}/{i}" for i in range(130)]
            paths += [urllib.parse.quote(p.replace("{id}", "7"), safe="/:") for p in awkward]
            paths += ["/r1/x?status=599"] * 3 + ["/r2/x?status=404"] * 4
            paths += ["/r3/x?sleep=0.1"] * 2 + ["/no/such/route"]
            answers = server.get(paths)
            assert [r.status_code for r in answers].count(200) == 130 + len(awkward) + 2
            server.sigterm()  # the worker writes its minute at shutdown
        finally:
            server.kill()
        docs = check_lines(server.stdout.read_bytes(), now=time.time())
        directives = [d["_aws"]["CloudWatchMetrics"][0] for d in docs]
        assert {d["Namespace"] for d in directives} == {"Bella Voice/api#1"}
        assert {d["Service"] for d in docs} == {"bella api \\xe9"}
        totals = [d for d in docs if "Path" not in d]
        sent = len(paths) + len(server.pids)  # and each worker's /pid
        assert sum(d["Requests"] for d in totals) == sent
        assert sum(d["ServerErrors"] for d in totals) == 3
        assert sum(d["ClientErrors"] for d in totals) == 4 + 1
        assert sum(d["SlowRequests"] for d in totals) >= 2
        # At most max_endpoints routes a minute, the rest under <other>: bounded metrics.
        for stamp in {d["_aws"]["Timestamp"] for d in docs}:
            assert sum(d["_aws"]["Timestamp"] == stamp for d in docs) <= 100 + 1 + 1


class TestIdleMinute:
    def test_a_minute_no_request_follows_is_written_once_it_ends(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Three 5xx, then silence (health checks are not counted): the minute's lines are
        written once it has ended, not when the next request comes, perhaps hours later."""
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        with capture_logs(emf=True, emf_namespace="Bella", service="api"):
            app = FastAPI()

            @app.get("/pay")
            async def pay() -> None:
                raise HTTPException(status_code=503)

            instrument(app)

            async def go() -> None:
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                    for _ in range(3):
                        await c.get("/pay")
                    await c.get("/health")

            asyncio.run(go())
            writer = runtime.enable_emf()
            later = time.time() + 120.0
            writer.clock = lambda: later  # two minutes of nothing but health checks
            deadline = time.monotonic() + DEADLINE
            while '"_aws"' not in out.getvalue() and time.monotonic() < deadline:
                time.sleep(0.05)
            docs = check_lines(out.getvalue().encode())
        (total,) = [d for d in docs if "Path" not in d]
        assert (total["Requests"], total["ServerErrors"]) == (3, 3)

    def test_a_forked_child_writes_only_its_own_minutes(self) -> None:
        """A process that forks after counting: the child starts with no pending minute
        and a lock of its own, and its timer writes only the child's requests."""
        clock = Clock(time.time())
        writer = EmfWriter("Bella", "api", stream=io.StringIO(), clock=clock, timer=True)
        writer("/parent", 200, 0.1, False, clock.now)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what it holds, then count one request
            try:
                held = sorted(writer._stats)
                writer("/child", 200, 0.1, False, clock.now)
                os.write(w, orjson.dumps({"held": held, "now": sorted(writer._stats)}))
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            report = orjson.loads(f.read())
        os.waitpid(pid, 0)
        assert report == {"held": [], "now": ["/child"]}
        assert sorted(writer._stats) == ["/parent"]
