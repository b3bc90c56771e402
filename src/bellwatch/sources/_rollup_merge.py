"""Several rollups read as one: a file's base and tail, or several files.

Sections are merged only when a report reads them, folding into the first
rollup's (rollups are loaded per command and never shared).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ._rollup import Rollup, _fold_err, _merge_slow


def merged(rollups: Iterable[Rollup]) -> Rollup:
    """One read-only view of several rollups; sections are merged when a report reads them."""
    return _Merged(list(rollups))


class _Merged(Rollup):
    def __init__(self, parts: list[Rollup]) -> None:
        super().__init__()
        self._parts = parts
        self._ep = self._err = self._slow = self._slow_lo = None
        for part in parts:
            self._scalars(part)

    def _section(self, name: str, kind: type) -> Any:
        del kind
        if name == "ep":
            return _merge_ep([p.ep for p in self._parts])
        if name == "err":
            return _merge_err([p.err for p in self._parts])
        if name == "slow_lo":
            return _merge_slow([p.slow_lo for p in self._parts])
        return _merge_slow([p.slow for p in self._parts])


def _merge_ep(eps: list[dict[tuple[Any, Any], list[Any]]]) -> dict[tuple[Any, Any], list[Any]]:
    # Folds into the first (rollups are loaded per command, never shared): copying a
    # base's ~100k histogram entries would cost more than the answer.
    if not eps:
        return {}
    out = eps[0]
    for ep in eps[1:]:
        for key, e in ep.items():
            mine = out.get(key)
            if mine is None:
                out[key] = [e[0], e[1], e[2], e[3], e[4], dict(e[5])]
                continue
            mine[0] += e[0]
            mine[1] += e[1]
            mine[2] += e[2]
            if e[3] is not None:
                mine[3] = e[3] if mine[3] is None else max(mine[3], e[3])
            mine[4] += e[4]
            for value, n in e[5].items():
                mine[5][value] = mine[5].get(value, 0) + n
    return out


def _merge_err(errs: list[dict[str, list[Any]]]) -> dict[str, list[Any]]:
    if len(errs) == 1:
        return errs[0]
    out: dict[str, list[Any]] = {}
    for err in errs:
        for key, row in err.items():
            _fold_err(out, key, list(row))
    return out
