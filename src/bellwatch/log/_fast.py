"""A logger method compiled once per pipeline, level and bound fields: the common line in one call.

:meth:`bellwatch.log.pipeline.Pipeline.log` builds a line the general way: the
context step, the steps, the redactor over every field, the renderer, the sink.
For most calls nearly all of that is known before the call: the level, the
logger's own fields, that no step acts on an event without an exception, that the
line's own keys (``ts``, ``level``, ``event``, ``cid``) are not secret. The method
built here decides all that once, then per call builds the line's dict in its
final key order, redacts only what came from the caller (the call's fields, the
event, the correlation id, fields bound in context: those once per binding), dumps
it with its newline, and hands it to the sink's cheapest writer.

Anything it is not sure of goes the general way, whole and untouched: an
``exc_info`` (the error aggregator and the traceback step need it), the error
aggregator's first-line mark, an event that is ``None``, a console renderer or a
user's processors. It writes the very bytes the general way writes;
``tests/test_logger.py`` holds the two to that.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from ..schema import F
from ._rules import PHONE, SECRET
from .context import _Bound, _ctx
from .processors import LEVEL_OF, AddContext, interpolate
from .redact import Redactor
from .render import BudgetRenderer
from .sinks import Sink

__all__ = ["Plan", "general_method", "interpolate"]

_DUMPS = orjson.dumps
_NEWLINE = orjson.OPT_APPEND_NEWLINE
_ENCODE_ERROR = orjson.JSONEncodeError
_OWN = frozenset((F.TS, F.LEVEL, F.EVENT, F.CID))
_OWN_KEYS = (F.TS, F.LEVEL, F.EVENT, F.CID)
_SCALARS = frozenset((str, int, float, bool, type(None)))
_CARD_MIN = 2 * 10**12  # the redactor's: smaller ints are never card numbers
# An epoch-ms timestamp below 4e12 (the year 2096) has 13 digits and starts with 1, 2
# or 3: no card network issues 13-digit numbers with those prefixes (13 digits is Visa
# only, which starts with 4), so the redactor keeps it; above, it is asked.
_TS_PLAIN = 4 * 10**12
_PLAIN_MAX = 4096  # keys remembered as plain, per pipeline
_LEVEL_NUM = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}

# (logger method, event, the logger's own fields, the call's fields) -> None
General = Callable[[str, Any, Mapping[str, Any], dict[str, Any]], None]


def general_method(general: General, level: str, fields: Mapping[str, Any]) -> Callable[..., None]:
    """The method ``level`` of a logger bound to ``fields`` that takes the general way."""

    def method(event: Any = None, *args: Any, **kw: Any) -> None:
        if args:
            event = interpolate(event, args)
        general(level, event, fields, kw)

    return method


class Plan:
    """What a pipeline's fast methods share, decided when the pipeline is built.

    ``None`` from :meth:`build` when no call can take the fast path: a console
    renderer, a user's processors (they may read or change anything), or a redactor
    that would change a line's own keys or level names.
    """

    __slots__ = (
        "add_context",
        "context_special",
        "general",
        "plain",
        "redactor",
        "renderer",
        "sink",
        "special",
    )

    def __init__(
        self,
        *,
        add_context: AddContext,
        redactor: Redactor,
        renderer: BudgetRenderer,
        sink: Sink,
        general: General,
        special: frozenset[str],
        context_special: frozenset[str],
    ) -> None:
        self.add_context = add_context
        self.redactor = redactor
        self.renderer = renderer
        self.sink = sink
        self.general = general
        self.special = special
        self.context_special = context_special
        # Keys the redactor leaves alone (neither secret nor a phone key), learnt as met.
        self.plain: set[str] = set()

    @classmethod
    def build(
        cls,
        *,
        add_context: AddContext,
        redactor: Redactor,
        renderer: BudgetRenderer,
        sink: Sink,
        general: General,
        special: frozenset[str],
        context_special: frozenset[str],
        simple: bool,
    ) -> Plan | None:
        """The plan, or ``None`` when the pipeline is not ``simple`` or redacts its own keys.

        ``special``: keys of a call or a logger's fields that send the call the general
        way; ``context_special``: those of the fields bound in context."""
        if not simple:
            return None
        if any(redactor.kind(key) in (SECRET, PHONE) for key in _OWN_KEYS):
            return None
        if any(redactor.text(name) != name for name in LEVEL_OF.values()):
            return None
        return cls(
            add_context=add_context,
            redactor=redactor,
            renderer=renderer,
            sink=sink,
            general=general,
            special=special,
            context_special=context_special,
        )

    def learn(self, key: str) -> bool:
        """Whether ``key`` is plain (and may stay on the fast path); remembered."""
        if key in self.special or self.redactor.kind(key) in (SECRET, PHONE):
            return False
        if len(self.plain) < _PLAIN_MAX:
            self.plain.add(key)
        return True

    def fields(self, fields: Mapping[str, Any]) -> dict[str, Any] | None:
        """A logger's own fields as they will show (redacted once); ``None``: not fast.

        Only strings, numbers, booleans and ``None`` are redacted ahead: a list or a
        dict bound to a logger may change before a later call, so it is read then.
        """
        if any(key in self.special for key in fields):
            return None
        if any(type(value) not in _SCALARS for value in fields.values()):
            return None
        kept = {k: v for k, v in fields.items() if k != F.EVENT}  # a call's event replaces it
        return self.redactor(None, "info", kept)

    def bound(self, now: _Bound) -> tuple[Redactor, dict[str, Any] | None, bool]:
        """What the fields bound in context ``now`` show on a line, kept on ``now``.

        (redactor, redacted fields or ``None`` when they must go the general way,
        whether one of them is a line's own key). A context's fields never change
        (bind makes a new one), so this is worked out once per binding and redactor.
        """
        fields = now.fields
        if any(key in self.context_special for key in fields) or any(
            type(value) not in _SCALARS for value in fields.values()
        ):
            memo: tuple[Redactor, dict[str, Any] | None, bool] = (self.redactor, None, False)
        else:
            shown = self.redactor(None, "info", dict(fields))
            memo = (self.redactor, shown, not _OWN.isdisjoint(fields))
        now.memo = memo
        return memo

    def method(self, level: str, fields: Mapping[str, Any]) -> Callable[..., None]:
        """The method ``level`` of a logger bound to ``fields``: never raises, writes one line."""
        slow = general_method(self.general, level, fields)
        shown = self.fields(fields)
        if shown is None:
            return slow
        return self._fast(level, fields, shown, slow)

    def _fast(  # noqa: PLR0915 - names the hot path reads, bound once, then the hot path
        self,
        level: str,
        fields: Mapping[str, Any],
        shown: dict[str, Any],
        slow: Callable[..., None],
    ) -> Callable[..., None]:
        general = self.general
        level_name = LEVEL_OF[level]
        stamp = self.add_context.now
        time_ns = time.time_ns
        iso = self.add_context.iso
        redactor = self.redactor
        clean = redactor._clean
        text = redactor.text
        field = redactor.field
        plain = self.plain
        learn = self.learn
        remember = self.bound
        renderer = self.renderer
        render = renderer.render
        over = renderer.over
        limit = renderer.max_line + 1  # the newline orjson appends
        sink = self.sink
        put = sink.put_info if _LEVEL_NUM[level] < 30 else sink.put_urgent
        ctx_get = _ctx.get
        dumps = _DUMPS
        newline = _NEWLINE
        encode_error = _ENCODE_ERROR
        ts_key, level_key, event_key, cid_key = _OWN_KEYS

        def method(  # noqa: PLR0912, PLR0915 - the hot path: one frame, no helper calls
            event: Any = None, *args: Any, **kw: Any
        ) -> None:
            if args:
                event = interpolate(event, args)
            if event is None:
                general(level, event, fields, kw)
                return
            try:
                # -- the line's own keys: ts, level, event, cid (redacted unless known clean)
                if iso:
                    ts = stamp()
                    out = {ts_key: ts, level_key: level_name, event_key: event}
                    if ts not in clean:
                        out[ts_key] = text(ts)
                else:
                    ts = time_ns() // 1_000_000  # AddContext's epoch ms, written out
                    out = {ts_key: ts, level_key: level_name, event_key: event}
                    if ts >= _TS_PLAIN:
                        out[ts_key] = field(ts_key, ts)
                if type(event) is not str:
                    out[event_key] = field(event_key, event)
                elif event not in clean:
                    out[event_key] = text(event)
                now = ctx_get()
                cid = now.cid
                if cid is not None:
                    if type(cid) is str and cid in clean:
                        out[cid_key] = cid
                    else:
                        out[cid_key] = field(cid_key, cid)
                # -- fields bound in context (redacted once per binding), the logger's own
                bound = now.fields
                if bound:
                    memo = now.memo
                    if memo is None or memo[0] is not redactor:
                        memo = remember(now)
                    held = memo[1]
                    if held is None:
                        general(level, event, fields, kw)
                        return
                    if memo[2]:  # a bound "level" or "event" must not rewrite the line's own
                        core = dict(out)
                        out.update(held)
                        out.update(core)
                    else:
                        out.update(held)
                if shown:
                    out.update(shown)
                # -- the call's fields, redacted: a plain key and a known or scalar value pass
                if kw:
                    out.update(kw)
                    for key, value in kw.items():
                        if key not in plain and not learn(key):
                            if key in self.special:
                                general(level, event, fields, kw)
                                return
                            out[key] = field(key, value)
                            continue
                        cls = type(value)
                        if cls is str:
                            if value not in clean:
                                out[key] = text(value)
                        elif cls is int:
                            if value >= _CARD_MIN:
                                out[key] = field(key, value)
                        elif cls is not float and cls is not bool and value is not None:
                            out[key] = field(key, value)
                # -- JSON with its newline, and the budget
                try:
                    data = dumps(out, option=newline)
                except encode_error:  # what orjson cannot write: the renderer cleans it
                    data = render(out) + b"\n"
                else:
                    if len(data) > limit or not data.isascii():
                        data = over(out, data)  # the budget; escapes (render.showable)
            except Exception:  # never raise into the app: the general way copes or says so
                slow(event, **kw)
                return
            # -- the sink
            put(data)

        return method
