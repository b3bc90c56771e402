"""CloudWatch Embedded Metric Format lines, checked against the specification's structure."""

from __future__ import annotations

import asyncio
import io
import math
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI

from bellwatch import instrument
from bellwatch._runtime import runtime
from bellwatch.log.outlet import PIPE_BUF
from bellwatch.monitor import Monitor
from bellwatch.monitor.emf import METRICS, EmfWriter, lines_for
from bellwatch.store import EndpointStats
from bellwatch.testing import capture_logs

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


class TestLines:
    def test_every_line_follows_the_specification(self) -> None:
        """Per-path and total lines pass the structural check."""
        stats = EndpointStats()
        for d in (0.1, 0.2, 2.5):
            stats.add(200, d, slow=d > 2)
        for doc in lines_for("Bella", "api", 1_700_000_040.0, {"/a": stats, "/b": stats}):
            check_emf(doc)

    def test_dimension_values_are_valid_for_cloudwatch(self) -> None:
        """Non-ASCII, a control character, a blank service and a long route make valid lines."""
        stats = EndpointStats()
        stats.add(200, 0.1, slow=False)
        paths = {"/café/{id}": stats, "/a\tb": stats, "/" + "x" * 2000: stats}
        for doc in lines_for("Bella", " ", 60.0, paths):
            check_emf(doc)

    def test_dimension_values_stay_distinct(self) -> None:
        """Two routes that differ only outside ASCII keep two Path values."""
        stats = EndpointStats()
        docs = lines_for("Bella", "api", 60.0, {"/café": stats, "/cafè": stats})
        assert docs[0]["Path"] != docs[1]["Path"]

    def test_total_line_sums_the_paths(self) -> None:
        """The service line has only the Service dimension and the summed counts."""
        a, b = EndpointStats(), EndpointStats()
        a.add(500, 0.1, slow=False)
        b.add(200, 3.0, slow=True)
        total = lines_for("Bella", "api", 60.0, {"/a": a, "/b": b})[-1]
        assert total["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]]
        assert (total["Requests"], total["ServerErrors"], total["SlowRequests"]) == (2, 1, 1)

    def test_timestamp_is_the_minute_start_in_ms(self) -> None:
        """Timestamp is epoch milliseconds of the minute the requests fell in."""
        doc = lines_for("Bella", "api", 1_700_000_040.0, {"/a": EndpointStats()})[0]
        assert doc["_aws"]["Timestamp"] == 1_700_000_040_000

    def test_declares_every_metric(self) -> None:
        """Each metric written is declared with a unit."""
        doc = lines_for("Bella", "api", 60.0, {"/a": EndpointStats()})[0]
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
