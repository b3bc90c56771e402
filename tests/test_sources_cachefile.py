"""The cache's files (bellwatch.sources._cachefile): a header published by rename, naming an
append-only data file; an append writes only what is new; damage costs a rebuild, never
an answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bellwatch.sources import _cachefile
from test_sources_cache import answer, write_log


@pytest.fixture
def log(tmp_path: Path) -> Path:
    return write_log(tmp_path / "app.jsonl", 300)


def data_files(cache_dir: Path) -> list[Path]:
    return sorted(cache_dir.glob("*.data"))


def test_a_header_and_one_data_file(log: Path, tmp_path: Path) -> None:
    answer(log, tmp_path / "c")
    (header,) = (tmp_path / "c").glob("*.facts")
    stored = _cachefile.load(header)
    assert stored is not None
    assert data_files(tmp_path / "c") == [stored.data]


def test_an_append_writes_only_what_is_new(log: Path, tmp_path: Path) -> None:
    """The data file keeps its bytes and grows by the new run and chunk, far less than
    the whole cache."""
    answer(log, tmp_path / "c")
    (data,) = data_files(tmp_path / "c")
    before = data.read_bytes()
    write_log(log, 5, start=1000)
    assert answer(log, tmp_path / "c")[:2] == answer(log, None)[:2]
    after = data.read_bytes()
    assert after[: len(before)] == before
    assert 0 < len(after) - len(before) < len(before)


def test_unused_bytes_are_compacted_away(
    log: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once what no header names outgrows what one does, a new data file replaces the old,
    which is deleted; answers stay the same."""
    monkeypatch.setattr(_cachefile, "COMPACT_AT", 0)
    answer(log, tmp_path / "c")
    names = set()
    for n in range(12):
        write_log(log, 40, start=2000 + 100 * n)
        assert answer(log, tmp_path / "c")[:2] == answer(log, None)[:2]
        (data,) = data_files(tmp_path / "c")
        names.add(data.name)
    assert len(names) > 1  # compacted at least once
    (header,) = (tmp_path / "c").glob("*.facts")
    stored = _cachefile.load(header)
    assert stored is not None
    live = sum(length for _, length, _ in stored.where.values())
    assert stored.size <= 2 * live


@pytest.mark.parametrize("damage", ["truncated", "deleted", "garbage"])
def test_a_damaged_data_file_is_rebuilt(log: Path, tmp_path: Path, damage: str) -> None:
    expected = answer(log, None)[:2]
    answer(log, tmp_path / "c")
    (data,) = data_files(tmp_path / "c")
    if damage == "truncated":
        data.write_bytes(data.read_bytes()[:-40])
    elif damage == "deleted":
        data.unlink()
    else:
        data.write_bytes(b"\0" * data.stat().st_size)
    assert answer(log, tmp_path / "c")[:2] == expected
    assert answer(log, tmp_path / "c")[2].bytes_read == 0  # written again, then used


def test_a_header_of_another_format_is_ignored(log: Path, tmp_path: Path) -> None:
    answer(log, tmp_path / "c")
    (header,) = (tmp_path / "c").glob("*.facts")
    header.write_bytes(b"BWC\x01" + header.read_bytes()[4:])
    assert _cachefile.load(header) is None
    assert answer(log, tmp_path / "c")[:2] == answer(log, None)[:2]


def test_prune_removes_both_files_when_unused(log: Path, tmp_path: Path) -> None:
    import os
    import time

    from bellwatch.sources import cache

    answer(log, tmp_path / "c")
    stale = time.time() - cache.PRUNE_AFTER - 60
    for path in (tmp_path / "c").iterdir():
        os.utime(path, (stale, stale))
    assert cache.Cache(str(tmp_path / "c")).prune() == 2
