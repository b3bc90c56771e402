"""Types of the C scanner (``_scan.c``); :mod:`._native` drives it."""

from collections.abc import Callable
from typing import Any

def configure(
    keys: tuple[str, ...], events: tuple[str, ...], levels: tuple[str, ...], twilio_prefix: str, /
) -> None: ...
def fold(
    data: bytes,
    pos: int,
    state: list[Any],
    durations: dict[Any, dict[Any, bytearray]],
    counts: dict[tuple[Any, Any], list[int]],
    ep: dict[tuple[Any, Any], list[Any]],
    slow: list[tuple[Any, ...]],
    floor: float,
    webhook: Callable[[int, int, str | None, str | None, str], None],
    /,
) -> int: ...
def count(durations: bytes | memoryview, /) -> tuple[bytes, bytes]: ...
def merge(
    values: bytes, counts: bytes, other_values: bytes, other_counts: bytes, /
) -> tuple[bytes, bytes]: ...
def total(values: bytes, counts: bytes, /) -> float | None: ...
