"""Redaction: secrets and personal data never leave the process.

One :class:`Redactor` serves every way out: it is the logging pipeline's last step
before rendering, and :func:`scrub_text` / :func:`scrub` give the same masking to the
error patterns (``/metrics``, the dashboard, alerts), EMF dimensions, and the CLI and
MCP outputs.

- **By key**, in any mapping, list, ``(name, value)`` pair, or ``key=value`` text: a
  key is split into words (``clientSecret``, ``client-secret`` and ``CLIENT_SECRET``
  are all ``client secret``) and is secret when its last words are one of the keys
  (``db_password`` ends with ``password``; ``password_hint`` and ``tokens`` do not).
- **By value**, anywhere in a string: the shapes in :mod:`bellwatch.log._rules`
  (bearer credentials, JWTs, AWS keys, URL passwords, ...) and
  :mod:`bellwatch.log._numbers` (card and phone numbers).
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import functools
import re
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from .. import _guard, _settings
from ..schema import F
from . import _rules
from ._astext import as_text
from ._masked import MaskedRow, MaskedRows, plain_rows
from ._numbers import card_like, mask_numbers, one_word
from ._rules import MASK, PHONE, QUERY_ONLY, SECRET

__all__ = [
    "MASK",
    "PHONE_KEYS",
    "QUERY_KEYS",
    "MaskedRow",
    "MaskedRows",
    "Redactor",
    "activate",
    "key_words",
    "mask_phone_numbers",
    "mask_query_secrets",
    "redactor",
    "scrub",
    "scrub_text",
]

# Keys whose values are phone numbers: they keep their last four digits (mask_phones).
PHONE_KEYS = ("phone", "phone_number", "mobile", "mobile_number", "msisdn", "telephone", "tel")
# Secret only as a URL query parameter (?key=..., &code=..., &sig=...): as a log field
# name, "key" or "code" usually holds something plain (a cache key, a status code).
QUERY_KEYS = ("key", "code", "sig")

_WORDS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
_MAX_SCAN = 64 * 1024  # longer strings are cut (a line keeps 200 characters anyway)
_CLEAN_MAX = 2048  # strings remembered as clean, per redactor
_CLEAN_LEN = 128  # only strings this short are remembered
_KINDS_MAX = 4096
_JSON_OPENERS = ("{", "[")  # a string that may hold JSON: masked as the JSON it holds
_CARD_MIN = 2 * 10**12  # the smallest int that can be a card number (13 digits from 2...)
# Written by orjson as dates and uuids: nothing to scan. (An enum member is written as
# its value, which may hold anything: it is scanned as that value.)
_PLAIN_TYPES = (bool, float, datetime.date, datetime.time, datetime.timedelta, uuid.UUID)


def key_words(key: str) -> tuple[str, ...]:
    """The lowercase words of a key: ``"X-Api-Key"``, ``"xApiKey"`` -> ``("x", "api", "key")``.

    Digits are dropped, so ``password2`` is ``password``.
    """
    return tuple(w.lower() for w in _WORDS.findall(key))


def _joined(keys: Iterable[str]) -> frozenset[str]:
    return frozenset("".join(key_words(k)) for k in keys if key_words(k))


def mask_phone_numbers(text: str) -> str:
    """Phone numbers in ``text`` (E.164, ``%2B``, national formats) keep their last 4 digits."""
    return mask_numbers(text, cards=False, phones=True)


class Redactor:
    """Masks secrets by key and by value; a pipeline step and a function for any value.

    Args:
        keys: secret keys (the ``redact_builtin_keys`` and ``redact_keys`` settings).
            A key matches when its last words are one of these, whatever its case or
            separators.
        mask_phones: phone numbers keep only their last four digits.
        mask_emails: ``alice@example.com`` becomes ``a***@example.com``.

    Decisions about keys are cached per key, and strings found clean are remembered
    (bounded), so a steady stream of the same keys and values costs a dict lookup each.
    """

    __slots__ = ("_clean", "_emails", "_kinds", "_phone_keys", "_phones", "_secret_keys")

    def __init__(
        self, keys: Iterable[str], mask_phones: bool = True, mask_emails: bool = False
    ) -> None:
        self._secret_keys = _joined(keys)
        self._phones = mask_phones
        self._phone_keys = _joined(PHONE_KEYS) if mask_phones else frozenset()
        self._emails = mask_emails
        self._kinds: dict[Any, int] = {}
        self._clean: dict[str, bool] = {}

    @classmethod
    def from_settings(cls, settings: _settings.Settings) -> Redactor:
        """The redactor ``settings`` describe (shared by equal settings)."""
        return _for(
            settings.redact_builtin_keys + settings.redact_keys,
            settings.mask_phones,
            settings.mask_emails,
        )

    # -- keys ------------------------------------------------------------------------

    def kind(self, key: object) -> int:
        """0 (plain), ``SECRET``, ``PHONE`` or ``QUERY_ONLY`` for a key (str or bytes)."""
        hit = self._kinds.get(key)
        if hit is not None:
            return hit
        name = key.decode("latin-1") if isinstance(key, bytes) else key
        hit = 0
        if isinstance(name, str):
            words = key_words(name)
            tails = ["".join(words[i:]) for i in range(len(words))]
            if any(t in self._secret_keys for t in tails):
                hit = SECRET
            elif any(t in self._phone_keys for t in tails):
                hit = PHONE
            elif len(words) == 1 and words[0] in QUERY_KEYS:
                hit = QUERY_ONLY
        if len(self._kinds) < _KINDS_MAX:
            self._kinds[key] = hit
        return hit

    def is_secret_key(self, key: object) -> bool:
        """Whether values under ``key`` are masked whole."""
        return self.kind(key) == SECRET

    # -- values ----------------------------------------------------------------------

    def text(self, value: str) -> str:
        """``value`` with every secret the value rules recognise masked."""
        if value in self._clean:
            return value
        out = self._scan(value)
        if out is value and len(value) <= _CLEAN_LEN:
            if len(self._clean) >= _CLEAN_MAX:
                self._clean.clear()  # keep the hot values hot: they come back at once
            self._clean[value] = True
        return out

    def plain(self, row: Mapping[Any, Any]) -> bool:
        """Whether every value of the flat ``row`` is one no rule would change.

        True only for plain keys holding ``None``, bools, floats, ints too short to be a
        card number, and strings the value rules leave as they are that do not hold
        JSON (``{``/``[``): the rows of most reports, which then skip the walk of
        :meth:`value` (a report of 10k rows: one dict lookup per value instead of a
        few calls). Anything else is False: the caller walks that row.
        """
        kinds, clean = self._kinds, self._clean
        for key, value in row.items():
            kind = kinds.get(key)
            if kind is None:
                kind = self.kind(key)
            if kind:
                return False
            cls = type(value)
            if cls is str:
                if value in clean:
                    if value[:1] in _JSON_OPENERS:
                        return False
                elif not self.plain_text(value):
                    return False
            elif cls is int:
                if value >= _CARD_MIN:
                    return False
            elif not (cls is float or cls is bool or value is None):
                return False
        return True

    def plain_rows(self, rows: Sequence[Mapping[Any, Any]]) -> bool:
        """Whether every row of ``rows`` is :meth:`plain`, judged a column at a time when
        the rows share their keys (a report's do): each distinct value once."""
        return plain_rows(self, rows)

    def plain_text(self, value: str) -> bool:
        """Whether no rule would change the string ``value`` (a :meth:`plain` value)."""
        if value in self._clean:
            return value[:1] not in _JSON_OPENERS
        if (
            value.isalnum()
            and len(value) <= _MAX_SCAN
            and "IA" not in value
            and not value.isdigit()
            and not _rules.maybe_vendor_key(value)
        ):
            return True  # one word none of one_word()'s rules touch (an id): no calls
        return value[:1] not in _JSON_OPENERS and self.text(value) == value

    def plain_texts(self, values: Collection[str]) -> bool:
        """Whether :meth:`plain_text` holds for every string of ``values``: for a column of
        ids (one word each, the common case) judged in a few passes over all of them
        joined, not a call per id."""
        words = "".join(values)
        # ASCII letters and digits (ids): judged as bytes, a table lookup per character
        if words.encode("ascii").isalnum() if words.isascii() else words.isalnum():
            joined = "\n".join(values)  # not a word character: no match spans two values
            if (
                "IA" not in joined
                and not _rules.maybe_vendor_key(joined)
                and max(map(len, values)) <= _MAX_SCAN
            ):  # only an all-digit word can still be a card number
                return all(map(self.plain_text, filter(str.isdigit, values)))
        return all(map(self.plain_text, values))

    def plain_int(self, value: int) -> bool:
        """Whether an int is too short to be a card number (a :meth:`plain` value)."""
        return value < _CARD_MIN

    def _scan(self, s: str) -> str:
        if len(s) > _MAX_SCAN:
            s = s[:_MAX_SCAN] + "…"
        if s.isidentifier() or s.isalnum():
            return one_word(s)
        if "eyJ" in s:
            s = _rules.mask_jwts(s)
        if "-----BEGIN" in s:
            s = _rules.mask_pem(s)
        if "earer" in s or "asic" in s or ("B" in s and ("EARER" in s or "ASIC" in s)):
            s = _rules.mask_bearer(s)
        if "IA" in s:
            s = _rules.mask_aws(s)
        if _rules.maybe_vendor_key(s):
            s = _rules.mask_vendor_keys(s)
        if "AC" in s or "oken" in s or "OKEN" in s:
            s = _rules.mask_twilio(s)
        at = "@" in s
        if at and "://" in s:
            s = _rules.mask_userinfo(s)
        if "=" in s or ":" in s:
            s = _rules.mask_pairs(s, self.kind)
        if at and self._emails:
            s = _rules.mask_emails(s)
        return mask_numbers(s, cards=True, phones=self._phones)

    def _number(self, value: int, kind: int) -> Any:
        if kind == PHONE:
            text = str(value)
            masked = _rules.phone_value(text)
            return value if masked == text else masked  # too short to be a number: as is
        if value >= _CARD_MIN:
            digits = str(value)
            if card_like(digits):
                return MASK + digits[-4:]
        return value

    def __call__(self, _logger: object, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        """The pipeline step: scrub every value of ``event`` in place."""
        kinds = self._kinds
        clean = self._clean
        for key, value in event.items():
            kind = kinds.get(key)
            if kind is None:
                kind = self.kind(key)
            cls = type(value)
            if kind == SECRET:
                if value is not None and cls is not bool:  # a flag or a null hides nothing
                    event[key] = MASK
            elif cls is str:
                if kind == PHONE:
                    event[key] = self.text(_rules.phone_value(value))
                elif value not in clean:
                    event[key] = self.text(value)
            elif cls is int:
                if value >= _CARD_MIN or kind == PHONE:
                    event[key] = self._number(value, kind)
            elif cls is float or cls is bool or value is None:
                continue
            else:
                event[key] = self.value(value)
        return event

    def field(self, key: str, value: Any) -> Any:
        """One field of a line as :meth:`__call__` leaves it (the logger's fast path).

        ``__call__`` keeps this logic inline, since it runs once per field of every
        line; ``tests/test_redact.py`` holds the two to the same answers.
        """
        kind = self._kinds.get(key)
        if kind is None:
            kind = self.kind(key)
        cls = type(value)
        if kind == SECRET:
            return value if value is None or cls is bool else MASK
        if cls is str:
            if kind == PHONE:
                return self.text(_rules.phone_value(value))
            return value if value in self._clean else self.text(value)
        if cls is int:
            return self._number(value, kind) if value >= _CARD_MIN or kind == PHONE else value
        if cls is float or cls is bool or value is None:
            return value
        return self.value(value)

    _MAX_DEPTH = 4

    def value(self, value: Any, depth: int = 0) -> Any:
        """Any value scrubbed: strings by the value rules, containers by key and value.

        Mappings and lists are copied (tuples and sets become lists); beyond four
        levels a container is masked whole. An object the JSON renderer would write
        as its ``repr`` is scrubbed as that text, so an exception passed as a field
        cannot carry a secret through.
        """
        if isinstance(value, str):
            return self.text(value)
        if value is None or isinstance(value, _PLAIN_TYPES):
            return value
        if isinstance(value, enum.Enum):
            return self.value(value.value, depth)
        if isinstance(value, int):
            return self._number(value, 0)
        if isinstance(value, bytes | bytearray):
            text = bytes(value).decode("latin-1")
            out = self.text(text)
            return value if out == text else out
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
        if not isinstance(value, Mapping | list | tuple | set | frozenset):
            return self.text(as_text(value))  # counted as the renderer would count it
        if depth >= self._MAX_DEPTH:
            return MASK  # deeper than we look: never pass it through unread
        try:
            return self._container(value, depth)
        except Exception:
            return MASK  # a container that cannot be read is not written either

    def _container(self, value: Any, depth: int) -> Any:
        if isinstance(value, Mapping):
            return {self._key(k): self._item(k, v, depth) for k, v in value.items()}
        if self._secret_pair(value):  # one (name, value) pair given on its own
            return [value[0], MASK]
        out: list[Any] = []
        for item in value:
            if self._secret_pair(item):
                out.append((item[0], MASK))  # a (name, value) pair: ASGI headers
            else:
                out.append(self.value(item, depth + 1))
        return out

    def _secret_pair(self, item: Any) -> bool:
        """Whether ``item`` is a ``(name, value)`` pair whose name is a secret key."""
        return (
            isinstance(item, tuple | list)
            and len(item) == 2
            and isinstance(item[0], str | bytes)  # a name, and hashable
            and self.kind(item[0]) == SECRET
        )

    def _key(self, key: Any) -> Any:
        """A mapping's key as written: scanned like a value, since a dict keyed by phone
        number, card or token (calls per caller) carries them in its keys."""
        if isinstance(key, str):
            return key if key in self._clean else self.text(key)
        if isinstance(key, int) and not isinstance(key, bool):
            return self._number(key, 0)
        return key

    def _item(self, key: Any, value: Any, depth: int) -> Any:
        kind = self.kind(key)
        if kind == SECRET:
            return value if value is None or isinstance(value, bool) else MASK
        if kind == PHONE and isinstance(value, str | int) and not isinstance(value, bool):
            value = _rules.phone_value(str(value))
        return self.value(value, depth + 1)


@functools.lru_cache(maxsize=8)
def _for(keys: tuple[str, ...], phones: bool, emails: bool) -> Redactor:
    return Redactor(keys, phones, emails)


_active: Redactor | None = None


def activate(redactor: Redactor | None) -> None:
    """Make ``redactor`` the one :func:`scrub_text` uses (the pipeline's, at configure)."""
    global _active
    _active = redactor


def redactor(settings: _settings.Settings | None = None) -> Redactor:
    """The redactor for ``settings``; without, the configured pipeline's (else defaults)."""
    if settings is not None:
        return Redactor.from_settings(settings)
    if _active is not None:
        return _active
    return Redactor.from_settings(_settings.resolve())  # no pipeline yet: defaults and env


def scrub_text(text: str, settings: _settings.Settings | None = None) -> str:
    """``text`` with every secret masked, as a log line would show it.

    For outputs outside the logging pipeline: error patterns, alerts, EMF, and the
    CLI's and MCP server's reports. Never raises; a failure masks the whole text.
    """
    try:
        return redactor(settings).text(text)
    except Exception as exc:
        _guard.record_internal_error(exc)
        return MASK


def scrub(value: Any, settings: _settings.Settings | None = None) -> Any:
    """Any value (a record, a report, a JSON document) with every secret masked."""
    try:
        return redactor(settings).value(value)
    except Exception as exc:
        _guard.record_internal_error(exc)
        return MASK


def mask_query_secrets(text: str) -> str:
    """Mask the values of secret ``key=value`` pairs in ``text`` (query strings included)."""
    return _rules.mask_pairs(text, redactor().kind)


assert F.SESSION_ID not in QUERY_KEYS + PHONE_KEYS  # the schema's own sid is never masked
