"""Answers of aggregate commands, keyed by the command and the exact state of its files."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson

from ._disk import atomic_write, blake2b, default_cache_dir

MEMO_KEEP = 64
_VERSION = 1


class Memo:
    """Answers of aggregate commands, keyed by the command and the exact state of its files.

    A repeated command over unchanged files (same inode, size and mtime) is
    answered from here without starting DuckDB; any change to a file, or other
    parameters, is a different key. The newest :data:`MEMO_KEEP` answers are kept.
    """

    def __init__(self, directory: str | None = None) -> None:
        self.dir = Path(directory or default_cache_dir()) / "answers"

    def key(self, name: str, paths: Sequence[str]) -> str:
        """A key for ``name`` (command and parameters) over ``paths`` as they are now."""
        state: list[object] = [_VERSION, name]
        for path in paths:
            st = os.stat(path)
            state.append([os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns])
        return blake2b(json.dumps(state).encode(), digest_size=16).hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        """The stored ``{"result": ..., "skipped": n}``, or ``None``."""
        try:
            data = orjson.loads((self.dir / f"{key}.json").read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or "result" not in data:
            return None  # a damaged answer file is a miss, not an error
        if not isinstance(data.get("skipped"), int):
            return None
        return data

    def put(self, key: str, result: Any, skipped: int) -> None:
        """Store an answer (best effort: a full disk only costs speed)."""
        with contextlib.suppress(OSError, TypeError, ValueError):
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_write(
                self.dir / f"{key}.json",
                orjson.dumps({"result": result, "skipped": skipped}),
            )
            entries = sorted(self.dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
            for old in entries[:-MEMO_KEEP]:
                old.unlink(missing_ok=True)
