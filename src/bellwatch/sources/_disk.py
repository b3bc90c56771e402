"""On-disk state of a log file as a cache sees it: grown, rewritten, or unchanged."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

try:
    # What hashlib.blake2b is, without hashlib loading OpenSSL (~1-2 ms of every command).
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a CPython built without its blake2 module
    from hashlib import blake2b

__all__ = [
    "HEAD",
    "atomic_write",
    "blake2b",
    "copy_complete_lines",
    "default_cache_dir",
    "head",
    "locked",
    "state",
]

HEAD = 4096  # bytes hashed to tell an appended file from a rewritten one


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/bellwatch`` (``~/.cache/bellwatch``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bellwatch")


def state(manifest: dict[str, Any] | None, path: str, st: os.stat_result) -> str:
    if manifest is None:
        return "missing"
    if manifest.get("size") == st.st_size and manifest.get("mtime") == st.st_mtime_ns:
        return "fresh"
    same_head = manifest.get("head") == head(path, int(manifest.get("head_len", 0)))
    if st.st_size >= int(manifest.get("offset", 0)) and same_head:
        if manifest.get("offset") == st.st_size and not path.endswith(".gz"):
            return "fresh"  # touched, not grown
        return "appended" if not path.endswith(".gz") else "stale"
    return "stale"


def head(path: str, length: int) -> str:
    with open(path, "rb") as handle:
        return blake2b(handle.read(length), digest_size=12).hexdigest()


def copy_complete_lines(path: str, start: int, size: int) -> tuple[int, str | None]:
    """End offset of the last complete line, and a temp copy of ``[start, end)`` if needed.

    A whole file is read in place (``None``); an appended range is copied to a
    temporary file because DuckDB reads whole files. Compressed files are
    always whole.
    """
    with open(path, "rb") as handle:
        if handle.read(2) == b"\x1f\x8b":
            return size, None
        if start == 0 and size > 0:
            handle.seek(size - 1)
            if handle.read(1) == b"\n":
                return size, None
        handle.seek(start)
        data = handle.read(size - start)
    cut = data.rfind(b"\n") + 1
    if cut == 0:
        return start, None
    import tempfile  # appended ranges only

    fd, tmp = tempfile.mkstemp(suffix=".jsonl", prefix="bellwatch-")
    with os.fdopen(fd, "wb") as out:
        out.write(data[:cut])
    return start + cut, tmp


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


class locked(contextlib.AbstractContextManager[bool]):
    """A non-blocking exclusive file lock: ``True`` when held, ``False`` when busy."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.handle: Any = None

    def __enter__(self) -> bool:
        self.handle = open(self.path, "a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        self.handle.close()
