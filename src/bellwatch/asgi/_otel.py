"""OpenTelemetry, when it is there: the one module that imports ``opentelemetry``.

``opentelemetry-api`` is optional (FastAPI installs it; ADOT and Logfire configure
it). When a span is active while a request arrives (OpenTelemetry's ASGI
middleware, or ``FastAPIInstrumentor.instrument_app(app)`` called after
``bellwatch.instrument(app)``, wraps ours), its trace id becomes the request's
correlation id, so a line found in the logs joins its trace and the other way
round. Without the package every function here is a constant no-op.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["AVAILABLE", "SLOT", "current_span", "current_trace_id"]

try:
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - depends on the installed extras
    _trace: Any = None  # type: ignore[no-redef]


def _span_slot() -> tuple[ContextVar[Any], str] | None:
    """The context variable and key where the API keeps the active span, when findable.

    ``get_current_span()`` is four calls deep (~0.5 us a request, most requests
    having no span). With the API's default runtime context (a ``ContextVar``
    holding a dict-like ``Context``) the same answer is one ``get`` and one dict
    lookup. These names are the API's internals, so each is checked and any
    surprise (another runtime context, a renamed attribute) falls back to the
    public call.
    """
    if _trace is None:
        return None
    try:
        from opentelemetry import context as _context
        from opentelemetry.trace import propagation as _propagation
    except ImportError:  # pragma: no cover - a partial install
        return None
    var = getattr(getattr(_context, "_RUNTIME_CONTEXT", None), "_current_context", None)
    key = getattr(_propagation, "_SPAN_KEY", None)
    if isinstance(var, ContextVar) and isinstance(key, str) and isinstance(var.get(), dict):
        return var, key
    return None


SLOT = _span_slot()
"""Where the API keeps the active span (``var.get().get(key)``), or None when unknown:
a caller on a hot path may look there first and call :func:`current_span` only when
something is there."""


def current_span() -> tuple[str, str, str] | None:
    """``(trace id, span id, flags)`` in W3C hex of the active span, or None without one.

    About 0.1 us when the package is installed and no span is active.
    """
    if _trace is None:
        return None
    if SLOT is not None:
        var, key = SLOT
        span = var.get().get(key)
        if span is None:
            return None
    else:
        span = _trace.get_current_span()
    if span is _trace.INVALID_SPAN:
        return None
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", f"{int(ctx.trace_flags):02x}"


def current_trace_id() -> str | None:
    """The active span's trace id (32 lowercase hex), or None."""
    found = current_span()
    return found[0] if found is not None else None


AVAILABLE = _trace is not None
"""Whether ``opentelemetry-api`` is installed (the middleware skips the lookup if not)."""
