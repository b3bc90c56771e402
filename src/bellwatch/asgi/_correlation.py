"""Which correlation id a request gets: an active span's trace id, an inbound
header's value (checked against its format), or a fresh random id.

:class:`CorrelationIds` is built from the settings (``cid_headers``,
``cid_max_length``, ``cid_bytes``) whenever the middleware adopts them; it is
asked once per request and WebSocket connection. Imports the log layer's ids only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence

from ..log.context import _pool, new_id, valid_id
from ..log.redact import scrub_text
from ._otel import AVAILABLE as OTEL
from ._otel import SLOT, current_trace_id

__all__ = ["EXTRACT", "CorrelationIds"]

# Checked exactly as received: no trimming, so a trailing newline, space or tab fails.
_XRAY_ROOT = re.compile(r"1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}")
# W3C Trace Context: lowercase hex; a version after 00 may add fields after the flags.
_TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?")
_ZERO_TRACE = "0" * 32
# Ids no redaction rule can touch, told apart without running the rules (a UUID costs
# them ~15 us): a UUID, up to 12 letters and digits, hex with a letter in it.
_PLAIN_ID = re.compile(
    r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}|[0-9A-Za-z]{1,12}"
    r"|[0-9A-Fa-f]*[A-Fa-f][0-9A-Fa-f]*"
)
_ZERO_PARENT = "0" * 16


def _amzn_root(value: str) -> str:
    """The ``Root=`` of an ALB ``X-Amzn-Trace-Id`` (``Self=...;Root=1-...;...``), or ``""``
    when it is not ``1-<8 hex>-<24 hex>`` exactly."""
    for part in value.split(";"):
        if part.startswith("Root="):
            root = part[5:]
            return root if _XRAY_ROOT.fullmatch(root) else ""
    return ""


def _trace_id(value: str) -> str:
    """The trace-id of a W3C ``traceparent`` (``00-<32 hex>-<16 hex>-<flags>``), or ``""``
    when the header is not valid Trace Context: version ``ff``, an all-zero trace or
    parent id, uppercase hex, or anything after the flags of version ``00``."""
    m = _TRACEPARENT.fullmatch(value)
    if m is None:
        return ""
    version, trace, parent, _flags, rest = m.groups()
    if version == "ff" or trace == _ZERO_TRACE or parent == _ZERO_PARENT:
        return ""
    if version == "00" and rest is not None:
        return ""
    return str(trace)


# Headers whose id is part of a structured value: the extractor returns the id, or ""
# when the value is not in that header's format. Other headers are ids themselves.
EXTRACT: dict[bytes, Callable[[str], str]] = {
    b"x-amzn-trace-id": _amzn_root,
    b"traceparent": _trace_id,
}


class CorrelationIds:
    """The correlation id of each request, by the settings' header order and rules.

    Args:
        headers: inbound header names, the first present and valid one wins.
        max_len: the longest inbound ``X-Request-ID``-style id kept.
        nbytes: random bytes in a fresh id (hex: twice as many characters).
    """

    __slots__ = ("max_len", "nbytes", "rank")

    def __init__(self, headers: Sequence[str], max_len: int, nbytes: int) -> None:
        self.rank = {name.encode("latin-1"): i for i, name in enumerate(headers)}
        self.max_len = max_len
        self.nbytes = nbytes

    def choose(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, bytes | None]:
        """The request's correlation id, and the header whose value was rejected, if any.

        An active OpenTelemetry span (its middleware wraps ours) gives its trace id;
        else an inbound header (:meth:`inbound`); else a fresh id.
        """
        # Most requests have no span: one look where the API keeps it, no call.
        if OTEL and (SLOT is None or SLOT[0].get().get(SLOT[1]) is not None):
            traced = current_trace_id()
            if traced is not None:
                return traced, None
        rank_of = self.rank
        for name, _ in headers:
            if name in rank_of:
                return self.inbound(headers)
        return _pool.take(self.nbytes), None  # no inbound id: the common case

    def inbound(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, bytes | None]:
        """The inbound id by configured header order, or a fresh one.

        Returns the id and, when an inbound value was rejected, the header name (the
        value itself is never echoed). ``X-Request-ID``-style ids must be within
        ``cid_max_length`` characters of ``[A-Za-z0-9._:=-]``, and be ones the log's
        redaction leaves alone (else the response would carry an id no line has);
        ``X-Amzn-Trace-Id`` and ``traceparent`` must be in their own formats. Nothing
        is trimmed first.
        """
        best: bytes | None = None
        best_name = b""
        best_rank = len(self.rank)
        rank_of = self.rank
        for name, value in headers:
            rank = rank_of.get(name)
            if rank is not None and rank < best_rank:
                best, best_name, best_rank = value, name, rank
        if best is None:
            return new_id(self.nbytes), None
        text = best.decode("latin-1")  # exactly as received: "abc\n" is not "abc"
        extract = EXTRACT.get(best_name)
        if extract is not None:
            text = extract(text)  # a trace header's id, checked against its format
            if text:
                return text, None
        elif valid_id(text, self.max_len) and _logged_as_is(text):
            return text, None
        return new_id(self.nbytes), best_name


def _logged_as_is(cid: str) -> bool:
    """Whether the log lines will show ``cid`` as the response does: no redaction rule
    masks it (``token=...``, a card-like number would be ``token=***``, ``***0234``)."""
    return _PLAIN_ID.fullmatch(cid) is not None or scrub_text(cid) == cid
