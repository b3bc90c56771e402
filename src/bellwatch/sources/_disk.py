"""On-disk state of a log file as the cache sees it, and writing cache files safely."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:
    # What hashlib.blake2b is, without hashlib loading OpenSSL (~1-2 ms of every command).
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - a CPython built without its blake2 module
    from hashlib import blake2b

__all__ = ["HEAD", "atomic_write", "blake2b", "default_cache_dir", "head", "state"]

HEAD = 4096  # bytes hashed to tell an appended file from a rewritten one


def default_cache_dir() -> str:
    """``$XDG_CACHE_HOME/bellwatch`` (``~/.cache/bellwatch``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "bellwatch")


def state(meta: dict[str, Any] | None, path: str, st: os.stat_result, gz: bool) -> str:
    """``fresh``, ``appended`` (grew after the bytes cached) or ``stale`` (anything else).

    Logs only grow, rotate (a new inode: another cache) or get truncated: a file whose
    first bytes are unchanged and which is larger than when cached has had lines
    appended. A compressed file is never appended to.
    """
    if meta is None:
        return "stale"
    if meta.get("size") == st.st_size and meta.get("mtime") == st.st_mtime_ns:
        return "fresh"
    if gz or st.st_size < int(meta.get("size", 0)):
        return "stale"
    if meta.get("head") != head(path, int(meta.get("head_len", 0))):
        return "stale"  # rewritten in place
    return "fresh" if st.st_size == meta.get("size") else "appended"


def head(path: str, length: int) -> str:
    """A hash of the first ``length`` bytes of ``path``."""
    with open(path, "rb") as handle:
        return blake2b(handle.read(length), digest_size=12).hexdigest()


def atomic_write(path: Path, data: bytes | Sequence[bytes | memoryview]) -> None:
    """Write ``data`` (or its parts, one after the other, without joining them first) to
    ``path`` so readers see the old file or the new one, never half."""
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            if isinstance(data, bytes):
                handle.write(data)
            else:
                handle.writelines(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
