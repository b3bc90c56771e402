"""Health checks: what ``GET /health`` runs, and the last verdict.

The runtime owns one :class:`HealthChecks`; apps add checks with
:func:`bellwatch.register_check`, the shared store adds its own ``store`` check
(reporting ``degraded`` without failing liveness).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..log import pipeline
from ..schema import Ev, F

__all__ = ["HealthChecks"]


@dataclass(frozen=True)
class _Check:
    name: str
    fn: Callable[[], Any]
    timeout: float


class HealthChecks:
    """Named checks, run concurrently by :meth:`run`; remembers whether the last run passed."""

    def __init__(self) -> None:
        self._checks: dict[str, _Check] = {}
        self._lock = threading.Lock()
        self.last_ok = True

    def register(self, name: str, fn: Callable[[], Any], timeout: float = 2.0) -> None:
        """Add (or replace) a check: a sync or async callable; it fails by raising,
        returning ``False``, or taking longer than ``timeout`` seconds."""
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        with self._lock:
            self._checks[name] = _Check(name, fn, timeout)

    def forget(self, name: str) -> None:
        """Remove the check ``name``, if registered."""
        with self._lock:
            self._checks.pop(name, None)

    def clear(self) -> None:
        """Forget every check and the last verdict."""
        with self._lock:
            self._checks.clear()
        self.last_ok = True

    async def run(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        """Run every check concurrently: whether all passed, and each one's result."""
        with self._lock:
            checks = list(self._checks.values())
        results = await asyncio.gather(*(_run(c) for c in checks))
        ok = all(r["ok"] for r in results)
        self.last_ok = ok
        return ok, {c.name: r for c, r in zip(checks, results, strict=True)}


async def _run(check: _Check) -> dict[str, Any]:
    start = time.perf_counter()
    error: str | None = None
    state: str | None = None
    extra: dict[str, Any] = {}
    try:
        if inspect.iscoroutinefunction(check.fn):
            result = await asyncio.wait_for(check.fn(), check.timeout)
        else:
            # A sync check runs in a thread; on timeout it is abandoned, not killed.
            result = await asyncio.wait_for(asyncio.to_thread(check.fn), check.timeout)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, check.timeout)
        ok = result is not False
        if not ok:
            error = "returned False"
        elif isinstance(result, str):  # a state that does not fail liveness, e.g. "degraded"
            state = result
        elif isinstance(result, dict):  # a state and numbers: {"state": ..., "overflowed": 3}
            extra = {str(k): v for k, v in result.items() if k != "state"}
            state = str(result["state"]) if "state" in result else None
    except TimeoutError:
        ok, error = False, f"timed out after {check.timeout:g}s"
    except Exception as exc:
        ok, error = False, type(exc).__name__
    out: dict[str, Any] = {"ok": ok, "ms": round((time.perf_counter() - start) * 1000, 1), **extra}
    if state is not None:
        out["state"] = state
    if error is not None:
        out["error"] = error
        pipeline.current().emit(
            "warning", {F.EVENT: Ev.HEALTH_FAILED, F.CHECK: check.name, F.MESSAGE: error}
        )
    return out
