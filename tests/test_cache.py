"""The incremental columnar cache and the aggregate reports read through it."""

from __future__ import annotations

import gzip
import marshal
import os
from pathlib import Path

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bellwatch.sources import _memo, _rollup, aggregate, cache
from fresh_python import run_python


def line(**fields: object) -> bytes:
    return orjson.dumps(fields) + b"\n"


def req(ts: object, path: str, status: int, duration: float, cid: str, **kw: object) -> bytes:
    return line(
        ts=ts,
        level="INFO",
        event="request_complete",
        cid=cid,
        method="GET",
        path=path,
        status=status,
        duration=duration,
        **kw,
    )


@pytest.fixture
def con() -> object:
    c = cache.connect()
    yield c
    c.close()


def _built_by_builder(cache_dir: Path, log: Path, timeout: float = 60) -> bool:
    """Wait for a detached builder to write ``log``'s manifest and exit (it is reaped)."""
    import time

    st = os.stat(log)
    manifest = cache_dir / f"{st.st_dev}-{st.st_ino}.json"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        cache._reap()
        if manifest.exists() and not cache._children:
            return True
        time.sleep(0.05)
    return manifest.exists()


def parts_of(store: cache.Cache, path: Path) -> list[dict[str, object]]:
    st = os.stat(path)
    manifest = store._manifest(f"{st.st_dev}-{st.st_ino}")
    assert manifest is not None
    return manifest["parts"]


class TestCache:
    def test_small_file_cached_in_process(self, tmp_path: Path, con: object) -> None:
        """A small file is cached at once and then read from Parquet only."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1") + b"banner\n")
        store = cache.Cache(str(tmp_path / "c"))
        plan = store.plan([str(log)], con)
        assert plan.raw == [] and len(plan.parts) == 1
        assert plan.skipped == 1

    def test_append_parses_only_new_bytes(self, tmp_path: Path, con: object) -> None:
        """Appended lines become one more Parquet part; the first part is reused untouched."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        first = parts_of(store, log)[0]
        with log.open("ab") as f:
            f.write(req(2, "/b", 500, 0.2, "c2"))
        plan = store.parquet_plan([str(log)], con)
        assert parts_of(store, log)[0] == first
        assert len(plan.parts) == 2
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))
        assert {r["path"] for r in rows} == {"/a", "/b"}

    def test_partial_last_line_waits(self, tmp_path: Path, con: object) -> None:
        """A line without its newline yet is not cached until it is complete."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1") + b'{"ts": 2, "event"')
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        with log.open("ab") as f:
            f.write(b': "request_complete", "path": "/z", "status": 200, "duration": 1}\n')
        plan = store.plan([str(log)], con)
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))
        assert sorted(r["path"] for r in rows) == ["/a", "/z"]
        assert plan.skipped == 0

    def test_rewrite_invalidates(self, tmp_path: Path, con: object) -> None:
        """A file rewritten in place (different first bytes) is parsed again from scratch."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/old", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        log.write_bytes(req(5, "/new", 200, 0.1, "c9") * 2)
        plan = store.plan([str(log)], con)
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))
        assert [(r["path"], r["count"]) for r in rows] == [("/new", 2)]

    def test_rotation_keeps_cache(self, tmp_path: Path, con: object) -> None:
        """A rotated file (same inode, new name) is recognised and not parsed again."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        before = parts_of(store, log)
        rotated = tmp_path / "app.jsonl.1"
        os.replace(log, rotated)
        store.plan([str(rotated)], con)
        assert parts_of(store, rotated) == before

    def test_gzip_and_iso(self, tmp_path: Path, con: object) -> None:
        """Compressed files and ISO timestamps are cached, with ts as epoch ms."""
        log = tmp_path / "app.jsonl.1.gz"
        log.write_bytes(gzip.compress(req("2025-09-26T20:30:15.123+00:00", "/a", 200, 3.0, "c")))
        store = cache.Cache(str(tmp_path / "c"))
        plan = store.plan([str(log)], con)
        rows = aggregate.slow(con, aggregate.Frame(plan.relation()), threshold=2)
        assert rows[0]["ts"] == 1758918615123

    def test_large_uncached_file_read_raw(
        self, tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Above the in-process limit a cold file is read raw and queued for the builder."""
        monkeypatch.setattr(cache, "SYNC_BUILD_BYTES", 10)
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1") + b"junk\n")
        store = cache.Cache(str(tmp_path / "c"), background=True)
        plan = store.plan([str(log)], con)
        assert plan.raw == [str(log)] and plan.to_build == [str(log)]
        need = aggregate.need("endpoints")
        plan.load_raw(con, need.columns, need.where)
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))
        assert rows[0]["count"] == 1
        assert plan.skipped == 1  # counted by the streamed report's own scan

    def test_streamed_cold_read_counts_junk_in_any_window(
        self, tmp_path: Path, con: object
    ) -> None:
        """A streamed cold endpoints read counts non-JSON lines even outside the window."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(b"banner\n" + req(1, "/a", 200, 0.1, "c1") + b'{"ts": 5\n')
        log.write_bytes(log.read_bytes() + req(9, "/b", 200, 0.1, "c2"))
        plan = cache.Plan(raw=[str(log)])
        need = aggregate.need("endpoints")
        plan.load_raw(con, need.columns, need.where)  # type: ignore[arg-type]
        assert plan.stream is not None
        frame = aggregate.Frame(plan.relation(), since_ms=5)
        rows = aggregate.endpoints(con, frame, limit=1)  # type: ignore[arg-type]
        assert [r["path"] for r in rows] == ["/b"]
        assert plan.skipped == 2

    @pytest.mark.parametrize("report", ["errors", "endpoints"])
    def test_streamed_junk_with_fields_takes_no_report_row(
        self, tmp_path: Path, con: object, report: str
    ) -> None:
        """Lines without ts/event but with a hash or a path are skipped, and cost no row."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(
            line(hash="h9", level="ERROR", method="GET", path="/x")
            + line(hash="h8", level="ERROR", method="PUT", path="/y")
            + line(ts=1, level="ERROR", event="error", cid="e1", hash="h", path="/a")
            + req(2, "/a", 500, 0.1, "e1")
        )
        plan = cache.Plan(raw=[str(log)])
        need = aggregate.need(report)
        plan.load_raw(con, need.columns, need.where)  # type: ignore[arg-type]
        assert plan.stream is not None
        compute = aggregate.errors if report == "errors" else aggregate.endpoints
        rows = compute(con, aggregate.Frame(plan.relation()), limit=1)  # type: ignore[operator]
        assert len(rows) == 1
        assert plan.skipped == 2

    def test_cold_errors_look_up_pathless_endpoints(
        self, tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """On a cold, pre-filtered read, error lines without a path still get their endpoint."""
        monkeypatch.setattr(cache, "SYNC_BUILD_BYTES", 10)
        log = tmp_path / "app.jsonl"
        log.write_bytes(
            line(ts=1, level="ERROR", event="error", cid="e1", hash="h", type="T", msg="m")
            + req(2, "/book", 422, 0.1, "e1")
        )
        plan = cache.Plan(raw=[str(log)])
        need = aggregate.need("errors")
        plan.load_raw(con, need.columns, need.where)
        frame = aggregate.Frame(plan.relation(), full=plan.full_relation())
        assert aggregate.errors(con, frame)[0]["endpoints"] == ["/book"]

    def test_detached_builder_caches_the_file_and_is_reaped(
        self, tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """build_later starts a builder in its own session; it writes the cache and exits."""
        monkeypatch.setattr(cache, "SYNC_BUILD_BYTES", 10)
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"), background=True)
        plan = store.plan([str(log)], con)
        store.build_later(plan)
        assert len(cache._children) == 1
        assert _built_by_builder(tmp_path / "c", log)
        assert cache._children == []  # exited and collected: no zombie left behind

    def test_without_posix_spawn_setsid_the_builder_still_starts(
        self, tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A libc without posix_spawn setsid falls back to subprocess; the cache is built."""

        def unsupported(*_args: object, **_kw: object) -> int:
            raise NotImplementedError("setsid")

        monkeypatch.setattr(cache, "SYNC_BUILD_BYTES", 10)
        monkeypatch.setattr(os, "posix_spawn", unsupported)
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"), background=True)
        store.build_later(store.plan([str(log)], con))
        assert _built_by_builder(tmp_path / "c", log)

    def test_builder_entry_point(self, tmp_path: Path) -> None:
        """The detached builder's entry point writes the manifest for each file."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        assert cache._main([str(tmp_path / "c"), str(log)]) == 0
        assert len(parts_of(cache.Cache(str(tmp_path / "c")), log)) == 1


class TestReports:
    @pytest.fixture
    def frame(self, tmp_path: Path, con: object) -> aggregate.Frame:
        log = tmp_path / "app.jsonl"
        log.write_bytes(
            req(1000, "/book", 422, 0.01, "e1")
            + line(
                ts=1000,
                level="ERROR",
                event="error",
                cid="e1",
                type="ValidationError",
                msg="bad phone",
                sev="low",
                hash="9c1e5a7b",
            )
            + line(
                ts=5000,
                level="ERROR",
                event="aggregated_error",
                cid="e2",
                type="ValidationError",
                msg="bad phone",
                sev="medium",
                hash="9c1e5a7b",
                count=20,
            )
            + req(5000, "/book", 422, 0.01, "e2")
            + req(6000, "/twilio/voice", 500, 2.5, "t1", sid="CA1")
            + line(
                ts=6100,
                level="WARNING",
                event="signature_validation_failed",
                cid="t2",
                path="/twilio/voice",
                sid="CA1",
            )
            + req(7000, "/twilio/voice", 200, 0.2, "t3", sid="CA2")
        )
        plan = cache.Cache(str(tmp_path / "c")).plan([str(log)], con)
        return aggregate.Frame(plan.relation())

    def test_errors_use_running_total(self, con: object, frame: aggregate.Frame) -> None:
        """A fingerprint's count is the largest running total, with the worst severity."""
        (row,) = aggregate.errors(con, frame)
        assert (row["hash"], row["count"], row["sev"]) == ("9c1e5a7b", 20, "medium")
        assert row["endpoints"] == ["/book"] and row["cid"] == "e2"
        assert (row["first_ts"], row["last_ts"]) == (1000, 5000)

    def test_slow(self, con: object, frame: aggregate.Frame) -> None:
        """Only requests at or over the threshold, slowest first."""
        rows = aggregate.slow(con, frame, threshold=2.0)
        assert [(r["path"], r["cid"]) for r in rows] == [("/twilio/voice", "t1")]

    def test_twilio_grouped_by_sid(self, con: object, frame: aggregate.Frame) -> None:
        """Non-2xx Twilio requests and bad signatures are grouped by CallSid."""
        rows = aggregate.twilio(con, frame)
        assert [(r["sid"], r["failures"], r["bad_signatures"]) for r in rows] == [("CA1", 2, 1)]

    def test_window(self, con: object, frame: aggregate.Frame) -> None:
        """The time window restricts every report."""
        windowed = aggregate.Frame(frame.relation, since_ms=5500)
        assert aggregate.errors(con, windowed) == []
        assert aggregate.totals(con, windowed)["requests"] == 2

    def test_totals(self, con: object, frame: aggregate.Frame) -> None:
        """Totals count requests, 5xx and 4xx and derive the 5xx rate."""
        t = aggregate.totals(con, frame)
        assert (t["requests"], t["s5xx"], t["s4xx"]) == (4, 1, 2)
        assert t["error_rate"] == pytest.approx(0.25)


class TestMemo:
    def test_round_trip_and_invalidation(self, tmp_path: Path) -> None:
        """An answer is found again for unchanged files and missed after an append."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        memo = cache.Memo(str(tmp_path / "c"))
        key = memo.key("errors:50", [str(log)])
        memo.put(key, [{"hash": "h", "count": 2}], 3)
        assert memo.get(memo.key("errors:50", [str(log)])) == {
            "result": [{"hash": "h", "count": 2}],
            "skipped": 3,
        }
        assert memo.get(memo.key("errors:10", [str(log)])) is None
        with log.open("ab") as f:
            f.write(req(2, "/b", 200, 0.1, "c2"))
        assert memo.get(memo.key("errors:50", [str(log)])) is None

    def test_keeps_newest(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Only the newest MEMO_KEEP answers are kept."""
        monkeypatch.setattr(_memo, "MEMO_KEEP", 2)
        memo = cache.Memo(str(tmp_path / "c"))
        for i in range(4):
            memo.put(f"k{i}", i, 0)
        assert len(list(memo.dir.glob("*.json"))) == 2


class TestPrune:
    def test_unread_caches_removed(self, tmp_path: Path, con: object) -> None:
        """A file cache not read for the age limit is deleted, parts and all; a read one stays."""
        old, new = tmp_path / "old.jsonl", tmp_path / "new.jsonl"
        old.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        new.write_bytes(req(2, "/b", 200, 0.1, "c2"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(old), str(new)], con)
        st = os.stat(old)
        manifest = store.dir / f"{st.st_dev}-{st.st_ino}.json"
        os.utime(manifest, (1, 1))
        assert store.prune() == 1
        assert not list(store.dir.glob(f"{st.st_dev}-{st.st_ino}.*"))
        plan = store.plan([str(new)], con)
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))  # type: ignore[arg-type]
        assert [r["path"] for r in rows] == ["/b"]


class TestDamage:
    def test_corrupt_manifest_rebuilt(self, tmp_path: Path, con: object) -> None:
        """A manifest that is not valid JSON is ignored and the file's cache rebuilt."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        st = os.stat(log)
        (store.dir / f"{st.st_dev}-{st.st_ino}.json").write_bytes(b"\x00{not json")
        plan = store.plan([str(log)], con)
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))  # type: ignore[arg-type]
        assert [(r["path"], r["count"]) for r in rows] == [("/a", 1)]

    def test_damaged_part_rebuilt(self, tmp_path: Path, con: object) -> None:
        """A truncated Parquet part is detected and the file's cache rebuilt."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        part = store.dir / str(parts_of(store, log)[0]["file"])
        part.write_bytes(part.read_bytes()[:20])
        plan = store.plan([str(log)], con)
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))  # type: ignore[arg-type]
        assert [(r["path"], r["count"]) for r in rows] == [("/a", 1)]

    def test_other_version_not_trusted(
        self, tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A cache written under another schema version is rebuilt, not read."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        monkeypatch.setattr(cache, "_VERSION", 999)
        st = os.stat(log)
        assert store._manifest(f"{st.st_dev}-{st.st_ino}") is None
        store.plan([str(log)], con)
        assert store._manifest(f"{st.st_dev}-{st.st_ino}") is not None

    def test_corrupt_memo_is_a_miss(self, tmp_path: Path) -> None:
        """A damaged answer file is treated as missing."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        memo = cache.Memo(str(tmp_path / "c"))
        key = memo.key("errors:50", [str(log)])
        memo.dir.mkdir(parents=True)
        (memo.dir / f"{key}.json").write_bytes(b"[1, 2]")
        assert memo.get(key) is None


class TestEngine:
    def test_a_connection_loads_the_engine_without_the_python_layer(self) -> None:
        """Where DuckDB ships ``_duckdb``, a query never imports the ``duckdb`` package."""
        code = (
            "import sys\nfrom bellwatch.sources import _scan\n"
            "con = _scan.connect()\nassert con.execute('select 42').fetchall() == [(42,)]\n"
            "print('duckdb' in sys.modules)"
        )
        assert run_python(code).strip() == "False"

    def test_falls_back_to_the_package_without_an_engine_module(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An older DuckDB (no top-level ``_duckdb``) is used through ``import duckdb``."""
        import sys

        import duckdb

        from bellwatch.sources import _scan

        monkeypatch.setitem(sys.modules, "_duckdb", None)  # import _duckdb -> ImportError
        assert _scan._engine() is duckdb


class TestEpochSniff:
    def test_epoch_file(self, tmp_path: Path) -> None:
        """A file whose first records carry integer ts is read with ts as BIGINT."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(b"banner\n" + req(1758918615123, "/a", 200, 0.1, "c1"))
        assert cache.epoch_ts([str(log)])

    def test_iso_file(self, tmp_path: Path) -> None:
        """An ISO 8601 ts anywhere in the first records keeps the text path."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(
            req(1, "/a", 200, 0.1, "c1") + req("2025-09-26T20:30:15Z", "/b", 200, 0.1, "c2")
        )
        assert not cache.epoch_ts([str(log)])

    def test_cold_epoch_read_matches_text_read(
        self, tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reading ts as BIGINT gives the same report and skipped count as the text path."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(
            req(1000, "/a", 200, 2.5, "c1") + b'{"ts": 12\n' + req(2000, "/b", 500, 3.0, "c2")
        )
        need = aggregate.need("slow", 2.0)
        answers = []
        for epoch in (True, False):
            monkeypatch.setattr(cache, "epoch_ts", lambda _paths, e=epoch: e)
            plan = cache.Plan(raw=[str(log)])
            plan.load_raw(con, need.columns, need.where)  # type: ignore[arg-type]
            assert plan.epoch is epoch and plan.skipped == 1
            frame = aggregate.Frame(plan.relation(), since_ms=1500)
            answers.append(aggregate.slow(con, frame, 2.0))  # type: ignore[arg-type]
        assert answers[0] == answers[1] and [r["cid"] for r in answers[0]] == ["c2"]


def _corpus(tmp_path: Path, seed: int = 7, lines: int = 3000) -> Path:
    log = tmp_path / "app.jsonl"
    log.write_bytes(_lines(seed, lines))
    return log


def _lines(seed: int, lines: int, start: int = 1_000_000) -> bytes:
    import random

    rng = random.Random(seed)
    out = []
    for i in range(lines):
        ts = start + i * 10
        if rng.random() < 0.01:
            out.append(b"Traceback (most recent call last):\n")
            continue
        if rng.random() < 0.01:
            out.append(b'{"ts": 12, "ev\n')
            continue
        path = rng.choice(["/a", "/b", "/c"])
        dur = round(rng.lognormvariate(0, 1) * 0.3, 4)
        status = rng.choice([200, 200, 200, 404, 500])
        out.append(req(ts, path, status, dur, f"c{i}"))
        if status == 500:
            h = rng.choice(["h1", "h2"])
            sev = rng.choice(["low", "high"])
            out.append(
                line(ts=ts, level="ERROR", event="error", cid=f"c{i}", path=path, hash=h, sev=sev)
            )
    return b"".join(out)


def _answers(con: object, frame: aggregate.Frame) -> tuple[object, ...]:
    eps = aggregate.endpoints(con, frame)  # type: ignore[arg-type]
    return (
        [(r["path"], r["count"], round(r["avg"], 9), round(r["p95"], 9), r["max"]) for r in eps],
        [(r["path"], round(r["error_rate"], 9)) for r in eps],
        aggregate.slow(con, frame, 0.7, limit=10_000),  # type: ignore[arg-type]
        aggregate.slow(con, frame, 2.0, limit=5),  # type: ignore[arg-type]
        [
            (r["hash"], r["count"], r["sev"], r["endpoints"], r["first_ts"], r["last_ts"])
            for r in aggregate.errors(con, frame)  # type: ignore[arg-type]
        ],
    )


class TestRollup:
    def test_a_report_reads_only_its_own_sections(self) -> None:
        """errors answers from a rollup whose other sections are garbage: they are never read."""
        r = _rollup.Rollup()
        r.add_lines(_lines(3, 400))
        blob = bytearray(r.dumps())
        head = int.from_bytes(blob[4:8], "little")
        start, length = marshal.loads(bytes(blob[8 : 8 + head]))["sections"]["ep"]
        blob[8 + head + start : 8 + head + start + length] = b"\xff" * length
        loaded = _rollup.Rollup.loads(bytes(blob))
        assert loaded is not None
        assert loaded.errors(10) == r.errors(10)

    def test_a_truncated_rollup_is_ignored(self) -> None:
        """A file cut short (a full disk mid-write) loads as no rollup, not a wrong one."""
        r = _rollup.Rollup()
        r.add_lines(_lines(3, 400))
        assert _rollup.Rollup.loads(r.dumps()[:-5]) is None

    def test_rollup_matches_duckdb_without_opening_it(self, tmp_path: Path) -> None:
        """After the cache is built, errors/slow/endpoints come from the rollup, as DuckDB says."""
        log = _corpus(tmp_path)
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], cache.connect())  # builds Parquet and the rollup
        con = cache.connect()
        plan = store.plan([str(log)], con)
        assert plan.rollup is not None
        fast = _answers(con, aggregate.Frame(plan.relation()))
        assert con._con is None  # type: ignore[attr-defined]  # DuckDB never opened
        slow_sql = _answers(con, aggregate.Frame(store.parquet_plan([str(log)], con).relation()))
        assert fast == slow_sql
        assert plan.skipped == store.parquet_plan([str(log)], con).skipped

    def test_append_goes_to_tail(self, tmp_path: Path) -> None:
        """Appended lines are folded into a tail rollup with orjson; answers still match DuckDB."""
        log = _corpus(tmp_path)
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], cache.connect())
        with log.open("ab") as f:
            f.write(_lines(8, 500, start=2_000_000))
        con = cache.connect()
        plan = store.plan([str(log)], con)
        assert plan.rollup is not None and list(store.dir.glob("*.tail"))
        fast = _answers(con, aggregate.Frame(plan.relation()))
        assert con._con is None  # type: ignore[attr-defined]
        full = cache.Cache(str(tmp_path / "other")).parquet_plan([str(log)], con)
        assert fast == _answers(con, aggregate.Frame(full.relation()))
        assert plan.skipped == full.skipped

    def test_several_files_merge(self, tmp_path: Path) -> None:
        """Rollups of a rotated file and the live one answer together, as DuckDB does."""
        old = tmp_path / "app.jsonl.1"
        old.write_bytes(_lines(3, 800))
        live = _corpus(tmp_path, seed=4, lines=900)
        paths = [str(old), str(live)]
        store = cache.Cache(str(tmp_path / "c"))
        store.plan(paths, cache.connect())
        con = cache.connect()
        plan = store.plan(paths, con)
        assert plan.rollup is not None
        fast = _answers(con, aggregate.Frame(plan.relation()))
        assert con._con is None  # type: ignore[attr-defined]
        assert fast == _answers(con, aggregate.Frame(store.parquet_plan(paths, con).relation()))

    def test_window_and_low_threshold_read_parquet(self, tmp_path: Path) -> None:
        """A window inside the data, or a threshold under the floor, is answered by DuckDB."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1000, "/a", 200, 0.1, "c1") + req(5000, "/b", 200, 0.3, "c2"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], cache.connect())
        con = cache.connect()
        relation = store.plan([str(log)], con).relation()
        windowed = aggregate.endpoints(con, aggregate.Frame(relation, since_ms=2000))  # type: ignore[arg-type]
        assert [r["path"] for r in windowed] == ["/b"]
        low = aggregate.slow(con, aggregate.Frame(relation), threshold=0.2)  # type: ignore[arg-type]
        assert [r["cid"] for r in low] == ["c2"]

    def test_corrupt_rollup_rebuilt(self, tmp_path: Path, con: object) -> None:
        """A damaged rollup file is ignored (DuckDB answers) and rebuilt."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        (rollup,) = store.dir.glob("*.rollup")
        rollup.write_bytes(rollup.read_bytes()[:30])
        plan = store.plan([str(log)], con)
        assert plan.rollup is None
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))  # type: ignore[arg-type]
        assert [(r["path"], r["count"]) for r in rows] == [("/a", 1)]
        assert store.plan([str(log)], con).rollup is not None  # rebuilt by that read

    def test_large_file_rollup_rebuilt_by_builder(
        self, tmp_path: Path, con: object, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Above the in-process limit, a damaged rollup is queued for the detached builder."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        (rollup,) = store.dir.glob("*.rollup")
        rollup.write_bytes(b"old layout")
        monkeypatch.setattr(cache, "SYNC_BUILD_BYTES", 10)
        plan = store.plan([str(log)], con)
        assert plan.rollup is None and plan.to_build == [str(log)] and plan.parts
        assert cache._main([str(store.dir), str(log)]) == 0
        assert store.plan([str(log)], con).rollup is not None

    def test_damaged_section_falls_back(self, tmp_path: Path, con: object) -> None:
        """A rollup whose section does not decode is answered by DuckDB instead."""
        log = tmp_path / "app.jsonl"
        log.write_bytes(req(1, "/a", 200, 0.1, "c1"))
        store = cache.Cache(str(tmp_path / "c"))
        store.plan([str(log)], con)
        plan = store.plan([str(log)], con)
        assert plan.rollup is not None
        plan.rollup._blobs["ep"] = b"\x00garbage"
        plan.rollup._ep = None
        rows = aggregate.endpoints(con, aggregate.Frame(plan.relation()))  # type: ignore[arg-type]
        assert [(r["path"], r["count"]) for r in rows] == [("/a", 1)]


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 700),
    st.floats(0, 10, allow_nan=False).map(lambda x: round(x, 3)),
    st.sampled_from(["/a", "/b", "GET", "500", "2025-09-26T20:30:15Z", "low", "high"]),
)
_records = st.fixed_dictionaries(
    {},
    optional={
        "ts": st.one_of(st.integers(0, 10_000), st.none()),
        "event": st.sampled_from(["request_complete", "error", "aggregated_error", "x"]),
        "method": _values,
        "path": _values,
        "status": _values,
        "duration": _values,
        "cid": st.sampled_from(["c1", "c2"]),
        "hash": st.sampled_from(["h1", "h2"]),
        "sev": st.sampled_from(["low", "high", "bogus"]),
        "count": st.one_of(st.integers(0, 50), st.none()),
        "window": st.one_of(st.just(60), st.none()),
    },
)


class TestRollupProperty:
    @settings(max_examples=25, deadline=None)
    @given(
        st.lists(
            st.one_of(_records.map(orjson.dumps), st.sampled_from([b"junk", b'{"ts": 1', b""])),
            max_size=12,
        )
    )
    def test_python_fold_matches_duckdb(self, lines: list[bytes]) -> None:
        """Lines folded in with orjson give the reports DuckDB computes from the same lines."""
        import tempfile

        data = b"".join(x + b"\n" for x in lines)
        rolled = _rollup.Rollup()
        rolled.add_lines(data)
        assume(not rolled.odd)  # off-schema types are left to DuckDB (the rollup is unused)
        with tempfile.TemporaryDirectory() as tmp:
            log = Path(tmp) / "app.jsonl"
            log.write_bytes(data)
            con = cache.connect()
            plan = cache.Cache(str(Path(tmp) / "c"), background=False).parquet_plan([str(log)], con)
            frame = aggregate.Frame(plan.relation())
            sql_slow = aggregate.slow(con, frame, 0.5, limit=100)
            sql_eps = aggregate.endpoints(con, frame)
            sql_errors = aggregate.errors(con, frame)
            assert rolled.skipped == plan.skipped
            con.close()
        assert rolled.slow_rows(0.5, 100) == sql_slow
        assert _close(rolled.endpoints(100), sql_eps)
        if not rolled.pathless:
            got = rolled.errors(50) or []
            keys = ("hash", "count", "sev", "endpoints", "cid", "first_ts", "last_ts")
            assert [tuple(r[k] for k in keys) for r in got] == [
                tuple(r[k] for k in keys) for r in sql_errors
            ]


_slow_row = st.tuples(
    st.one_of(st.none(), st.integers(0, 50)),
    st.just("GET"),
    st.sampled_from(["/a", "/b"]),
    st.sampled_from([0.5, 0.7, 2.0, 2.5, 9.0]),
    st.just(200),
    st.text(max_size=2),
)


class TestSlowBands:
    @given(st.lists(st.lists(_slow_row, max_size=40), max_size=4))
    def test_merging_sorted_runs_equals_sorting_them_all(self, runs: list[list[tuple]]) -> None:
        """Bisecting an append's rows into the base gives the order a full sort gives."""
        runs = [sorted(r, key=_rollup._slow_key) for r in runs]
        merged = _rollup._merge_slow(runs)
        everything = sorted((row for run in runs for row in run), key=_rollup._slow_key)
        assert merged == everything  # ties too: the order a stable sort gives

    @given(
        st.lists(_slow_row, max_size=60),
        st.sampled_from([0.5, 0.6, 2.0, 2.2, 10.0]),
        st.integers(0, 70),
    )
    def test_slow_rows_are_the_rows_over_the_threshold(
        self, rows: list[tuple], threshold: float, limit: int
    ) -> None:
        """slow_rows keeps, slowest first, exactly the rows at or over the threshold."""
        r = _rollup.Rollup()
        r.add_slow(rows)
        got = r.slow_rows(threshold, limit) or []
        want = sorted((x for x in rows if x[3] >= threshold), key=_rollup._slow_key)[:limit]
        assert [(g["duration"], g["ts"]) for g in got] == [(w[3], w[0]) for w in want]


def _err(ts: int, h: str = "w1", cid: str | None = None, **kw: object) -> bytes:
    """An ``error`` line, or with ``count`` (and ``window``) an ``aggregated_error`` line."""
    event = "aggregated_error" if "count" in kw else "error"
    fields = {"cid": cid} if cid is not None else {}
    return line(ts=ts, level="ERROR", event=event, path="/p", hash=h, sev="low", **fields, **kw)


def _both(tmp_path: Path, data: bytes) -> tuple[list[dict[str, object]], ...]:
    """``aggregate.errors`` from DuckDB (Parquet), from the built rollup, and folded in Python."""
    log = tmp_path / "app.jsonl"
    log.write_bytes(data)
    store = cache.Cache(str(tmp_path / "c"))
    store.plan([str(log)], cache.connect())  # builds Parquet and the rollup with DuckDB
    con = cache.connect()
    plan = store.plan([str(log)], con)
    assert plan.rollup is not None
    fast = aggregate.errors(con, aggregate.Frame(plan.relation()))  # type: ignore[arg-type]
    assert con._con is None  # type: ignore[attr-defined]  # answered by the rollup
    sql = aggregate.errors(con, aggregate.Frame(store.parquet_plan([str(log)], con).relation()))  # type: ignore[arg-type]
    folded = _rollup.Rollup()
    folded.add_lines(data)
    return sql, fast, folded.errors(50) or []


def _counts(rows: list[dict[str, object]]) -> dict[object, object]:
    return {r["hash"]: r["count"] for r in rows}


class TestErrorCounts:
    def test_window_mode_sums_counts(self, tmp_path: Path) -> None:
        """Window-mode counts (since the previous line) add up, with the first line as 1."""
        data = _err(1000) + _err(2000, count=4, window=60) + _err(3000, count=7, window=60)
        data += _err(3500, h="w2") + _err(4000, h="w2", count=1, window=60)
        for rows in _both(tmp_path, data):
            assert _counts(rows) == {"w1": 12, "w2": 2}
            assert [r["hash"] for r in rows] == ["w1", "w2"]

    def test_every_nth_mode_keeps_running_total(self, tmp_path: Path) -> None:
        """Every-Nth counts are running totals: the largest one is the total."""
        data = _err(1000) + _err(2000, count=10) + _err(3000, count=20)
        for rows in _both(tmp_path, data):
            assert _counts(rows) == {"w1": 20}

    def test_mixed_modes_across_restart_is_a_lower_bound(self, tmp_path: Path) -> None:
        """A switch from every-Nth to window mode adds the window counts to the running total."""
        data = _err(1000) + _err(2000, count=10) + _err(3000, count=20)
        data += _err(9000) + _err(9500, count=5, window=60) + _err(9900, count=2, window=60)
        for rows in _both(tmp_path, data):
            # 28 happened: the window run's own first line is not told apart from the
            # every-Nth one, which the running total 20 already covers (documented rule)
            assert _counts(rows) == {"w1": 27}

    def test_window_mode_without_totals_counts_first_lines(self, tmp_path: Path) -> None:
        """Window-mode first lines of several restarts each count one occurrence."""
        data = _err(1000) + _err(2000, count=3, window=60) + _err(5000) + _err(6000)
        for rows in _both(tmp_path, data):
            assert _counts(rows) == {"w1": 6}

    def test_example_cid_skips_summary_lines(self, tmp_path: Path) -> None:
        """The example id is the newest one a line carries, not the newest line's (none)."""
        data = _err(1000, cid="old") + _err(2000, cid="new") + _err(3000, count=9, window=60)
        data += _err(1500, h="w2", cid="only") + _err(2500, h="w2", count=10)
        for rows in _both(tmp_path, data):
            assert {r["hash"]: r["cid"] for r in rows} == {"w1": "new", "w2": "only"}
            assert {r["hash"]: r["last_ts"] for r in rows} == {"w1": 3000, "w2": 2500}


def _close(a: list[dict[str, object]], b: list[dict[str, object]]) -> bool:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for k in x:
            if isinstance(x[k], float) and isinstance(y[k], float):
                assert x[k] == pytest.approx(y[k])
            else:
                assert x[k] == y[k]
    return True


class TestLoggerFirstLines:
    def test_first_occurrence_logged_under_the_apps_event_is_counted(self, tmp_path: Path) -> None:
        """log.exception("payment_failed") writes the first line under the app's event name."""
        import io

        import bellwatch

        buf = io.StringIO()
        bellwatch.configure(stream=buf, log_file=False)
        log = bellwatch.get_logger()
        for n in range(12):
            try:
                raise RuntimeError(f"gateway returned {500 + n}")
            except RuntimeError:
                log.exception("payment_failed")
        bellwatch.get_aggregator().flush(final=True)  # what happens at exit: 11 and 12 said
        data = buf.getvalue().encode()
        assert b'"event":"payment_failed"' in data  # the first line keeps the app's event
        for rows in _both(tmp_path, data):
            assert [r["count"] for r in rows] == [12]
