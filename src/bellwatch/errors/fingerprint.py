"""What an error is: its fingerprint (type + parameterised message + call site) and severity.

The hash is a blake2b digest of normalised text, so the same error gets the same
``hash`` in every process and after every restart (Python's ``hash()`` is salted
per process). The message is parameterised first (:mod:`.parameterize`: numbers,
ids, addresses, dates... become placeholders), so that "Invalid phone number
+15551234567" and "Invalid phone number +14165550000" group together; the call site
is the app's own ``module:function`` frames, without line numbers. :func:`explain`
shows how one fingerprint was built.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import sysconfig
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

from ..log.redact import scrub_text
from ..schema import F, Sev
from ._message import causes, error_message
from .parameterize import MAX_MESSAGE, normalise_message, parameterize

__all__ = [
    "Explanation",
    "default_severity",
    "error_message",
    "explain",
    "explain_parts",
    "explain_record",
    "fingerprint",
    "identify",
    "in_app_frames",
    "normalise_message",
    "qualified_type",
]


def _library_roots() -> tuple[str, ...]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path) + os.sep)
    return tuple(sorted(roots))


# bellwatch's own frames (the middleware, the pipeline) are never the app's call site,
# wherever bellwatch is installed (a checkout, site-packages), as for the log line's
# traceback (log/processors.py); the demo service is an app like any other.
_PACKAGE = os.path.dirname(os.path.dirname(os.path.realpath(__file__))) + os.sep
_DEMO = _PACKAGE + "demo" + os.sep


_LIBRARY_ROOTS = _library_roots()
_IN_APP: dict[str, bool] = {}
_IN_APP_MAX = 4096


def _in_app(filename: str) -> bool:
    hit = _IN_APP.get(filename)
    if hit is None:
        if filename.startswith("<"):  # <frozen ...>, <string>: not the app's source
            hit = False
        else:
            real = os.path.realpath(filename)
            ours = real.startswith(_PACKAGE) and not real.startswith(_DEMO)
            hit = not ours and not real.startswith(_LIBRARY_ROOTS) and "site-packages" not in real
        if len(_IN_APP) < _IN_APP_MAX:
            _IN_APP[filename] = hit
    return hit


# Frames Python 3.12+ no longer makes (PEP 709 inlines these comprehensions into their
# function): never hashed, so one bug keeps its fingerprint across Python versions.
_INLINED = frozenset({"<listcomp>", "<dictcomp>", "<setcomp>"})


def in_app_frames(tb: TracebackType | None, limit: int = 8) -> list[str]:
    """``module:function`` of the app's own frames, outermost first (innermost ``limit``).

    No line numbers, so that an unrelated edit above the call site keeps the
    fingerprint; library and standard-library frames are skipped, and so are list,
    dict and set comprehensions (a frame of their own only before Python 3.12). When
    no frame is the app's, the innermost frame stands in.
    """
    frames: list[str] = []
    last = ""
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name in _INLINED:
            tb = tb.tb_next
            continue
        name = f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}"
        if _in_app(frame.f_code.co_filename):
            frames.append(name)
        last = name
        tb = tb.tb_next
    if not frames and last:
        frames.append(last)
    return frames[-limit:]


def _type_name(exc: BaseException) -> str:
    cls = type(exc)
    return f"{cls.__module__}.{cls.__qualname__}"


def _digest(type_name: str, message: str, frames: Sequence[str], forced: str | None) -> str:
    parts = ["forced", forced] if forced is not None else [type_name, message, *frames]
    return hashlib.blake2b("\n".join(parts).encode("utf-8", "replace"), digest_size=4).hexdigest()


def _message_text(message: str) -> str:
    """What is parameterized and hashed: the message redacted first.

    Redacting first keeps secrets out of every pattern (/metrics, the dashboard,
    alerts) whole: parameterizing first could cut one into pieces no rule recognises
    (a digit glued in a JWT becomes ``<num>``). It also groups what differs only by a
    secret. Cut generously before redacting, so a secret is never split at the cut.
    """
    return parameterize(scrub_text(message[: 4 * MAX_MESSAGE]))


def identify(exc: BaseException, forced: str | None = None) -> tuple[str, str]:
    """``(fingerprint, message)`` of ``exc``: the message redacted and parameterized, once."""
    message = _message_text(error_message(exc))
    frames = in_app_frames(exc.__traceback__) if forced is None else []
    return _digest(_type_name(exc), message, frames, forced), message


def fingerprint(exc: BaseException, forced: str | None = None) -> str:
    """The 8-hex fingerprint of ``exc``, or of ``forced`` when the caller names the group."""
    return identify(exc, forced)[0]


@dataclass(frozen=True, slots=True)
class Explanation:
    """How a fingerprint was built: what ``bellwatch errors --explain HASH`` shows.

    The message is redacted before it is parameterized and hashed, so every text field
    is as safe to show as a log line.
    """

    hash: str
    type: str  # "module.Qualname", as hashed
    message: str  # what the parameterizer read (its first 500 characters)
    parameterized: str
    replaced: tuple[tuple[str, str], ...]  # (text, placeholder), in the order rules ran
    frames: tuple[str, ...]  # the app's module:function frames, outermost first
    forced: str | None = None
    notes: tuple[str, ...] = field(default=())

    def lines(self) -> list[str]:
        """The explanation as plain text lines, for a terminal or a report."""
        if self.forced is not None:
            return [f"hash {self.hash} = blake2b(forced fingerprint {self.forced!r})"]
        out = [
            f"hash {self.hash} = blake2b(type + parameterized message + frames)",
            f"type:          {self.type}",
            f"message:       {self.message}",
            f"parameterized: {self.parameterized}",
        ]
        out += [f"  {text!r} -> {placeholder}" for text, placeholder in self.replaced]
        out.append("frames:        " + (" > ".join(self.frames) or "(none: no traceback)"))
        out += [f"note: {note}" for note in self.notes]
        return out


def explain_parts(
    type_name: str,
    message: str,
    frames: Sequence[str] = (),
    forced: str | None = None,
    notes: Sequence[str] = (),
) -> Explanation:
    """Explain the fingerprint of the given parts (e.g. the facts of a logged error).

    ``type_name`` is ``module.Qualname`` and ``frames`` the app's ``module:function``
    frames, outermost first, as :func:`explain` hashes them; a log line holds only
    the class name and a few innermost frames, so a hash recomputed from it may
    differ from the logged one (say so in ``notes``).
    """
    shown = scrub_text(message[: 4 * MAX_MESSAGE])
    replaced: list[tuple[str, str]] = []
    parameterized = parameterize(shown, replaced)  # what _message_text gives: what is hashed
    return Explanation(
        hash=_digest(type_name, parameterized, frames, forced),
        type=type_name,
        message=shown[:MAX_MESSAGE],
        parameterized=parameterized,
        replaced=tuple(replaced),
        frames=tuple(frames) if forced is None else (),
        forced=forced,
        notes=tuple(notes),
    )


def explain(exc: BaseException, forced: str | None = None) -> Explanation:
    """How the fingerprint of ``exc`` is built; its ``hash`` is :func:`fingerprint`'s."""
    frames = in_app_frames(exc.__traceback__) if forced is None else []
    return explain_parts(_type_name(exc), error_message(exc), frames, forced)


def split_frames(exc_text: object) -> list[str]:
    """The frames of a logged ``exc`` value, outermost first.

    ``a:f:1 > b:g:2`` (caller first, as bellwatch writes them), or the older
    ``b:g:2 < a:f:1`` (innermost first).
    """
    if not isinstance(exc_text, str) or not exc_text:
        return []
    if " > " in exc_text or " < " not in exc_text:
        return exc_text.split(" > ")
    return exc_text.split(" < ")[::-1]


def qualified_type(name: str) -> str | None:
    """``module.Qualname`` of a logged type name, as the fingerprint hashed it; None when
    the line does not say which module.

    A name with a module is taken as it is (``builtins.KeyError``, ``app.errors.Declined``);
    a bare name of a built-in exception is one (``KeyError`` is ``builtins.KeyError``, the
    same class in every process); any other bare name could be any module's.
    """
    if "." in name:
        return name
    found = getattr(builtins, name, None)
    if isinstance(found, type) and issubclass(found, BaseException):
        return f"builtins.{name}"
    return None


def explain_record(record: Mapping[str, object]) -> Explanation:
    """Explain a logged error line (``type``, ``msg``, ``exc``) as far as it allows.

    The line has the class name (without its module, unless the app logged one), a
    redacted message and a few frames with line numbers (library frames included), so
    the recomputed ``hash`` is the logged one only when those are all the fingerprint
    used; the explanation's ``notes`` say what could not be recovered. A built-in
    exception's name is qualified (``KeyError`` as ``builtins.KeyError``), as hashed.
    """
    frames = [frame.rsplit(":", 1)[0] for frame in split_frames(record.get(F.EXC))]
    frames = [frame for frame in frames if frame.rsplit(":", 1)[-1] not in _INLINED]
    logged = str(record.get(F.ERROR_TYPE, ""))
    qualified = qualified_type(logged)
    notes = []
    if qualified is None:
        notes.append("type is the logged class name; the fingerprint uses module.Qualname")
    if frames:
        notes.append(
            "frames are the line's: the app's innermost few and the library frame that raised"
        )
    else:
        notes.append("the line has no frames (a low-severity error is logged without them)")
    return explain_parts(qualified or logged, str(record.get(F.MESSAGE, "")),
                         frames, notes=notes)  # fmt: skip


_CRITICAL_NAMES = ("DatabaseError", "OperationalError", "InterfaceError", "ConnectionError")
_CRITICAL_MODULES = ("sqlalchemy", "psycopg", "asyncpg", "sqlite3", "pymysql", "pymongo", "redis")


_BY_CLASS: dict[type[BaseException], str | None] = {}


def _class_severity(cls: type[BaseException]) -> str | None:
    # What the class alone says, cached (bounded) because the MRO walk is the slow part.
    if cls in _BY_CLASS:
        return _BY_CLASS[cls]
    found = _class_rule(cls)
    if len(_BY_CLASS) < 1024:
        _BY_CLASS[cls] = found
    return found


def _class_rule(cls: type[BaseException]) -> str | None:
    if issubclass(cls, MemoryError | ConnectionError):
        return Sev.CRITICAL
    for base in cls.__mro__:
        name = base.__name__
        if base.__module__.split(".", 1)[0] in _CRITICAL_MODULES or name.endswith(_CRITICAL_NAMES):
            return Sev.CRITICAL
    names = [base.__name__ for base in cls.__mro__]
    if any("Signature" in n for n in names):
        return Sev.HIGH
    if any("Validation" in n for n in names):
        return Sev.LOW
    return None


def default_severity(exc: BaseException, status: int | None, handled: bool) -> str:
    """The built-in rules: validation and 4xx low, handled medium, unhandled or 5xx high.

    Out-of-memory, database and connection failures are critical, also when the app
    raised its own error from one; a signature failure is high, and a burst of them
    escalates to critical.
    """
    by_class = _class_severity(type(exc))
    if by_class is not None:
        return by_class
    # A database or connection failure the app raised as its own error is still one.
    if any(_class_severity(type(link)) == Sev.CRITICAL for link in causes(exc)):
        return Sev.CRITICAL
    if status is not None and 400 <= status < 500:
        return Sev.LOW
    if not handled or (status is not None and status >= 500):
        return Sev.HIGH
    return Sev.MEDIUM
