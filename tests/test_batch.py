"""Requests finished in batches: same lines and counts, in order, never lost."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import bellwatch
from bellwatch._runtime import runtime
from bellwatch.log.deferred import BATCH, Deferred
from bellwatch.testing import Captured, capture_logs


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()  # finishes what is still queued, into the monitor it was counted for


def make_app(**options: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/bind")
    async def bind() -> dict[str, bool]:
        bellwatch.bind(sid="CA1", uid="u1")
        return {"ok": True}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError("kaboom")

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        await asyncio.sleep(0.06)
        return {"ok": True}

    return bellwatch.instrument(app, **options)


def call(app: Any, *paths: str, **kw: Any) -> list[httpx.Response]:
    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return [await client.get(path, **kw) for path in paths]

    return asyncio.run(go())


def written(logs: Captured) -> list[str]:
    """What reached the stream so far, without draining the queue."""
    return [line for line in logs._buffer.getvalue().split("\n") if line]


@pytest.fixture
def logs() -> Iterator[Captured]:
    with capture_logs() as captured:
        yield captured


@pytest.fixture
def no_ticks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the flusher thread from draining while a test looks at the queue."""
    monkeypatch.setattr(runtime.flusher, "deferred", Deferred())
    # A tick that read the real queue just before the swap may still drain it: let it
    # finish (the thread reads the queue and drains at once, then sleeps a tick).
    time.sleep(runtime.flusher.tick + 0.05)


class TestQueue:
    def test_a_plain_request_waits_in_the_queue(self, logs: Captured, no_ticks: None) -> None:
        """A 2xx request under the slow threshold is queued, not written at once."""
        call(make_app(), "/ok")
        assert len(runtime.deferred.pending) == 1
        assert not any("request_complete" in line for line in written(logs))

    def test_reading_the_lines_finishes_it(self, logs: Captured) -> None:
        """Captured.lines drains the queue first: the line is there, once."""
        call(make_app(), "/ok")
        assert sum(e["event"] == "request_complete" for e in logs.events) == 1
        assert not runtime.deferred.pending

    def test_a_queued_line_keeps_its_own_id_and_end_time(self, logs: Captured) -> None:
        """Written later, outside its context, the line still has its cid and its ts."""
        before = time.time_ns() // 1_000_000
        call(make_app(), "/ok", headers={"x-request-id": "abc-123"})
        after = time.time_ns() // 1_000_000
        time.sleep(0.01)
        (line,) = [e for e in logs.events if e["event"] == "request_complete"]
        assert line["cid"] == "abc-123"
        assert before <= line["ts"] <= after

    def test_bound_fields_keep_their_place(self) -> None:
        """A queued line has the same keys in the same order as one written at once."""
        orders = []
        for flush in (0.2, 0.0):
            with capture_logs(log_flush=flush) as captured:
                call(make_app(), "/bind")
                (line,) = [e for e in captured.events if e["event"] == "request_complete"]
            orders.append(list(line))
        assert orders[0] == orders[1]

    def test_the_64th_request_drains_the_queue(self, logs: Captured, no_ticks: None) -> None:
        """The queue never holds a full batch: the request that fills it finishes it."""
        call(make_app(), *["/ok"] * BATCH)
        assert not runtime.deferred.pending
        assert sum("request_complete" in line for line in written(logs)) == BATCH

    def test_the_flusher_finishes_an_idle_queue(self, logs: Captured) -> None:
        """With no more traffic and nobody reading, the next tick writes the line."""
        call(make_app(), "/ok")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any("request_complete" in line for line in written(logs)):
                break
            time.sleep(0.02)
        assert any("request_complete" in line for line in written(logs))


class TestNotQueued:
    def test_a_500_is_written_at_once(self, logs: Captured) -> None:
        """An unhandled error's lines are urgent: nothing waits."""
        call(make_app(), "/crash")
        assert not runtime.deferred.pending
        assert any('"status":500' in line for line in written(logs))

    def test_a_slow_request_is_written_at_once(self, logs: Captured) -> None:
        """A slow request's WARNING line is urgent too."""
        call(make_app(slow_threshold=0.05), "/slow")
        assert not runtime.deferred.pending
        assert any('"level":"WARNING"' in line for line in written(logs))

    def test_log_flush_zero_finishes_every_request_at_once(self) -> None:
        """Without a flush interval, a line is never held back."""
        with capture_logs(log_flush=0) as captured:
            call(make_app(), "/ok")
            assert not runtime.deferred.pending
            assert any("request_complete" in line for line in written(captured))

    def test_a_console_pipeline_finishes_at_once(self) -> None:
        """The dev console renderer takes the general path, in the request's context."""
        with capture_logs(env="dev") as captured:
            call(make_app(), "/ok")
            assert not runtime.deferred.pending
            assert any("request_complete" in line for line in written(captured))

    def test_a_forked_child_never_queues(self, logs: Captured) -> None:
        """A forked worker may end with os._exit: it finishes every request at once."""
        call(make_app(), "/ok")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            ok = not runtime.deferred.pending and not runtime.deferred.allowed
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        # The parent finished its request before forking: written once, by the parent.
        assert sum("request_complete" in line for line in written(logs)) == 1


class TestOrder:
    def test_a_later_line_drains_the_queue_first(self, logs: Captured) -> None:
        """Any other line is written after the queued requests: the log keeps its order."""
        call(make_app(), "/ok", "/ok")
        bellwatch.get_logger("t").info("after_requests")
        events = [e["event"] for e in logs.events]
        assert events[-3:] == ["request_complete", "request_complete", "after_requests"]

    def test_an_urgent_request_comes_after_queued_ones(self, logs: Captured) -> None:
        """A 500 drains the queue before its own line."""
        call(make_app(), "/ok", "/crash")
        statuses = [e["status"] for e in logs.events if e["event"] == "request_complete"]
        assert statuses == [200, 500]

    def test_reconfiguring_finishes_the_queue_first(self, logs: Captured) -> None:
        """A queued line goes to the configuration it ended under."""
        call(make_app(), "/ok")
        with capture_logs() as other:
            assert not runtime.deferred.pending
            assert not [e for e in other.events if e["event"] == "request_complete"]
        assert [e for e in logs.events if e["event"] == "request_complete"]


class TestNumbers:
    def test_snapshot_counts_queued_requests(self, logs: Captured) -> None:
        """/metrics reads exact numbers: the snapshot drains first."""
        call(make_app(), "/ok", "/ok")
        assert runtime.monitor().snapshot().endpoints["/ok"].count == 2

    def test_end_session_does_not_revive_a_queued_session(self, logs: Captured) -> None:
        """A call that ends while its last request is still queued stays ended."""
        call(make_app(), "/bind")
        bellwatch.end_session("CA1")
        assert runtime.monitor().snapshot().active_sessions == 0

    def test_stats_are_final(self, logs: Captured) -> None:
        """bellwatch.stats() counts the queued request's line as written."""
        before = bellwatch.stats()["lines_written"]
        call(make_app(), "/ok")
        after = bellwatch.stats()["lines_written"]
        assert isinstance(before, int) and isinstance(after, int)
        assert after - before == 1


class TestFailure:
    @pytest.mark.internal_errors
    def test_a_raising_finisher_is_counted_and_not_retried(self) -> None:
        """A finisher that breaks its promise loses its batch once, counted; the queue moves on."""
        calls = []

        class Broken:
            def finish_queued(self, items: list[tuple[Any, ...]]) -> None:
                calls.append(len(items))
                raise RuntimeError("bug")

        before = bellwatch.stats()["internal_errors"]
        broken = Broken()
        runtime.deferred.pending.append((runtime.deferred.number(broken),))
        runtime.deferred.drain()
        runtime.deferred.drain()
        after = bellwatch.stats()["internal_errors"]
        assert calls == [1]
        assert not runtime.deferred.pending
        assert isinstance(before, int) and isinstance(after, int)
        assert after == before + 1

    def test_a_finisher_that_is_gone_leaves_nothing_queued(self) -> None:
        """Finishers are held weakly: the queued items of one that is gone are dropped."""
        import gc

        class Finisher:
            def finish_queued(self, items: list[tuple[Any, ...]]) -> None:
                raise AssertionError("a gone finisher is never called")

        finisher = Finisher()
        runtime.deferred.pending.append((runtime.deferred.number(finisher),))
        del finisher
        gc.collect()
        runtime.deferred.drain()
        assert not runtime.deferred.pending

    def test_a_finisher_keeps_its_number(self) -> None:
        """Numbering the same finisher twice gives the same number; another gets another."""

        class Finisher:
            def finish_queued(self, items: list[tuple[Any, ...]]) -> None:
                pass

        one, two = Finisher(), Finisher()
        assert runtime.deferred.number(one) == runtime.deferred.number(one)
        assert runtime.deferred.number(one) != runtime.deferred.number(two)
