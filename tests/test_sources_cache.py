"""The reports' per-file cache: built once, appended to, invalidated, never trusted blindly."""

from __future__ import annotations

import gzip
import os
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from bellwatch import reports
from bellwatch.sources import _build, _cachefile, _chunk, _helper, cache
from bellwatch.sources.files import FileSource
from bellwatch.sources.reader import Window
from fresh_python import run_python


def request(i: int, duration: float = 0.1, **extra: object) -> bytes:
    event = {"ts": 1_700_000_000_000 + i * 1000, "event": "request_complete", "method": "GET",
             "path": f"/p{i % 3}", "status": 500 if i % 7 == 0 else 200, "duration": duration,
             "cid": f"c{i}", **extra}  # fmt: skip
    return orjson.dumps(event) + b"\n"


def write_log(path: Path, n: int, start: int = 0) -> Path:
    lines = [request(i, duration=2.5 if i % 10 == 0 else 0.1) for i in range(start, start + n)]
    with path.open("ab") as out:
        out.write(b"".join(lines) + b"Traceback (most recent call last):\n")
    return path


EVERYTHING = Window()


def answer(path: Path, cache_dir: Path | None, window: Window = EVERYTHING) -> Any:
    """Every report's rows and the scan counts, with the cache in ``cache_dir`` or none."""
    source = FileSource([str(path)], cache_dir=str(cache_dir), use_cache=cache_dir is not None)
    since, until = window.since_ms, window.until_ms
    out = {
        "errors": reports.errors(source, since, until, limit=1000).rows,
        "slow": reports.slow(source, since, until, threshold=2.0, limit=1000).rows,
        "endpoints": reports.endpoints(source, since, until).rows,
        "twilio": reports.twilio(source, since, until).rows,
        "summary": reports.summary(source, since, until).facts,
    }
    stats = source.stats
    return out, (stats.records // 5, stats.text_lines // 5), stats


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "app.jsonl", 200)


class TestCache:
    def test_same_answers_with_and_without(self, log: Path, tmp_path: Path) -> None:
        """Cold, warm and uncached runs give the same rows and counts."""
        plain = answer(log, None)[:2]
        cold = answer(log, tmp_path / "c")[:2]
        warm = answer(log, tmp_path / "c")[:2]
        assert plain == cold == warm

    def test_warm_run_reads_no_log_bytes(self, log: Path, tmp_path: Path) -> None:
        """An unchanged file is answered from its cache without reading it."""
        answer(log, tmp_path / "c")
        _, _, stats = answer(log, tmp_path / "c")
        assert stats.bytes_read == 0

    def test_append_reads_only_new_bytes(self, log: Path, tmp_path: Path) -> None:
        """After an append only the new lines are read, and the answer is the full one."""
        answer(log, tmp_path / "c")
        before = log.stat().st_size
        write_log(log, 50, start=200)
        got, counts, stats = answer(log, tmp_path / "c")
        # the first report folds the new lines into the cache; the next four read it
        assert stats.bytes_read == log.stat().st_size - before
        assert (got, counts) == answer(log, None)[:2]

    def test_many_appends_keep_few_runs_and_the_same_answers(
        self, log: Path, tmp_path: Path
    ) -> None:
        """Each append adds a run; past the limit the smallest neighbours are merged (the
        first run, of the whole first build, is left as it was), and every answer is the
        uncached one."""
        answer(log, tmp_path / "c")
        for n in range(9):
            write_log(log, 5, start=300 + 10 * n)
            assert answer(log, tmp_path / "c")[:2] == answer(log, None)[:2]
            (stored,) = [_cachefile.load(f) for f in (tmp_path / "c").glob("*.facts")]
            assert stored is not None
            runs = stored.runs
            assert len(runs) <= cache._MAX_RUNS
        assert runs[0].records == 200

    def test_unfinished_last_line_counts(self, tmp_path: Path) -> None:
        """A last line without its newline is an event, with the cache or without."""
        path = tmp_path / "app.jsonl"
        path.write_bytes(b"".join(request(i) for i in range(5)).rstrip(b"\n"))
        for cache_dir in (tmp_path / "c", tmp_path / "c", None):
            got, _, _ = answer(path, cache_dir)
            assert sum(r["count"] for r in got["endpoints"]) == 5
        path.write_bytes(path.read_bytes() + b"\n" + request(5))  # the line completed, one more
        got, _, _ = answer(path, tmp_path / "c")
        assert sum(r["count"] for r in got["endpoints"]) == 6

    def test_rewrite_and_truncation_rebuild(self, log: Path, tmp_path: Path) -> None:
        """A file rewritten in place or truncated is read again from its start."""
        answer(log, tmp_path / "c")
        log.write_bytes(b"".join(request(i, path="/rewritten") for i in range(3)))
        got, _, _ = answer(log, tmp_path / "c")
        assert [r["path"] for r in got["endpoints"]] == ["/rewritten"]

    def test_rotation_keeps_the_cache(self, log: Path, tmp_path: Path) -> None:
        """A renamed (rotated) file keeps its cache: it is the same inode."""
        answer(log, tmp_path / "c")
        rotated = log.with_name("app.jsonl.1")
        os.rename(log, rotated)
        _, _, stats = answer(rotated, tmp_path / "c")
        assert stats.bytes_read == 0

    def test_damaged_cache_is_rebuilt(self, log: Path, tmp_path: Path) -> None:
        """A damaged cache file is ignored and written again."""
        expected = answer(log, None)[:2]
        answer(log, tmp_path / "c")
        (stored,) = (tmp_path / "c").glob("*.facts")
        stored.write_bytes(stored.read_bytes()[:-40])
        assert answer(log, tmp_path / "c")[:2] == expected
        assert answer(log, tmp_path / "c")[2].bytes_read == 0

    def test_unusable_cache_dir_still_answers(self, log: Path, tmp_path: Path) -> None:
        """A cache directory that is a file: the answer comes from the log, and one note."""
        blocker = tmp_path / "c"
        blocker.write_text("")
        got, counts, stats = answer(log, blocker)
        assert (got, counts) == answer(log, None)[:2]
        assert any("cache not used" in w for w in stats.warnings)

    def test_windows_agree(self, log: Path, tmp_path: Path) -> None:
        """A window over the cache gives what a window over the file gives."""
        window = Window(1_700_000_050_000, 1_700_000_120_000)
        answer(log, tmp_path / "c")
        assert answer(log, tmp_path / "c", window)[:2] == answer(log, None, window)[:2]

    def test_gzip_is_read_not_cached(self, log: Path, tmp_path: Path) -> None:
        """A rotated .gz is folded as a stream each time (it is small and never changes)."""
        packed = tmp_path / "app.jsonl.1.gz"
        packed.write_bytes(gzip.compress(log.read_bytes()))
        assert answer(packed, tmp_path / "c")[:2] == answer(log, None)[:2]
        assert not list((tmp_path / "c").glob("*.facts"))

    def test_prune_removes_unused(self, log: Path, tmp_path: Path) -> None:
        """Caches no command used for two weeks are deleted, the rest kept."""
        answer(log, tmp_path / "c")
        old = tmp_path / "c" / "1-2.rollup"  # another layout's leftover
        old.write_bytes(b"x")
        stale = time.time() - cache.PRUNE_AFTER - 60
        os.utime(old, (stale, stale))
        assert cache.Cache(str(tmp_path / "c")).prune() == 1
        assert list((tmp_path / "c").glob("*.facts"))


class TestParallelBuild:
    def test_the_builder_leaves_the_last_range_to_a_helper(self, tmp_path: Path) -> None:
        """Once it has folded a range, the building process stops before the last free
        range next to a helper's: the helper folds it while the builder merges."""
        log = write_log(tmp_path / "app.jsonl", 300)
        claims = _helper.Claims(str(tmp_path / "claims"))
        os.mkdir(claims.dir)
        work = [(i, 0, 0) for i in range(4)]
        assert claims.take(3)  # a helper folding from the end
        got = _helper.fold_claimed(str(log), work, claims, 0.5, leave_last=True)
        assert [i for i, _ in got] == [0, 1] and not claims.taken(2)
        assert [i for i, _ in _helper.fold_claimed(str(log), work[2:], claims, 0.5)] == [2]

    def test_helpers_fold_the_same_facts(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Chunks folded by helper processes give the answers of one process."""
        log = write_log(tmp_path / "app.jsonl", 3000)
        expected = answer(log, None)[:2]
        monkeypatch.setattr(_chunk, "CHUNK_BYTES", 20_000)
        monkeypatch.setattr(_build, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(_build, "_cores", lambda: 3)
        got, counts, stats = answer(log, tmp_path / "c")
        assert (got, counts) == expected and not stats.warnings

    def test_a_failed_helper_is_reported_and_replaced(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A helper that fails is said in the notes; the ranges it claimed are folded here."""
        import subprocess
        import sys

        log = write_log(tmp_path / "app.jsonl", 3000)
        expected = answer(log, None)[:2]
        monkeypatch.setattr(_chunk, "CHUNK_BYTES", 20_000)
        monkeypatch.setattr(_build, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(_build, "_cores", lambda: 2)

        def broken(path: str, floor: float, claims: str, work: list[tuple[int, ...]]) -> object:
            # claims the ranges it starts with, as a helper does, then dies holding them
            taken = [str(Path(claims) / str(i)) for i, _, _ in work[:2]]
            code = (
                f"import sys; [open(p, 'x').close() for p in {taken!r}]; "
                "sys.stderr.write('MemoryError: boom\\n'); sys.exit(3)"
            )
            proc = subprocess.Popen(
                [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
            )
            proc.wait()  # it claims before this process folds anything
            return proc

        monkeypatch.setattr(_helper, "start", broken)
        got, counts, stats = answer(log, tmp_path / "c")
        assert (got, counts) == expected
        assert any("helper failed (exit 3: MemoryError: boom)" in w for w in stats.warnings)

    def test_helpers_are_forked(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With one thread on Linux a helper is forked, with every module imported already."""
        if not _helper._can_fork():
            pytest.skip("fork is for Linux with one thread")
        log = write_log(tmp_path / "app.jsonl", 100)
        claims = tmp_path / "claims"
        claims.mkdir()
        proc = _helper.start(str(log), 0.5, str(claims), [(0, 0, log.stat().st_size)])
        assert isinstance(proc, _helper._Forked)
        out, err = proc.communicate()
        assert proc.returncode == 0 and out and not err

    def test_a_fresh_process_forks_its_helpers(self, tmp_path: Path) -> None:
        """In a fresh process (one thread, as the CLI runs) the helper is forked and answers:
        the suite's own threads cannot make this path go untested."""
        log = write_log(tmp_path / "app.jsonl", 100)
        claims = tmp_path / "claims"
        claims.mkdir()
        code = (
            "import sys\n"
            "from bellwatch.sources import _helper\n"
            "log, claims, size = sys.argv[1], sys.argv[2], int(sys.argv[3])\n"
            "assert _helper._can_fork()\n"
            "proc = _helper.start(log, 0.5, claims, [(0, 0, size)])\n"
            "assert isinstance(proc, _helper._Forked), type(proc)\n"
            "out, err = proc.communicate()\n"
            "assert proc.returncode == 0 and out and not err, (proc.returncode, err)\n"
            "print('forked')\n"
        )
        out = run_python(code, str(log), str(claims), str(log.stat().st_size))
        assert out.strip() == "forked"

    def test_a_failed_forked_helper_is_replaced(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A forked helper that raises says why; its ranges are folded here instead."""
        if not _helper._can_fork():
            pytest.skip("fork is for Linux with one thread")
        log = write_log(tmp_path / "app.jsonl", 3000)
        expected = answer(log, None)[:2]
        monkeypatch.setattr(_chunk, "CHUNK_BYTES", 20_000)
        monkeypatch.setattr(_build, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(_build, "_cores", lambda: 2)
        real = _helper.fold_claimed

        def dies(
            path: str, work: list[tuple[int, int, int]], claims: Any, floor: float, **kw: Any
        ) -> Any:
            if os.getpid() != parent:  # the helper: claims and folds one range, then dies
                real(path, work[:1], claims, floor)
                raise MemoryError("boom")
            return real(path, work, claims, floor, **kw)

        parent = os.getpid()
        monkeypatch.setattr(_helper, "fold_claimed", dies)
        got, counts, stats = answer(log, tmp_path / "c")
        assert (got, counts) == expected
        assert any("helper failed (exit 1: MemoryError: boom)" in w for w in stats.warnings)

    def test_helpers_in_new_interpreters(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Where fork is not safe (other threads, not Linux), helpers are new interpreters,
        with the same answers."""
        log = write_log(tmp_path / "app.jsonl", 3000)
        expected = answer(log, None)[:2]
        monkeypatch.setattr(_chunk, "CHUNK_BYTES", 20_000)
        monkeypatch.setattr(_build, "PARALLEL_BYTES", 0)
        monkeypatch.setattr(_build, "_cores", lambda: 2)
        monkeypatch.setattr(_helper, "_can_fork", lambda: False)
        got, counts, stats = answer(log, tmp_path / "c")
        assert (got, counts) == expected and not stats.warnings

    @pytest.mark.parametrize("enabled", [True, False])
    def test_the_collector_is_left_as_found(self, tmp_path: Path, enabled: bool) -> None:
        """The build pauses the cyclic garbage collector and leaves it as it found it."""
        import gc

        log = write_log(tmp_path / "app.jsonl", 50)
        before = gc.isenabled()
        (gc.enable if enabled else gc.disable)()
        try:
            _build.build(str(log), [(0, log.stat().st_size)], 0.5, print)
            assert gc.isenabled() is enabled
        finally:
            (gc.enable if before else gc.disable)()

    def test_the_helper_entry_point(self, tmp_path: Path) -> None:
        """``python -m bellwatch.sources._helper`` folds the ranges it claims, in the order
        given, and stops at one claimed already."""
        import marshal
        import subprocess
        import sys

        log = write_log(tmp_path / "app.jsonl", 100)
        size = log.stat().st_size
        claims = tmp_path / "claims"
        claims.mkdir()
        (claims / "0").touch()  # the first range: another process's
        half = _build.complete_end(str(log), size // 2)
        work = ["2", str(half), str(size), "1", "0", str(half), "0", "0", "0"]
        proc = subprocess.run(
            [sys.executable, "-m", "bellwatch.sources._helper", str(log), "0.5", str(claims),
             *work],
            capture_output=True,
            check=True,
        )  # fmt: skip
        size = int.from_bytes(proc.stdout[:4], "little")
        indexes, lengths = marshal.loads(proc.stdout[4 : 4 + size])
        blobs, pos = [], 4 + size
        for length in lengths:
            blobs.append(proc.stdout[pos : pos + length])
            pos += length
        parts = [cache.Facts.loads(b) for b in blobs[:-1]]
        whole = cache.Facts.loads(blobs[-1])
        assert indexes == [2, 1] and whole is not None and None not in parts
        assert (whole.records, whole.text) == (100, 1)
        assert sorted(p.name for p in claims.iterdir()) == ["0", "1", "2"]
