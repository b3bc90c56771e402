"""OpenTelemetry, when it is there: the one module that imports ``opentelemetry``.

``opentelemetry-api`` is optional (FastAPI installs it; ADOT and Logfire configure
it). When a span is active while a request arrives (OpenTelemetry's ASGI
middleware, or ``FastAPIInstrumentor.instrument_app(app)`` called after
``bellwatch.instrument(app)``, wraps ours), its trace id becomes the request's
correlation id, so a line found in the logs joins its trace and the other way
round. Without the package every function here is a constant no-op.
"""

from __future__ import annotations

from typing import Any

__all__ = ["current_span", "current_trace_id"]

try:
    from opentelemetry import trace as _trace
except ImportError:  # pragma: no cover - depends on the installed extras
    _trace: Any = None  # type: ignore[no-redef]


def current_span() -> tuple[str, str, str] | None:
    """``(trace id, span id, flags)`` in W3C hex of the active span, or None without one.

    About 0.4 us when the package is installed and no span is active.
    """
    if _trace is None:
        return None
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
