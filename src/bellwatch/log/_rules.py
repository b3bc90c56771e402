"""The value rules of the redactor: secrets recognised by their shape, anywhere in a string.

Each rule is a function ``(text) -> text`` that the redactor calls only when a cheap
check (a substring or two) says it could match, so a string with nothing suspicious
costs a few ``in`` tests. Rules keep what a reader needs to recognise the value
(``Bearer ***``, ``AKIA***``; card and phone numbers, in :mod:`._numbers`, keep their
last four digits) and never touch what the tools need: correlation ids, hashes,
CallSids, route templates, durations, status codes, timestamps.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "MASK",
    "PHONE",
    "QUERY_ONLY",
    "SECRET",
    "mask_aws",
    "mask_bearer",
    "mask_emails",
    "mask_jwts",
    "mask_pairs",
    "mask_pem",
    "mask_twilio",
    "mask_userinfo",
    "mask_vendor_keys",
    "maybe_vendor_key",
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


# Vendor keys by their documented prefixes: Stripe secret and restricted keys and webhook
# signing secrets, GitHub tokens, Slack tokens, OpenAI and Anthropic keys. The prefix
# stays (it says what leaked, as AKIA*** does); Stripe's publishable pk_ keys are public.
_VENDOR = re.compile(
    r"(?<![A-Za-z0-9_-])((?:sk|rk)_(?:live|test)_|whsec_|gh[pousr]_|github_pat_|xox[abeprs]-"
    r"|sk-(?:proj-|ant-(?:api\d\d-)?)?)[A-Za-z0-9_-]{16,}"
)


def maybe_vendor_key(text: str) -> bool:
    """Whether ``text`` may hold a prefix of :func:`mask_vendor_keys`: a few ``in`` tests
    (``sk`` stands for ``sk_`` and ``sk-``), no call per prefix: every string a report
    prints passes here."""
    return "sk" in text or "rk_" in text or "whsec_" in text or "gh" in text or "xox" in text


def mask_vendor_keys(text: str) -> str:
    """``sk_live_***``, ``whsec_***``, ``ghp_***``, ``xoxb-***``, ``sk-proj-***`` ..."""
    return _VENDOR.sub(r"\1" + MASK, text)


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
      | (?P<scheme>(?i:bearer|basic|token|digest)[ \t]+)?
        (?P<bare>[^\s&;,"'\\]+(?:&[^\s&;,"'\\=]+(?=[\s&;,"'\\]|$))*)
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
