"""The message parameterizer: what varies between occurrences of one error becomes a placeholder.

Like Sentry's parameterizer: ids, numbers, addresses, dates, ... are replaced so that
messages differing only by them group under one fingerprint (:mod:`.fingerprint`).
Rules run in this order, whole structures before the numbers inside them:

==============  ===========================================================================
placeholder     replaces
==============  ===========================================================================
``<url>``       ``scheme://...`` up to a space or quote
``<email>``     ``name@domain.tld``
``<trace>``     W3C ``traceparent`` values and ALB/X-Ray trace ids (``1-<8 hex>-<24 hex>``)
``<uuid>``      UUIDs in any case
``<date>``      ISO 8601 dates and date-times, ``2024/01/31``, ``31/01/2024``, RFC 2822
                dates, and times of day (``12:30``, ``12:30:45.123``, ``9:05 PM``)
``<ip>``        IPv4 (with a port) and IPv6 in every form: full, ``::``-compressed,
                IPv4-mapped (``::ffff:10.0.0.1``), with a zone (``fe80::1%eth0``), in
                brackets with a port (``[::1]:8080``); an address written without a
                single digit (``::cafe``) stays, as words of hex letters do
``<phone>``     ``+`` and 7-15 digits, with or without spaces, dashes, dots, brackets
``<duration>``  a number with a unit: ``150ms``, ``2.5s``, ``1h30m``, ``3 seconds``
``<num>``       every other number, whatever its sign or form: ``42``, ``-7``, ``3.14``,
                ``1e-05``, ``95%``, ``1,234,567``, ``0x7f3a``, and hex ids of 8+
                characters with a digit (hashes, request ids, ``CA`` + 32 hex)
``<id>``        random ids of letters and digits: 10+ characters with 3+ runs of digits,
                or 16+ in both cases with 2+ runs (Stripe ``ch_3Mml...``, ULIDs, API keys)
``<quoted>``    text in single or double quotes (up to 200 characters)
==============  ===========================================================================

Digits glued to a word lose their number and keep the word (``user42`` ->
``user<num>``). Words alone never change: they are what tells two errors apart.
"""

from __future__ import annotations

import re

__all__ = ["MAX_MESSAGE", "normalise_message", "parameterize"]

# Rules start and end only where no word character and no placeholder bracket touches
# them, so that a second pass finds nothing new (normalising is idempotent).
_S = r"(?<![\w>])"
_E = r"(?![\w<])"
_HEX = "[0-9a-fA-F]"
_H4 = f"{_HEX}{{1,4}}"
_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
# Every IPv6 form (RFC 4291 text, RFC 5952 compression); a digit somewhere keeps
# words made of hex letters ("cafe::face" is not worth the risk) out.
_IPV6_CORE = (
    r"(?=[0-9a-fA-F:.%]*[0-9])(?:"
    f"(?:{_H4}:){{7}}{_H4}"
    f"|(?:{_H4}:){{1,4}}:{_IPV4}"
    f"|::(?:ffff(?::0{{1,4}})?:)?{_IPV4}"
    f"|(?:{_H4}:){{1,6}}(?::{_H4}){{1,6}}"
    f"|(?:{_H4}:){{1,7}}:"
    f"|:(?::{_H4}){{1,7}}"
    r")(?:%[0-9A-Za-z]+)?"
)
# Bare, or in brackets with a port ("[::1]:8080"), as IPv4 keeps its port too.
_IPV6 = rf"(?<![\w:.>])(?:\[{_IPV6_CORE}\](?::\d+)?|{_IPV6_CORE}(?![\w:<]))"
_MONTH = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_RFC2822 = (
    _S + r"(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{1,2} " + _MONTH
    + r" \d{4} \d{2}:\d{2}(?::\d{2})? (?:GMT|UTC|[+-]\d{4})" + _E
)  # fmt: skip
_ISO = (
    _S + r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?" + _E
)
_SLASHED = _S + r"(?:\d{4}/\d{1,2}/\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4})" + _E
_TIME = (
    r"(?<![\w:.>])\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?: ?[AaPp][Mm])?"
    r"(?:Z|[+-]\d{2}:?\d{2})?(?![\w:<])"
)
_UNITS = "(?:ns|us|µs|ms|s|m|h|d)"
_LONG_UNITS = (
    "(?:nanoseconds?|microseconds?|milliseconds?|seconds?|secs?|minutes?|mins?|hours?|hrs?|days?)"
)
# "150ms", "1h30m" (units glued on), or "3 seconds" (a word, maybe after a space).
_DURATION = rf"(?<![\w.>])(?:(?:\d+(?:\.\d+)?{_UNITS})+|\d+(?:\.\d+)? ?{_LONG_UNITS}){_E}"
# Hex-looking ids (request ids, hashes, Twilio-style "CA" + 32 hex): a digit and a letter.
_HEX_ID = rf"(?<![\w>.])[A-Za-z]{{0,2}}(?={_HEX}*\d)(?=[0-9]*[a-fA-F]){_HEX}{{8,}}{_E}"
# Random ids of letters and digits (Stripe's ``ch_3Mml...``, ULIDs, API keys): 10+ characters
# with 3+ runs of digits, or 16+ in both cases with 2+ runs. A name with a digit or two
# (``sha256WithRSAEncryption``, ``aes128GcmSha256``) is a word, and stays.
_ALNUM = "[A-Za-z0-9]"
_RANDOM_ID = (
    r"(?<![A-Za-z0-9<>])(?:"
    r"(?=[A-Za-z]*[0-9]+(?:[A-Za-z]+[0-9]+){2})"
    r"|(?=[A-Za-z0-9]{16})(?=[A-Za-z]*[0-9]+[A-Za-z]+[0-9])(?=[A-Za-z0-9]*[A-Z])(?=[A-Za-z0-9]*[a-z])"
    rf"){_ALNUM}{{10,}}(?![A-Za-z0-9<>])"
)
# Any sign, thousands separators, decimals, exponents, a percent sign.
_NUMBER = (
    r"(?<![\w.>])[-+]?(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\.\d+|\d+)"
    r"(?:[eE][-+]?\d+)?%?(?![\d<])"
)
_TRACEPARENT = r"(?<![\w>-])[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}(?![\w<-])"
_XRAY = r"(?<![\w>-])1-[0-9a-fA-F]{8}-[0-9a-fA-F]{24}(?![\w<-])"
_UUID = _S + f"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}" + _E

# Order matters: whole structures (URLs, emails, ids, dates, addresses) go before the
# numbers inside them. Each rule: pattern, placeholder, and the substrings one of which
# it needs (none: a digit).
_RULES: tuple[tuple[re.Pattern[str], str, tuple[str, ...]], ...] = tuple(
    (re.compile(pattern), placeholder, needs)
    for pattern, placeholder, needs in (
        (_S + r"[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+", "<url>", ("://",)),
        (r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", "<email>", ("@",)),
        (_TRACEPARENT, "<trace>", ("-",)),
        (_XRAY, "<trace>", ("-",)),
        (_UUID, "<uuid>", ("-",)),
        (_RFC2822, "<date>", (", ",)),
        (_ISO, "<date>", ("-",)),
        (_SLASHED, "<date>", ("/",)),
        (_IPV6, "<ip>", (":",)),
        (_S + _IPV4 + r"(?::\d+)?" + _E, "<ip>", (".",)),
        (_TIME, "<date>", (":",)),
        (r"(?<![\w+>])\+\d[\d ().-]{5,22}\d(?![\w<])", "<phone>", ("+",)),
        # What the redactor left of a phone or card number: "+***4567", "***1111".
        (r"(?<![\w+>])(?:\+|%2[Bb])\*\*\*\d{4}(?![\w<])", "<phone>", ("***",)),
        (r"(?<![\w>])\*\*\*\d{4}(?![\w<])", "<num>", ("***",)),
        (_DURATION, "<duration>", ()),
        (_S + f"0[xX]{_HEX}+" + _E, "<num>", ()),
        (_HEX_ID, "<num>", ()),
        (_RANDOM_ID, "<id>", ()),
        (r"'[^'\n]{0,200}'|\"[^\"\n]{0,200}\"", "<quoted>", ("'", '"')),
        (_NUMBER, "<num>", ()),
        # Identifiers with digits glued on (user42, order_17) keep their word, lose the number.
        (r"(?<=[A-Za-z_])\d+" + _E, "<num>", ()),
    )
)

MAX_MESSAGE = 500  # characters of a message that are read
_DIGIT = re.compile(r"\d")


def parameterize(message: str, replaced: list[tuple[str, str]] | None = None) -> str:
    """:func:`normalise_message`, also appending ``(text, placeholder)`` to ``replaced``."""
    text = message[:MAX_MESSAGE]
    digits = _DIGIT.search(text) is not None
    for pattern, placeholder, needs in _RULES:
        # A cheap check first: most rules need a digit, the others a telltale substring.
        if not (any(n in text for n in needs) if needs else digits):
            continue
        if replaced is not None:
            replaced.extend((m.group(0), placeholder) for m in pattern.finditer(text))
        text = pattern.sub(placeholder, text)
    return text


def normalise_message(message: str) -> str:
    """``message`` with its variable parts replaced by ``<num>``, ``<uuid>``, ``<ip>``, ...

    Idempotent: normalising a normalised message changes nothing.
    """
    return parameterize(message)
