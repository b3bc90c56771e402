"""``errors --explain HASH``: how a fingerprint was built, recomputed from its first line.

The fingerprint of an error is a hash of its type (``module.Qualname``), its message
redacted and parameterized, and the app's own ``module:function`` frames
(:mod:`bellwatch.errors.fingerprint`). The process that computed it is gone; what is
left is the line it wrote. This report finds the pattern's first line in the logs (the
earliest ``error`` line with that ``hash``, else the earliest ``aggregated_error``),
explains it with :func:`~bellwatch.errors.fingerprint.explain_record`, and says plainly
what a line cannot give back, so a recomputed hash that differs is not a mystery.
"""

from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..log.redact import scrub
from ..log.render import MARK
from ..schema import Ev, F
from ..sources.base import LOG_STREAM, SYSTEM_FIELDS, TIMESTAMP, Record, ScanStats, Source
from ..timeparse import format_ms

if TYPE_CHECKING:
    from ..errors.fingerprint import Explanation

__all__ = ["ErrorExplanation", "explain"]

_FAMILY = (Ev.ERROR, Ev.AGGREGATED_ERROR)
_WIDTH = 79


@dataclass(frozen=True)
class ErrorExplanation:
    """What the logs say of one fingerprint, and how far a line explains it."""

    hash: str
    """The fingerprint asked about."""
    line: dict[str, Any] | None
    """The pattern's first line (its fields, masked); ``None`` when no line has the hash."""
    stream: str | None
    """Where that line was read: the file, or the CloudWatch log stream."""
    explanation: Explanation | None
    """Type, parameterized message and frames, recomputed from the line."""
    unrecoverable: tuple[str, ...]
    """What went into the fingerprint that the line does not keep, one sentence each."""
    stats: ScanStats = field(default_factory=ScanStats)

    @property
    def same_hash(self) -> bool:
        """Whether the hash recomputed from the line is the one it logged."""
        return self.explanation is not None and self.explanation.hash == self.hash

    def lines(self) -> list[str]:
        """The explanation as plain text lines (log text in them is masked, not escaped)."""
        if self.line is None or self.explanation is None:
            return [f"no error line has hash {self.hash}"]
        ts = self.line.get(F.TS)
        when = format_ms(ts)[:19] + "Z" if isinstance(ts, int) else str(ts or "?")
        where = f" in {self.stream}" if self.stream else ""
        cid = self.line.get(F.CID)
        event = str(self.line.get(F.EVENT))
        out = [
            f"error {self.hash}: its first line is {_article(event)} {event} line of "
            f"{when}{where}" + (f" (cid {cid})" if cid else ""),
            "",
            "recomputed from that line:",
            *(x for x in self.explanation.lines() if not x.startswith("note: ")),
            "",
        ]
        if self.same_hash:
            verdict = f"The recomputed hash is the logged one, {self.hash}."
        else:
            verdict = (
                f"The recomputed hash is {self.explanation.hash}, not {self.hash}: the line "
                "does not keep everything the fingerprint was made of."
            )
        out += textwrap.wrap(verdict, _WIDTH)
        out.append("What a log line cannot recover:")
        for item in self.unrecoverable:
            out += textwrap.wrap(item, _WIDTH, initial_indent="- ", subsequent_indent="  ")
        return out

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        exp = dataclasses.asdict(self.explanation) if self.explanation is not None else None
        return {
            "hash": self.hash,
            "found": self.line is not None,
            "line": self.line,
            "stream": self.stream,
            "recomputed": exp,
            "same_hash": self.same_hash,
            "unrecoverable": list(self.unrecoverable),
        }


def explain(
    source: Source,
    fingerprint: str,
    since_ms: int | None = None,
    until_ms: int | None = None,
) -> ErrorExplanation:
    """Explain ``fingerprint`` from its first line in ``source`` within the window.

    Reads every record (a CloudWatch source is asked only for the lines with that hash).
    """
    from ..errors.fingerprint import explain_record  # the errors layer: only when asked

    first = _first_line(source, fingerprint, since_ms, until_ms)
    if first is None:
        return ErrorExplanation(fingerprint, None, None, None, (), source.stats)
    fields = scrub({k: v for k, v in first.items() if k not in SYSTEM_FIELDS})
    if not isinstance(fields, dict):  # scrub failed (and counted): nothing to show
        return ErrorExplanation(fingerprint, None, None, None, (), source.stats)
    stream = first.get(LOG_STREAM)
    explanation = explain_record(_whole_frames(fields))
    return ErrorExplanation(
        fingerprint,
        fields,
        str(stream) if stream else None,
        explanation,
        tuple(_unrecoverable(fields, explanation.type)),
        source.stats,
    )


# Words that begin with a vowel letter but not a vowel sound ("a user_error", "a unique").
_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "ura", "eu", "one")


def _article(word: str) -> str:
    """``a`` or ``an``, by how ``word`` sounds: an error, an ImportError, a booking_failed."""
    low = word.lower()
    if low[:1] in ("a", "e", "i", "o", "u") and not low.startswith(_CONSONANT_SOUND):
        return "an"
    return "a"


def _first_line(
    source: Source, fingerprint: str, since_ms: int | None, until_ms: int | None
) -> Record | None:
    """The earliest line of the pattern's first occurrence, else the earliest
    ``aggregated_error``. An error line is one the reports count: an ``error`` or
    ``aggregated_error`` event, or any event with an ``n`` (``log.exception`` keeps the
    app's own event name)."""
    quoted = fingerprint.replace("\\", "\\\\").replace('"', '\\"')
    best: Record | None = None
    best_key: tuple[bool, bool, int] | None = None
    pattern = f'{{ $.{F.ERROR_HASH} = "{quoted}" }}'
    for record in source.records(since_ms, until_ms, pattern=pattern):
        event = record.get(F.EVENT)
        if record.get(F.ERROR_HASH) != fingerprint:
            continue
        if event not in _FAMILY and type(record.get(F.OCCURRENCES)) is not int:
            continue  # an escalation or an alert: not an occurrence of the error
        ts = record.get(TIMESTAMP)
        key = (
            event == Ev.AGGREGATED_ERROR,
            not isinstance(ts, int),
            ts if isinstance(ts, int) else 0,
        )
        if best_key is None or key < best_key:
            best, best_key = record, key
    return best


def _whole_frames(line: dict[str, Any]) -> dict[str, Any]:
    """``line`` without the part of a frame the budget cut: ``app.api:book:4…`` keeps its
    ``module:function`` (only the line number was cut), ``app.a…`` names nothing."""
    frames = line.get(F.EXC)
    if not isinstance(frames, str) or not frames.endswith(MARK):
        return line
    # The budget cuts the end of the text, whichever order the frames are written in
    # (" > ", caller first, or the older " < ", innermost first).
    sep = " < " if " < " in frames and " > " not in frames else " > "
    *whole, last = frames.removesuffix(MARK).split(sep)
    if last.count(":") >= 2:  # module:function:line, cut in the line number
        whole.append(last)
    if not whole:
        return {k: v for k, v in line.items() if k != F.EXC}
    return {**line, F.EXC: sep.join(whole)}


def _unrecoverable(line: dict[str, Any], hashed_type: str) -> list[str]:
    """What the fingerprint used that ``line`` does not hold, said plainly (``hashed_type``:
    the type the explanation hashed, module-qualified when the line allows)."""
    out = []
    kind = str(line.get(F.ERROR_TYPE, "") or "?")
    if "." not in hashed_type:
        out.append(
            f"the exception's module: the line names {kind}, the fingerprint hashed "
            f"module.{kind} (two classes of that name in different modules group apart)"
        )
    frames = line.get(F.EXC)
    if frames:
        out.append(
            "the app's own frames: the line keeps the innermost 3 frames, library frames "
            "included; the fingerprint hashed up to 8 of the app's frames and none of the "
            "libraries'"
        )
        if isinstance(frames, str) and frames.endswith(MARK):
            out.append("the outer frames: the line's character budget cut them off")
    else:
        why = (
            "a summary line never carries the traceback"
            if line.get(F.EVENT) == Ev.AGGREGATED_ERROR
            else "a low-severity error is logged without its traceback, and the line's "
            "character budget may drop it"
        )
        out.append(
            f"every frame: this line has none ({why}), but the fingerprint hashed the app's frames"
        )
    msg = line.get(F.MESSAGE)
    if isinstance(msg, str) and msg.endswith(MARK):
        out.append("the end of the message: the line's character budget cut it")
    elif not msg:
        out.append(
            "the message: this line has none (the line's character budget dropped it; "
            "the hash names the pattern)"
        )
    if msg and line.get(F.EVENT) == Ev.AGGREGATED_ERROR:
        out.append(
            "the message as raised: an aggregated_error line holds the pattern's "
            "parameterized text (no error line of this hash was read)"
        )
    out.append(
        "whether the fingerprint was forced: log.error(..., fingerprint=NAME) leaves no "
        "trace on the line, and then only NAME was hashed"
    )
    return out
