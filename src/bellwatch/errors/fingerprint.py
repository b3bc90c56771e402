"""What an error is: its fingerprint (type + parameterised message + call site) and severity.

The hash is a blake2b digest of normalised text, so the same error gets the same
``hash`` in every process and after every restart (Python's ``hash()`` is salted
per process). Values that vary between occurrences of one error (ids, numbers,
phone numbers, emails, ...) become placeholders first, so that "Invalid phone
number +15551234567" and "Invalid phone number +14165550000" group together.
"""

from __future__ import annotations

import hashlib
import os
import re
import sysconfig
from types import TracebackType

from ..schema import Sev

__all__ = [
    "default_severity",
    "error_message",
    "fingerprint",
    "identify",
    "in_app_frames",
    "normalise_message",
]

# Rules start and end only where no word character and no placeholder bracket touches
# them, so that a second pass finds nothing new (normalising is idempotent).
_S = r"(?<![\w>])"
_E = r"(?![\w<])"
_HEX = "[0-9a-fA-F]"

# Order matters: whole structures (URLs, emails, UUIDs) go before the numbers inside them.
# Each rule: pattern, placeholder, and the substrings one of which it needs (none: a digit).
_RULES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = (
    (re.compile(_S + r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+"), "<url>", ("://",)),
    (re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+"), "<email>", ("@",)),
    (
        re.compile(_S + f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}" + _E),
        "<uuid>",
        (),
    ),
    (
        re.compile(
            _S
            + r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
            + _E
        ),
        "<date>",
        (),
    ),
    (re.compile(_S + r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?" + _E), "<ip>", ()),
    (re.compile(_S + f"(?:{_HEX}{{1,4}}:){{2,7}}{_HEX}{{1,4}}" + _E), "<ip>", ()),
    (re.compile(r"(?<![\w+>])\+\d{7,15}" + _E), "<phone>", ("+",)),
    (re.compile(_S + f"0x{_HEX}+" + _E), "<hex>", ()),
    # Hex-looking ids (request ids, hashes, Twilio-style "CA" + 32 hex): a digit and a letter.
    (
        re.compile(
            r"(?<![\w>.])" + f"[A-Za-z]{{0,2}}(?={_HEX}*\\d)(?=[0-9]*[a-fA-F]){_HEX}{{8,}}" + _E
        ),
        "<hex>",
        (),
    ),
    (re.compile(r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\""), "<quoted>", ("'", '"')),
    (
        re.compile(r"(?<![\w.>])[-+]?(?:\d+\.\d+(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+)(?![\d<])"),
        "<float>",
        (),
    ),
    (re.compile(r"(?<![\w<>])[-+]?\d+(?![\d.<])"), "<int>", ()),
    # Identifiers with digits glued on (user42, order_17) keep their word, lose the number.
    (re.compile(r"(?<=[A-Za-z_])\d+" + _E), "<int>", ()),
)

_MAX_MESSAGE = 500
_DIGIT = re.compile(r"\d")


def normalise_message(message: str) -> str:
    """``message`` with its variable parts replaced by ``<int>``, ``<uuid>``, ``<email>``, ...

    Idempotent: normalising a normalised message changes nothing.
    """
    text = message[:_MAX_MESSAGE]
    digits = _DIGIT.search(text) is not None
    for pattern, placeholder, needs in _RULES:
        # A cheap check first: most rules need a digit, the others a telltale substring.
        if any(n in text for n in needs) if needs else digits:
            text = pattern.sub(placeholder, text)
    return text


def _library_roots() -> tuple[str, ...]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path) + os.sep)
    # bellwatch's own frames (our wrappers, the pipeline) are never the app's call site.
    roots.add(os.path.dirname(os.path.realpath(__file__)) + os.sep)
    return tuple(sorted(roots))


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
            hit = not real.startswith(_LIBRARY_ROOTS) and "site-packages" not in real
        if len(_IN_APP) < _IN_APP_MAX:
            _IN_APP[filename] = hit
    return hit


def in_app_frames(tb: TracebackType | None, limit: int = 8) -> list[str]:
    """``module:function`` of the app's own frames, outermost first (innermost ``limit``).

    No line numbers, so that an unrelated edit above the call site keeps the
    fingerprint; library and standard-library frames are skipped. When no frame is
    the app's, the innermost frame stands in.
    """
    frames: list[str] = []
    last = ""
    while tb is not None:
        frame = tb.tb_frame
        name = f"{frame.f_globals.get('__name__', '?')}:{frame.f_code.co_name}"
        if _in_app(frame.f_code.co_filename):
            frames.append(name)
        last = name
        tb = tb.tb_next
    if not frames and last:
        frames.append(last)
    return frames[-limit:]


def error_message(exc: BaseException) -> str:
    """The text of ``exc``; never raises (a broken ``__str__`` gives a placeholder)."""
    try:
        if isinstance(exc, KeyError) and len(exc.args) == 1:
            return str(exc.args[0])  # str(KeyError) quotes the key: the whole text would vanish
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


def identify(exc: BaseException, forced: str | None = None) -> tuple[str, str]:
    """``(fingerprint, normalised message)`` of ``exc``, normalising the message once."""
    message = normalise_message(error_message(exc))
    if forced is not None:
        parts = ["forced", forced]
    else:
        cls = type(exc)
        parts = [f"{cls.__module__}.{cls.__qualname__}", message, *in_app_frames(exc.__traceback__)]
    digest = hashlib.blake2b("\n".join(parts).encode("utf-8", "replace"), digest_size=4)
    return digest.hexdigest(), message


def fingerprint(exc: BaseException, forced: str | None = None) -> str:
    """The 8-hex fingerprint of ``exc``, or of ``forced`` when the caller names the group."""
    return identify(exc, forced)[0]


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

    Out-of-memory, database and connection failures are critical; a signature failure
    is high, and a burst of them escalates to critical.
    """
    by_class = _class_severity(type(exc))
    if by_class is not None:
        return by_class
    if status is not None and 400 <= status < 500:
        return Sev.LOW
    if not handled or (status is not None and status >= 500):
        return Sev.HIGH
    return Sev.MEDIUM
