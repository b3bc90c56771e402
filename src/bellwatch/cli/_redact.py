"""The one redactor on everything the CLI prints, and JSON scrubbed at any depth.

:mod:`bellwatch.log.redact` decides what a secret is (by key and by value); this module
applies it to what the CLI shows: text (:func:`text`, which :func:`._safe.safe_text`
calls), JSON-ready data (:func:`scrub_json`) and a record's own line
(:func:`record_line`). Each command resolves its settings once and calls
:func:`use_settings`, so ``BELLWATCH_REDACT_KEYS`` and the masking switches act on the
CLI as they act on the logs.

Unlike :meth:`~bellwatch.log.redact.Redactor.value`, which masks containers nested
deeper than four levels (a log line is never that deep), :func:`scrub_json` walks JSON
to any depth: a ``/metrics`` document or a cost report is deeper and must stay whole.
A string that holds a JSON object or array (an Insights ``@message`` column, a body
logged as text) is scrubbed as JSON, so a secret under a key is found there too.
"""

from __future__ import annotations

from typing import Any

import orjson

from .. import _guard, _settings
from ..log.redact import MASK, MaskedRow, MaskedRows, Redactor
from ..log.redact import redactor as _library_redactor
from ..sources.base import MESSAGE, SYSTEM_FIELDS, Record, TextRecord

__all__ = ["current", "fields_of", "record_line", "scrub_json", "text", "use_settings"]

_NESTED_MAX = 256 * 1024  # longer strings are not parsed as JSON (the text rules still run)
_SYSTEM = tuple(SYSTEM_FIELDS)
_chosen: Redactor | None = None


def use_settings(settings: _settings.Settings) -> None:
    """Mask what ``settings`` say is secret in everything printed from now on.

    Every command calls this once with the settings it resolved (the redactor for
    equal settings is shared, so this costs nothing on repeat).
    """
    global _chosen
    _chosen = Redactor.from_settings(settings)


def current() -> Redactor:
    """The redactor of the running command; before one chose, the library's default."""
    if _chosen is not None:
        return _chosen
    try:
        return _library_redactor()
    except _settings.ConfigError:  # a bad setting: the command says so; mask by default
        return Redactor.from_settings(_settings.Settings())


def text(value: str) -> str:
    """``value`` with every secret the value rules recognise masked; never raises."""
    try:
        return current().text(value)
    except Exception as exc:  # a failure masks the whole text rather than show it
        _guard.record_internal_error(exc)
        return MASK


def scrub_json(data: Any, *, numbers: bool = True) -> Any:
    """``data`` (dicts, lists, strings, numbers) with every secret masked, at any depth.

    A value under a secret key is masked whole (a container too); strings go through
    the value rules; a large int that passes as a card number keeps its last four
    digits, unless ``numbers`` is False: for data whose numbers are all computed here
    (counts, bytes, dollars), never logged values. Never raises: data that cannot be
    walked is masked whole.
    """
    try:
        return _walk(current(), data, None, numbers)
    except Exception as exc:  # RecursionError on absurd nesting, a broken object
        _guard.record_internal_error(exc)
        return MASK


def _walk(r: Redactor, value: Any, key: Any, numbers: bool) -> Any:
    kind = r.kind(key) if isinstance(key, str) else 0
    if isinstance(value, dict):
        if kind and r.is_secret_key(key):
            return MASK
        if type(value) is MaskedRow and value.by is r:  # a report's row, this redactor's
            return value
        if r.plain(value):  # a flat row no rule would change: a report's, most often
            return dict(value)
        return {k: _walk(r, v, k, numbers) for k, v in value.items()}
    if isinstance(value, list | tuple):
        if kind and r.is_secret_key(key):
            return MASK
        if len(value) == 2 and isinstance(value[0], str) and r.is_secret_key(value[0]):
            return [value[0], MASK]  # a (name, value) pair: headers as a list
        if type(value) is MaskedRows and value.by is r:  # a report's rows, all plain
            return value
        if all(type(v) is MaskedRow and v.by is r for v in value):  # a report's rows
            return list(value)
        return [_walk(r, v, None, numbers) for v in value]
    if kind:  # a secret or phone key: the redactor's own rule for the pair
        return r.value({key: value})[key]
    if isinstance(value, str):
        return r.text(_nested(r, value, numbers))
    if not numbers and isinstance(value, int):
        return value
    return r.value(value)


def _nested(r: Redactor, value: str, numbers: bool) -> str:
    """A string holding a JSON object or array, scrubbed as JSON (else as it is)."""
    if value[:1] not in ("{", "[") or len(value) > _NESTED_MAX:
        return value
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value
    if not isinstance(parsed, dict | list):
        return value
    walked = _walk(r, parsed, None, numbers)
    return value if walked == parsed else orjson.dumps(walked).decode()


def fields_of(record: Record) -> dict[str, Any]:
    """A record's own fields (without the four ``@`` fields), masked."""
    return _masked_fields(record)[0]


def _masked_fields(record: Record) -> tuple[dict[str, Any], bool]:
    """The record's own fields masked, and whether anything was.

    Most lines hold no secret: the redactor's pipeline step (keys decided once, clean
    values remembered) says so in a microsecond or two on a copy, and the fields are
    returned as they are. Only a line it would change is walked by :func:`scrub_json`,
    which masks at any depth and reads strings holding JSON.
    """
    own = record.copy()
    for name in _SYSTEM:
        own.pop(name, None)
    quick = own.copy()
    try:
        current()(None, "", quick)
    except Exception as exc:  # never trust a line the quick check could not read
        _guard.record_internal_error(exc)
        quick = {}
    if quick == own:
        return own, False
    out = scrub_json(own)
    return (out if isinstance(out, dict) else {}), True  # a failed walk (counted): nothing


def record_line(record: Record) -> bytes:
    """The record's own line, byte for byte, unless a value had to be masked.

    A text line (not JSON) becomes ``{"text": ...}``, its text with the value rules
    applied, so ``--json`` output stays JSON Lines; bytes that were not UTF-8 become
    U+FFFD there (JSON has no bytes). A JSON line with a secret becomes that line's JSON
    (same keys, same order) with the secret masked.
    """
    line = str(record.get(MESSAGE, ""))
    if isinstance(record, TextRecord):
        shown = text(line).encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        return orjson.dumps({"text": shown})
    fields, masked = _masked_fields(record)
    if not masked:
        return line.encode("utf-8", "surrogateescape")
    try:
        parsed = orjson.loads(line)  # the line itself: keys the record may have renamed
    except orjson.JSONDecodeError:
        return orjson.dumps(fields)
    return orjson.dumps(scrub_json(parsed))
