"""The ``request_complete`` line's fast path: the bytes ``Pipeline.emit`` writes, minus no-op work.

The middleware hands over everything the line needs (correlation id, bound
fields, the moment the request ended) instead of letting the line read the
context: a request finished in a batch is written after its context is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .._runtime import runtime
from ..log import pipeline
from ..log.processors import CompactException
from ..schema import Ev, F

__all__ = ["RequestLine"]

_LEVEL_NUM = {"info": 20, "warning": 30, "error": 40}
_LEVEL_NAME = {"info": "INFO", "warning": "WARNING", "error": "ERROR"}
# Keys the request line itself writes; a redact_keys setting naming one forces redaction.
_OWN_KEYS = (F.TS, F.LEVEL, F.EVENT, F.CID, F.METHOD, F.PATH, F.STATUS, F.DURATION)


def _noop_for_request_line(step: object) -> bool:
    """True for pipeline steps known to do nothing to an event without ``exc_info``."""
    return isinstance(step, CompactException) or getattr(step, "only_with_exception", False)


def _redactable(path: object, method: object, cid: str | None) -> bool:
    """Whether the redactor could change one of the request line's own values."""
    return (
        type(path) is not str
        or "+" in path  # a phone number the redactor masks
        or "=" in path  # a key=value the redactor masks
        or type(method) is not str
        or not method.isalpha()  # any token is a valid HTTP method, "+1415..." too
        or (cid is not None and "=" in cid)  # an inbound id may be "token=..."
    )


class RequestLine:
    """Builds ``request_complete`` exactly as :meth:`Pipeline.emit` would write it.

    It builds the same dict ``AddContext`` builds (same key order), skips the steps
    that are no-ops for an event without an exception, runs the redactor whenever a
    value could need it (bound fields, a ``+`` in the path, or a ``redact_keys``
    setting that names one of our keys), then the same budgeted renderer; the
    middleware hands the bytes to the sink.
    Any other pipeline (console renderer, user processors) gets ``Pipeline.emit``,
    and then the middleware finishes each request at once, in its own context.
    """

    __slots__ = ("_always_redact", "_batching", "_fast", "_pipe", "_stamp")

    def __init__(self) -> None:
        self._pipe: pipeline.Pipeline | None = None
        self._fast = False
        self._batching = False
        self._always_redact = True
        self._stamp: Callable[[int], Any] | None = None

    def _adopt(self, pipe: pipeline.Pipeline) -> None:
        self._pipe = pipe
        stamp = getattr(pipe.add_context, "stamp", None)
        self._fast = (
            getattr(pipe, "_console", None) is None
            and callable(stamp)
            and all(_noop_for_request_line(step) for step in pipe.steps)
        )
        self._stamp = stamp
        # Lines may wait for the log file's buffer anyway; with log_flush=0 every
        # request is finished (counted, written) before its response completes.
        self._batching = self._fast and pipe.settings.log_flush > 0 and runtime.deferred.allowed
        if self._batching:
            runtime.flusher.start()
        probe = {key: "x" for key in _OWN_KEYS}
        self._always_redact = pipe.redactor(None, "info", dict(probe)) != probe

    def batching(self) -> bool:
        """Whether requests may be finished later, in batches (:mod:`bellwatch.log.deferred`)."""
        if pipeline._current is not self._pipe:
            self._adopt(pipeline.current())
        return self._batching and runtime.deferred.allowed

    def line(  # noqa: PLR0917 - once per request: positional is the cheaper call
        self,
        level: str,
        method: str,
        path: str,
        status: int,
        duration: float,
        fields: Mapping[str, Any],
        sid: str | None,
        cid: str | None,
        bound: Mapping[str, Any],
        ns: int,
    ) -> bytes | None:
        """The ``request_complete`` line: the bytes :meth:`event_line` gives its event, built once.

        ``fields`` were bound anywhere during the request, ``bound`` in the
        middleware's own context; ``ns`` is ``time.time_ns()`` when it ended.
        A request that bound nothing (the common case) needs neither a merge nor
        the redactor, so its line dict is built in its final key order and
        rendered; anything else takes the event the general path builds.
        ``None``: nothing to write (a filtered level), or the general pipeline
        wrote it already.
        """
        pipe = pipeline.current()
        if pipe is not self._pipe:
            self._adopt(pipe)
        if (
            fields
            or bound
            or sid is not None
            or not self._fast
            or self._always_redact
            or _redactable(path, method, cid)
            or self._stamp is None
        ):
            event: dict[str, Any] = {
                F.EVENT: Ev.REQUEST,
                F.METHOD: method,
                F.PATH: path,
                F.STATUS: status,
                F.DURATION: round(duration, 3),
            }
            for key, value in fields.items():
                event.setdefault(key, value)  # bound fields never overwrite the line's facts
            if sid is not None and F.SESSION_ID not in event:
                event[F.SESSION_ID] = sid
            return self.event_line(level, event, cid, bound, ns)
        if _LEVEL_NUM[level] < pipe.min_level:
            return None
        out: dict[str, Any] = {
            F.TS: self._stamp(ns),
            F.LEVEL: _LEVEL_NAME[level],
            F.EVENT: Ev.REQUEST,
        }
        if cid is not None:
            out[F.CID] = cid
        out[F.METHOD] = method
        out[F.PATH] = path
        out[F.STATUS] = status
        out[F.DURATION] = round(duration, 3)
        return pipe.renderer.render(out)

    def event_line(
        self,
        method: str,
        event: dict[str, Any],
        cid: str | None,
        bound: Mapping[str, Any],
        ns: int,
    ) -> bytes | None:
        """``event`` as the pipeline would write it from a context holding ``cid`` and ``bound``.

        Without the fast path (a console renderer, user processors) this is
        ``Pipeline.emit``, which reads the current context and writes the line
        itself (``None`` is returned): callers only take that path from the
        request's own context.
        """
        pipe = pipeline.current()
        if pipe is not self._pipe:
            self._adopt(pipe)
        if not self._fast or self._stamp is None:
            pipe.emit(method, event)
            return None
        if _LEVEL_NUM[method] < pipe.min_level:
            return None
        core: dict[str, Any] = {
            F.TS: self._stamp(ns),
            F.LEVEL: _LEVEL_NAME[method],
            F.EVENT: event.pop(F.EVENT),
        }
        if cid is not None:
            core[F.CID] = cid
        out = dict(core)
        if bound:
            out.update(bound)
            out.update(core)  # a bound "event" or "level" must not rename the line
        extra = len(event) > 4  # more than method, path, status, duration
        out.update(event)
        if (
            bound
            or extra
            or self._always_redact
            or _redactable(event.get(F.PATH), event.get(F.METHOD), cid)
        ):
            out = pipe.redactor(None, method, out)
        return pipe.renderer.render(out)
