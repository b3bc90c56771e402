"""The value rules of the redactor: secrets recognised by their shape, anywhere in a string.

Each rule is a function ``(text) -> text`` that the redactor calls only when a cheap
check (a substring or two) says it could match, so a string with nothing suspicious
costs a few ``in`` tests. Rules keep what a reader needs to recognise the value
(``Bearer ***``, ``AKIA***``, the last four digits of a card or phone number) and
never touch what the tools need: correlation ids, hashes, CallSids, route templates,
durations, status codes, timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "MASK",
    "PHONE",
    "QUERY_ONLY",
    "SECRET",
    "card_like",
    "mask_aws",
    "mask_bearer",
    "mask_emails",
    "mask_jwts",
    "mask_numbers",
    "mask_pairs",
    "mask_pem",
    "mask_twilio",
    "mask_userinfo",
    "phone_value",
]

MASK = "***"

# -- credentials with a recognisable shape --------------------------------------------

# Three base64url parts, the first (the JOSE header, always a JSON object) starting "eyJ".
_JWT = re.compile(r"(?<![\w-])eyJ[\w-]{4,}\.[\w-]{2,}\.[\w-]*")


def mask_jwts(text: str) -> str:
    """Replace every JSON Web Token by ``***``."""
    return _JWT.sub(MASK, text)


_BEARER = re.compile(r"(?i)(?<![\w-])(bearer|basic)([ \t]+)([\w.~+/-]{8,}=*)(?![\w.~+/=-])")


def _credential_like(value: str) -> bool:
    # "Basic validation failed" must stay: a credential has a digit, mixed case or
    # base64's +/=, which English words (and snake_case names) do not.
    return (
        any(c.isdigit() for c in value)
        or not (value[1:].islower() or value.isupper())
        or any(c in value for c in "+/=~")
    )


def _bearer(m: re.Match[str]) -> str:
    if not _credential_like(m.group(3)):
        return m.group(0)
    return m.group(1) + m.group(2) + MASK


def mask_bearer(text: str) -> str:
    """``Bearer <credential>`` and ``Basic <credential>`` keep their scheme word only."""
    return _BEARER.sub(_bearer, text)


_AWS_ID = re.compile(r"(?<![A-Za-z0-9])(AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")
# A secret access key: 40 characters of base64, in mixed case (hex hashes are not).
_AWS_SECRET = re.compile(
    r"(?<![A-Za-z0-9/+=])(?=[A-Za-z0-9/+]{0,39}[A-Z])(?=[A-Za-z0-9/+]{0,39}[a-z])"
    r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)


def mask_aws(text: str) -> str:
    """AWS access key ids become ``AKIA***`` (``ASIA***``); a secret key beside one goes too."""
    text, found = _AWS_ID.subn(r"\1" + MASK, text)
    return _AWS_SECRET.sub(MASK, text) if found else text


# A Twilio auth token (32 hex) beside its Account SID ("AC" + 32 hex), or after its name.
_TWILIO_PAIR = re.compile(
    r"(?<![A-Za-z0-9])(AC[0-9a-f]{32}[^A-Za-z0-9]{1,6})[0-9a-f]{32}(?![A-Za-z0-9])"
)
_TWILIO_NAMED = re.compile(r"(?i)(auth[ _-]?token\W{1,4})[0-9a-f]{32}(?![A-Za-z0-9])")


def mask_twilio(text: str) -> str:
    """A Twilio auth token next to its Account SID or its name; the SID itself stays."""
    text = _TWILIO_PAIR.sub(r"\1" + MASK, text)
    return _TWILIO_NAMED.sub(r"\1" + MASK, text)


# scheme://user:password@host: the password goes; a bare user of 20+ token characters
# (a personal access token used as the user name) goes too.
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:]*:)[^\s/?#]+@")
_TOKEN_USER = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[\w.~-]{20,}@")


def mask_userinfo(text: str) -> str:
    """The password in a URL's userinfo (``redis://:***@host``)."""
    text = _USERINFO.sub(r"\1" + MASK + "@", text)
    return _TOKEN_USER.sub(r"\1" + MASK + "@", text)


# A PEM private key block: everything between the armour lines (or to the end).
_PEM = re.compile(
    r"(-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----)[\s\S]*?(?:(-----END [A-Z0-9 ]*PRIVATE KEY-----)|\Z)"
)


def _pem(m: re.Match[str]) -> str:
    return m.group(1) + MASK + (m.group(2) or "")


def mask_pem(text: str) -> str:
    """The body of a PEM private key block; its armour lines stay."""
    return _PEM.sub(_pem, text)


_EMAIL = re.compile(r"(?<![\w.+-])([A-Za-z0-9])[\w.+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")


def mask_emails(text: str) -> str:
    """``alice@example.com`` becomes ``a***@example.com``."""
    return _EMAIL.sub(r"\1" + MASK + r"@\2", text)


# -- key = value pairs ----------------------------------------------------------------

# Pairs are found from their separators (``=``, ``:``), which are few in most text: the
# key is read backwards (a match on the reversed text), the value forwards. A regex
# that looked for keys everywhere cost ~15 us on a 100-character message.

# Reversed: spaces, an optional quote (maybe JSON-escaped), then a key of one or two
# words that starts with a letter or "_" and is not glued to what comes before it.
_KEY_REVERSED = re.compile(
    r"""[ \t]*(?:["']\\?)?(?P<key>[\w.-]{0,63}[A-Za-z_](?:[ ][\w.-]{0,63}[A-Za-z_])?)(?![\w.\\-])"""
)
# A quoted value (also b'...' and JSON-escaped \"...\"), or an unquoted one up to a space
# or delimiter, after an optional Authorization-style scheme word, which is kept.
_VALUE = re.compile(
    r"""[ \t]*(?:
        (?P<q1>b?")(?:[^"\\\n]|\\[^\n]){0,4096}"
      | (?P<q2>b?')(?:[^'\\\n]|\\[^\n]){0,4096}'
      | (?P<q3>\\")(?:[^"\\\n]|\\[^"\n]){0,4096}\\"
      | (?P<scheme>(?i:bearer|basic|token|digest)[ \t]+)?(?P<bare>[^\s&;,"'\\]+)
    )""",
    re.X,
)
_LINE_END = re.compile(r"[^\r\n]*")
_LITERALS = frozenset({"", "true", "false", "null", "none", "True", "False", "None"})
_HEADER_KEYS = ("cookie", "authorization")
_NONDIGIT = re.compile(r"\D+")

SECRET = 1
PHONE = 2
QUERY_ONLY = 3  # ``key``, ``code``, ``sig``: secret as a query parameter, plain elsewhere


def phone_value(value: str) -> str:
    """A phone number's value: every digit masked but the last four (kept as is under 7)."""
    digits = _NONDIGIT.sub("", value)
    if len(digits) < 7:
        return value
    return ("+" if value.startswith("+") else "") + MASK + digits[-4:]


def _separators(text: str) -> list[int]:
    found = []
    for sep in "=:":
        i = text.find(sep)
        while i >= 0:
            found.append(i)
            i = text.find(sep, i + 1)
    found.sort()
    return found


def _masked_value(text: str, i: int, key: str, kind: int) -> tuple[int, str, int] | None:
    """Where the value after separator ``i`` starts, its masked text, and where it ends."""
    v = _VALUE.match(text, i + 1)
    if v is None:
        return None
    opening = ""
    start, end = v.start("bare"), v.end("bare")
    for quoted in ("q1", "q2", "q3"):
        opening = v.group(quoted) or ""
        if opening:
            start, end = v.start(quoted) + len(opening), v.end() - len(opening.lstrip("b"))
            break
    inner = text[start:end]
    if inner in _LITERALS or inner.startswith(MASK):
        return None
    if kind == PHONE:
        return start, phone_value(inner), end
    header = key.lower().replace("-", "_").endswith(_HEADER_KEYS)
    if header and not opening and text[i] == ":":
        end = _LINE_END.match(text, end).end()  # type: ignore[union-attr]
    return start, MASK, end


def mask_pairs(text: str, kind_of: Callable[[str], int]) -> str:
    """Mask the value of every ``key=value``, ``key: value`` and ``"key": "value"`` pair
    whose key ``kind_of`` calls secret (or a phone number: it keeps its last 4 digits).

    ``Cookie: ...`` and ``Authorization: ...`` mask up to the end of the line, since
    their values hold spaces and ``;``.
    """
    seps = _separators(text)
    if not seps:
        return text
    backwards = text[::-1]
    n = len(text)
    out: list[str] = []
    last = 0
    for i in seps:
        if i < last or i == 0:
            continue  # inside a value masked already
        k = _KEY_REVERSED.match(backwards, n - i)
        if k is None:
            continue
        key = k.group("key")[::-1]
        kind = kind_of(key)
        if kind == QUERY_ONLY:
            start = n - k.end("key")
            query = text[i] == "=" and start > 0 and text[start - 1] in "?&;"
            kind = SECRET if query else 0
        found = _masked_value(text, i, key, kind) if kind else None
        if found is None:
            continue  # a plain value is scanned on: it may hold pairs of its own (a URL)
        start, masked, end = found
        out.append(text[last:start] + masked)
        last = end
    if not out:
        return text
    out.append(text[last:])
    return "".join(out)


# -- numbers: cards and phones ----------------------------------------------------------

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
