"""A hostile log directory: every way a real one goes wrong, in one place.

``build(directory)`` writes it and returns what the record reader must make of it: the
structured events and text lines it holds (counted from the rules, by hand), and the
files a reader must name as skipped.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass, field
from pathlib import Path

import orjson

T0 = 1_758_918_600_000
NASTY = "\x1b[2J\x1b]0;owned\x07\x9b31m\u202eevil\u202c\x7f[/][link=http://x]x[/link]"


def req(i: int, **extra: object) -> bytes:
    event = {"ts": T0 + i, "level": "INFO", "event": "request_complete", "cid": f"{i:012x}",
             "method": "GET", "path": "/api/users/{user_id}", "status": 200, "duration": 0.05,
             **extra}  # fmt: skip
    return orjson.dumps(event)


@dataclass
class Hostile:
    """What the directory holds, by the reader's rules."""

    directory: Path
    records: int = 0
    text_lines: int = 0
    requests: int = 0
    skipped: set[str] = field(default_factory=set)
    """File names a reader must name as not read (or read only in part)."""

    def add(self, *, records: int = 0, text: int = 0, requests: int = 0) -> None:
        self.records += records
        self.text_lines += text
        self.requests += requests


def build(directory: Path) -> Hostile:
    """Write the hostile log directory into ``directory`` (which must exist)."""
    h = Hostile(directory)
    live = [
        b"INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",  # text
        req(1),
        b'{"ts": 1758918600002, "event": "request_complete", "duration": 0.1,}',  # trailing ,
        b'{"ts": 1758918600003, "event": "request_complete", "duration": NaN}',
        b'{"ts": 1758918600004, "event": "request_complete", "duration": Infinity}',
        b'{"ts": 1758918600005, "event": "request_complete", "duration": 1e999}',
        b"\x00\x00\x00 NUL bytes \x00",
        b"bad utf-8 \xff\xfe\xc3\x28 " + NASTY.encode(),
        b"\xef\xbb\xbf" + req(9),  # a byte order mark in the middle of a file: text
        orjson.dumps({"ts": T0 + 10, "event": "app_note", "msg": "x" * (5 << 20)}),  # 5 MiB
        b"y" * (5 << 20),  # a 5 MiB text line
        b'{"deep":' + b"[" * 2000 + b"]" * 2000 + b"}",  # deeper than 1024: text
        b'{"ts": 1758918600013, "event": "request_complete", "event": "app_note"}',  # dup key
        orjson.dumps(
            {
                "ts": T0 + 14,
                "level": "ERROR",
                "event": "error",
                "n": 1,
                "hash": "deadbeef",
                "type": "ValueError",
                "msg": NASTY,
                "path": f"/api/{NASTY}",
                "cid": "00000000000e",
            }
        ),
        b"",  # blank: no event
        b"   \t",  # blank
        b"Traceback (most recent call last):",
        req(18, status=500, duration=3.2),
        req(19),  # the last line, without its newline
    ]
    (directory / "app.jsonl").write_bytes(b"\n".join(live))
    # structured: req(1), the 5 MiB event, the duplicate-key line (its event is the last
    # one given: app_note), the error, req(18), req(19); the other 11 non-blank lines are text
    h.add(records=6, text=11, requests=3)

    # Rotated files, oldest first by their number.
    (directory / "app.jsonl.1").write_bytes(b"\r".join([req(20), req(21), req(22)]) + b"\r\n")
    h.add(text=1)  # CR-only separators: one line, not JSON
    (directory / "app.jsonl.2").write_bytes(("\ufeff" + req(30).decode() + "\n").encode("utf-16"))
    h.add(text=2)  # UTF-16: NULs everywhere; the newline splits it in two lines
    (directory / "app.jsonl.3").write_bytes(b"\xef\xbb\xbf" + req(40) + b"\n" + req(41) + b"\n")
    h.add(records=2, requests=2)  # a leading UTF-8 BOM is not part of the first line
    members = gzip.compress(req(50) + b"\n") + gzip.compress(req(51) + b"\nnot json\n")
    (directory / "app.jsonl.4.gz").write_bytes(members)
    h.add(records=2, text=1, requests=2)  # multi-member gzip, read whole
    (directory / "app.jsonl.5.gz").write_bytes(gzip.compress(req(60) + b"\n") + b"GARBAGE!")
    h.add(records=1, requests=1)  # the member before the garbage is kept
    h.skipped.add("app.jsonl.5.gz")
    many = b"".join(req(70 + i) + b"\n" for i in range(3000))
    whole = gzip.compress(many)
    cut = whole[: len(whole) // 2]
    (directory / "app.jsonl.6.gz").write_bytes(cut)
    kept = _lines_before_damage(cut)
    h.add(records=kept, requests=kept)  # a truncated .gz: its first lines count
    h.skipped.add("app.jsonl.6.gz")
    (directory / "app.jsonl.7.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 64)  # not a gzip
    h.skipped.add("app.jsonl.7.gz")

    # Paths that are not files to read.
    os.symlink(directory / "loop-b.jsonl", directory / "loop-a.jsonl")
    os.symlink(directory / "loop-a.jsonl", directory / "loop-b.jsonl")
    os.symlink(directory / "gone", directory / "dangling.jsonl")
    (directory / "adir.jsonl").mkdir()  # a directory a glob matches: ignored, not named
    os.mkfifo(directory / "fifo.jsonl")
    h.skipped |= {"loop-a.jsonl", "loop-b.jsonl", "dangling.jsonl", "fifo.jsonl"}
    return h


def _lines_before_damage(data: bytes) -> int:
    """Complete lines a truncated gzip stream holds before it ends."""
    import zlib

    out = zlib.decompressobj(wbits=31).decompress(data)
    return out.count(b"\n")
