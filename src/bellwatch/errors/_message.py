"""What an exception says: its own text, what it was raised from, what failed in a group.

Private to :mod:`.fingerprint` (which re-exports :func:`error_message`) and the error
lines. Imports only the parameteriser (a group names each kind of failure once).
"""

from __future__ import annotations

import contextlib

from .parameterize import parameterize

__all__ = ["causes", "error_message"]


def error_message(exc: BaseException) -> str:
    """The text of ``exc``; never raises (a broken ``__str__`` gives a placeholder).

    An exception group (a ``TaskGroup``'s) says what failed inside it: its message,
    then each kind of sub-exception once (``Type: message``, ids aside), so two groups
    differ when what failed in them does, and not by how many tasks failed alike.
    An exception raised from another (``raise ... from``, or while handling it) says
    that one too, ``(from Type: message)``: the root cause is on the line and in the
    fingerprint, so one wrapper over two different failures is two patterns.
    """
    parts = [_own_message(exc)]
    for link in causes(exc):
        said = _own_message(link)
        parts.append(
            f"(from {type(link).__name__}: {said})" if said else f"(from {type(link).__name__})"
        )
    return " ".join(part for part in parts if part)


def _own_message(exc: BaseException) -> str:
    try:
        if isinstance(exc, BaseExceptionGroup):
            return _group_message(exc)
        if isinstance(exc, KeyError) and len(exc.args) == 1:
            return str(exc.args[0])  # str(KeyError) quotes the key: the whole text would vanish
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__name__}>"


_CAUSES = 3  # links of a chain read at most


def causes(exc: BaseException) -> list[BaseException]:
    """What ``exc`` was raised from, nearest first; a cycle ends the chain.

    A group holding the exception it is the context of is passed over: it is the
    exception re-raised out of a one-member group (Starlette's ``BaseHTTPMiddleware``
    does it to every error), which says nothing more and would repeat itself.
    """
    out: list[BaseException] = []
    seen = {id(exc)}
    inner = exc
    # (a chain attribute replaced by a property that raises ends the chain there)
    with contextlib.suppress(Exception):
        link = _parent(exc)
        while link is not None and id(link) not in seen and len(out) < _CAUSES:
            seen.add(id(link))
            if not (isinstance(link, BaseExceptionGroup) and _holds(link, inner)):
                out.append(link)
            inner = link
            link = _parent(link)
    return out


def _holds(group: BaseExceptionGroup[BaseException], exc: BaseException) -> bool:
    return any(leaf is exc for leaf in _leaves(group))


def _parent(exc: BaseException) -> BaseException | None:
    """``__cause__``, else the context unless ``raise ... from None`` suppressed it."""
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


_GROUP_LEAVES = 50  # sub-exceptions of a group read at most (nested groups included)


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    """The exceptions a group holds, nested groups flattened (the first ``_GROUP_LEAVES``)."""
    out: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack and len(out) < _GROUP_LEAVES:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            out.append(exc)
    return out


def _group_message(group: BaseExceptionGroup[BaseException]) -> str:
    kinds: dict[str, str] = {}
    for exc in _leaves(group):
        # Each one's own text: its chain could lead back to the group (a cycle).
        text = f"{type(exc).__name__}: {_own_message(exc)}"
        kinds.setdefault(parameterize(text), text)  # one per kind, ids aside
    return f"{group.message}: " + "; ".join(kinds[kind] for kind in sorted(kinds))
