"""The redactor's number rules: card numbers and phone numbers, which keep their last 4 digits.

One pass finds the runs of digits and separators that could be either (7+ digits),
and each run is looked at with its edges only; a text with fewer than 7 digits in
all costs one ``bytes.translate``. Timestamps, status codes, durations and ids stay:
cards need a known issuer prefix (epochs start with 1, which no network uses), their
length and the Luhn check; phone numbers need a ``+`` (or ``%2B``), national
separators, or a phone word just before them. :func:`one_word` is the whole scan of a
one-word value (a card number, or a key id from :mod:`._rules`).
"""

from __future__ import annotations

import re

from ._rules import MASK, mask_aws, mask_vendor_keys, maybe_vendor_key

__all__ = ["card_like", "mask_numbers", "one_word"]

_NONDIGIT = re.compile(r"\D+")

# One pass finds the runs of digits and separators that could be a card or phone number
# (7+ characters); the rules below then look at each run and its edges only.
_CLUSTER = re.compile(r"[0-9][0-9 ().\-]{5,}[0-9]")  # twice as fast as \d on ASCII text
_NOT_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)
_CLUSTER_UNICODE = re.compile(r"\d[\d ().\-]{5,}\d")

_CARD = re.compile(r"(?<![\w.+-])[0-9](?:[ -]?[0-9]){12,18}(?![\w-]|\.[0-9])")
_GROUPS = re.compile(r"[0-9]+")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_like(digits: str) -> bool:
    """A card number: a known issuer prefix, that issuer's length, and the Luhn check.

    The issuer prefixes keep timestamps out: milli- and nanosecond epochs start with 1,
    which no card network uses.
    """
    n = len(digits)
    if not 13 <= n <= 19 or not digits.isascii() or not digits.isdigit():
        return False
    two, three, four = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        ok = n in (13, 16, 19)  # Visa
    elif 51 <= two <= 55 or 2221 <= four <= 2720:
        ok = n == 16  # Mastercard
    elif two in (34, 37):
        ok = n == 15  # American Express
    elif four == 6011 or two == 65 or 644 <= three <= 649 or 3528 <= four <= 3589 or two == 62:
        ok = n >= 16  # Discover, JCB, UnionPay
    elif two in (36, 38) or 300 <= three <= 305:
        ok = n >= 14  # Diners Club
    elif two == 50 or 56 <= two <= 58:
        ok = True  # Maestro
    else:
        ok = False
    return ok and _luhn(digits)


def _card(m: re.Match[str]) -> str:
    text = m.group(0)
    groups = list(_GROUPS.finditer(text))
    # The longest run of whole groups that is a card: a number written next to the
    # card ("4111 1111 1111 1111 2") must not hide it.
    best: tuple[int, int] | None = None
    for i in range(len(groups)):
        digits = ""
        for j in range(i, len(groups)):
            digits += groups[j].group(0)
            if len(digits) > 19:
                break
            if card_like(digits) and (best is None or j - i > best[1] - best[0]):
                best = (i, j)
    if best is None:
        return text
    start, end = groups[best[0]].start(), groups[best[1]].end()
    last4 = "".join(g.group(0) for g in groups[best[0] : best[1] + 1])[-4:]
    return text[:start] + MASK + last4 + text[end:]


# International: "+" or its URL encoding "%2B", then digits in groups. Which groups
# belong to the number is decided in _international (digit count, separators).
_INTL = re.compile(r"(?<![\w+])(\+|%2[Bb])(\(?\d[\d().\- ]{0,30})")
_NANP = re.compile(
    r"(?<![\w.+-])(?:1[ .-])?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}(?![\w-]|[.:]\d)"
)
# National numbers with a trunk 0: 020 7183 8750, 07911 123456, 06 12 34 56 78, 030 12345678.
_TRUNK = re.compile(r"(?<![\w.+-])\(?0\d{1,4}\)?(?:[ -]\d{2,8}){1,4}(?![\w-]|[.:]\d)")
# A number named as a phone just before it: "phone 4155550123", "mobile no: 07911123456".
_NAMED = re.compile(
    r"(?i)(?<!\w)(?:phone|tel|mobile|cell|msisdn|whatsapp|sms)(?:[ _-]?(?:number|num|no|nr))?"
    r"\.?[ \t]*[:=#]?[ \t]*[\"']?\Z"
)
_SEPARATOR = re.compile(r"[ .-]?\(?|\)[ .-]?")
_DIGIT_RUNS = re.compile(r"\d+")


def _international(m: re.Match[str]) -> str:
    prefix, body = m.group(1), m.group(2)
    groups = list(_DIGIT_RUNS.finditer(body))
    digits = ""
    end = 0
    for i, g in enumerate(groups):
        if i:
            sep = body[groups[i - 1].end() : g.start()]
            if len(sep) > 2 or _SEPARATOR.fullmatch(sep) is None:
                break
        if len(digits) + len(g.group(0)) > 15:
            break
        digits += g.group(0)
        end = g.end()
        if i == 0 and len(digits) >= 8:
            break  # written without separators: the number is this one group
    if not 8 <= len(digits) <= 15:
        return m.group(0)
    return prefix + MASK + digits[-4:] + body[end:]


def _national(m: re.Match[str]) -> str:
    digits = _NONDIGIT.sub("", m.group(0))
    if not 9 <= len(digits) <= 12:
        return m.group(0)
    return MASK + digits[-4:]


def _cluster(  # noqa: PLR0917 - a private helper, called once per run of digits
    text: str, a: int, b: int, c0: int, c1: int, cards: bool, phones: bool, named: bool
) -> str:
    """The chunk ``text[c0:c1]`` around the run ``text[a:b]``, its numbers masked.

    ``named``: whether the text has a phone word anywhere (then the one just before the
    run is looked for).
    """
    chunk = text[c0:c1]
    run = text[a:b]
    digits = _NONDIGIT.sub("", run)
    new = chunk
    if cards and len(digits) >= 13:
        new = _CARD.sub(_card, new)
    if phones:
        if run[0] == "+" or run[0] == "%":
            new = _INTL.sub(_international, new)
        if len(digits) >= 9 and not run.isdigit():  # national formats have separators
            new = _TRUNK.sub(_national, _NANP.sub(_national, new))
        if (
            new == chunk
            and named
            and len(digits) <= 15
            and _NAMED.search(text, max(0, a - 40), a) is not None
        ):
            plus = "+" if run[0] == "+" else ""
            new = text[c0:a] + plus + MASK + digits[-4:] + text[b:c1]
    return new


def _has_phone_word(text: str) -> bool:
    low = text.lower()
    return (
        "phone" in low or "tel" in low or "mobile" in low or "cell" in low
        or "msisdn" in low or "whatsapp" in low or "sms" in low
    )  # fmt: skip


def mask_numbers(text: str, cards: bool, phones: bool) -> str:
    """Card numbers (issuer prefix, length, Luhn) and phone numbers keep their last 4 digits.

    Phones: E.164 (``+``, ``%2B``) with any separators, North American and trunk-0
    national formats, and numbers named as phones (``phone 4155550123``).
    """
    ascii_only = text.isascii()
    if ascii_only and len(text.encode("ascii").translate(None, _NOT_DIGITS)) < 7:
        return text  # fewer than 7 digits in all: no card or phone number (a third the cost)
    out: list[str] = []
    last = 0
    n = len(text)
    named: bool | None = None  # whether a phone word is anywhere: found out when needed
    for m in (_CLUSTER if ascii_only else _CLUSTER_UNICODE).finditer(text):
        a, b = m.span()
        if a and text[a - 1] in "+(":
            a -= 1
        elif text[a - 3 : a] in ("%2B", "%2b"):
            a -= 3
        elif b - a < 13 and m.group(0).isdigit():
            # Bare digits, too few for a card: a phone number only if named as one.
            if named is None:
                named = phones and _has_phone_word(text)
            if not named:
                continue
        if named is None:
            named = phones and _has_phone_word(text)
        # One character of context before and two after: what the rules' lookarounds see.
        c0, c1 = max(a - 1, last), min(n, b + 2)
        new = _cluster(text, a, b, c0, c1, cards, phones, named)
        if new != text[c0:c1]:
            out.append(text[last:c0])
            out.append(new)
            last = c1
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


def one_word(s: str) -> str:
    """A one-word value's secrets: only a key id (AWS's, a vendor's) or a bare card number
    can hide in one word (an identifier or letters and digits)."""
    if "IA" in s:
        s = mask_aws(s)
    if maybe_vendor_key(s):
        s = mask_vendor_keys(s)
    if s.isdigit() and card_like(s):
        s = MASK + s[-4:]
    return s
