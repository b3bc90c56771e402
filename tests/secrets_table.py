"""The secrets table: realistic secrets in the contexts they reach a log in, and values to keep.

Shared by ``test_redact.py`` (each case through the pipeline) and
``test_redact_outputs.py`` (the same cases through every way out of the runtime).
Every ``hidden`` string must never appear in any output; every ``KEEP`` value must
appear unchanged in the line that carried it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import bellwatch


@dataclass(frozen=True)
class Case:
    """One secret in one context."""

    context: str  # kwargs | nested | header | pairs | extra | bound | url | text | exception
    key: str  # the field name (key contexts), or "" for text contexts
    value: str  # the value, or the whole text
    hidden: tuple[str, ...]  # substrings that must never be shown

    @property
    def id(self) -> str:
        return f"{self.context}:{self.key or self.value[:24]}"


# A key and a value that goes under it; the hidden part is the value unless stated.
KEYED: list[tuple[str, str, tuple[str, ...]]] = [
    ("password", "hunter2-Pa55word", ()),
    ("pwd", "pwd-Zq81-secret", ()),
    ("pass", "pass-Yx72-secret", ()),
    ("passwd", "passwd-Wv63-secret", ()),
    ("clientSecret", "cs-Ut54-clientsecret", ()),
    ("client_secret", "cs-Ts45-clientsecret", ()),
    ("CLIENT-SECRET", "cs-Sr36-clientsecret", ()),
    ("apiKey", "ak-Rq27-apikeyvalue", ()),
    ("x-api-key", "ak-Qp18-apikeyvalue", ()),
    ("accessToken", "at-Po09-accesstoken", ()),
    ("refresh_token", "rt-On90-refreshtoken", ()),
    ("Authorization", "Bearer az-Nm81-bearertoken", ("az-Nm81-bearertoken",)),
    ("Cookie", "session=ck-Ml72-cookieval; theme=dark", ("ck-Ml72-cookieval",)),
    ("Set-Cookie", "sid=ck-Lk63-cookieval; HttpOnly", ("ck-Lk63-cookieval",)),
    ("X-Twilio-Signature", "tw-Kj54-signature=", ("tw-Kj54-signature",)),
    ("pin", "31415926", ()),
    ("otp", "90210417", ()),
    ("cvv", "9173", ()),
    ("ssn", "219-09-9999", ()),
    ("private_key", "-----BEGIN PRIVATE KEY-----MIIEvQIBADANBg", ("MIIEvQIBADANBg",)),
    ("credentials", "cred-Jh45-credentials", ()),
    ("db_password", "dbpw-Ig36-secret", ()),
    ("stripe_api_key", "sk_live_51HxTestKey", ()),
    ("aws_secret_access_key", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ()),
    ("passphrase", "correct horse battery staple", ("horse battery",)),
    ("card_number", "4242 4242 4242 4242", ("4242 4242 4242",)),
    ("phone", "4155550123", ("4155550",)),
    ("auth", "user:p4ss-Hg27", ("p4ss-Hg27",)),
    ("secret_key", "sk-Gf18-secretkey", ()),
    ("signature", "sig-Fe09-signature", ()),
]


def _keyed(context: str, names: list[str]) -> list[Case]:
    out = []
    for key, value, hidden in KEYED:
        if key in names:
            out.append(Case(context, key, value, hidden or (value,)))
    return out


_ALL_KEYS = [key for key, _, _ in KEYED]

# Whole texts holding a secret: free text, exception messages.
TEXTS: list[tuple[str, tuple[str, ...]]] = [
    (
        "login with Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0"
        ".dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk",
        ("eyJhbGciOiJIUzI1NiJ9", "dBjftJeZ4CVPmB92K27uhbUJU1p1r"),
    ),
    ("upstream said bearer sk_live_51HqLyjWDarjtT1zdp7dc", ("51HqLyjWDarjtT1zdp7dc",)),
    ("proxy auth Basic dXNlcjpwYXNzd29yZA== refused", ("dXNlcjpwYXNzd29yZA",)),
    (
        "token eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJiZWxsIn0.c2lnbmF0dXJlLXZhbHVl"
        " expired",
        ("eyJpc3MiOiJiZWxsIn0", "c2lnbmF0dXJlLXZhbHVl"),
    ),
    (
        "aws creds AKIAIOSFODNN7EXAMPLE / wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY rejected",
        ("IOSFODNN7EXAMPLE", "wJalrXUtnFEMI"),
    ),
    ("assumed role with ASIAY34FZKBOKMUTVV7A", ("Y34FZKBOKMUTVV7A",)),
    ("retry with password=hunter2-Pa55 and user=bob", ("hunter2-Pa55",)),
    ("config: {'api_key': 'ak-live-8f7e6d5c', 'region': 'eu'}", ("ak-live-8f7e6d5c",)),
    ('{"clientSecret": "cs-live-7e6d5c4b", "id": 3}', ("cs-live-7e6d5c4b",)),
    ("client_secret: cs-live-6d5c4b3a", ("cs-live-6d5c4b3a",)),
    ("db at postgres://app:Pg-S3cret-pw@db.internal:5432/app down", ("Pg-S3cret-pw",)),
    ("redis://:Rd-S3cret-pw@cache.internal:6379/0 refused", ("Rd-S3cret-pw",)),
    ("card 4111 1111 1111 1111 declined", ("4111 1111 1111", "411111111111")),
    ("card 5500-0000-0000-0004 declined", ("5500-0000-0000",)),
    ("amex 378282246310005 refused", ("3782822463",)),
    ("call from +1 (415) 555-0199 dropped", ("(415) 555",)),
    ("sms to +447911123456 failed", ("+4479111", "7911123")),
    ("To=%2B14155550142&From=%2B14155550999", ("%2B1415555",)),
    ("caller 415-555-0173 hung up", ("415-555",)),
    ("caller 415.555.0188 hung up", ("415.555",)),
    ("uk caller 020 7183 8750 waited", ("020 7183",)),
    ("phone 4155550161 invalid", ("415555016",)),
    (
        "twilio AC0123456789abcdef0123456789abcdef:0a1b2c3d4e5f60718293a4b5c6d7e8f9 rejected",
        ("0a1b2c3d4e5f60718293a4b5c6d7e8f9",),
    ),
    ("TWILIO_AUTH_TOKEN=9f8e7d6c5b4a39281706f5e4d3c2b1a0 leaked", ("9f8e7d6c5b4a3928",)),
    (
        "Cookie: session=ck-live-5c4b3a29; csrftoken=cs-live-4b3a2918",
        ("ck-live-5c4b3a29", "cs-live-4b3a2918"),
    ),
    ("ssn: 219-09-9999 on file", ("219-09-9999",)),
    ("X-Api-Key: ak-live-3a291807", ("ak-live-3a291807",)),
    ('"password":"pw-live-29180716"', ("pw-live-29180716",)),
    ('body {\\"password\\":\\"pw-live-18071605\\"}', ("pw-live-18071605",)),
    ("pwd=pw-live-07160594 pin=80915672", ("pw-live-07160594", "80915672")),
    ("otp: 55443322 sent", ("55443322",)),
    ("Invalid password: pw-live-61605948", ("pw-live-61605948",)),
    (
        "key -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAx4t9\n-----END RSA PRIVATE KEY-----",
        ("MIIEowIBAAKCAQEAx4t9",),
    ),
    (
        "clone https://ghp_abcdefghijklmnopqrstuvwxyz0123@github.com/org/repo.git",
        ("ghp_abcdefghijklmnopqrstuvwxyz0123",),
    ),
]

URLS: list[tuple[str, tuple[str, ...]]] = [
    ("https://api.example.com/v1/items?api_key=ak-url-1a2b3c4d&page=2", ("ak-url-1a2b3c4d",)),
    ("https://api.example.com/cb?access_token=at-url-2b3c4d5e", ("at-url-2b3c4d5e",)),
    ("https://maps.example.com/geo?key=AIzaSyUrl3c4d5e6f", ("AIzaSyUrl3c4d5e6f",)),
    (
        "https://b.s3.amazonaws.com/f?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20240101"
        "&X-Amz-Signature=sig-url-4d5e6f7a",
        ("sig-url-4d5e6f7a", "IOSFODNN7EXAMPLE"),
    ),
    ("https://user:pw-url-5e6f7a8b@example.com/x", ("pw-url-5e6f7a8b",)),
    ("https://example.com/oauth/callback?code=oc-url-6f7a8b9c&state=xyz", ("oc-url-6f7a8b9c",)),
    ("https://example.com/reset?token=rt-url-7a8b9c0d", ("rt-url-7a8b9c0d",)),
    ("https://hooks.example.com/x?sig=sg-url-8b9c0d1e", ("sg-url-8b9c0d1e",)),
]

# Exception messages: the texts that a raising library would plausibly produce.
_EXCEPTION_TEXTS = [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 15, 16, 18, 22, 25, 27, 31]

CASES: list[Case] = (
    _keyed("kwargs", _ALL_KEYS)
    + _keyed("nested", ["password", "clientSecret", "apiKey", "accessToken", "Authorization",
                        "pin", "ssn", "db_password", "aws_secret_access_key", "auth"])
    + _keyed("header", ["Authorization", "Cookie", "Set-Cookie", "X-Twilio-Signature",
                        "x-api-key"])
    + _keyed("pairs", ["Authorization", "Cookie", "X-Twilio-Signature", "x-api-key"])
    + _keyed("extra", ["password", "pwd", "clientSecret", "apiKey", "otp", "private_key",
                       "credentials", "stripe_api_key"])
    + _keyed("bound", ["password", "accessToken", "client_secret", "pin", "ssn", "card_number",
                       "phone", "secret_key"])
    + [Case("url", "url", url, hidden) for url, hidden in URLS]
    + [Case("text", "", text, hidden) for text, hidden in TEXTS]
    + [Case("exception", "", TEXTS[i][0], TEXTS[i][1]) for i in _EXCEPTION_TEXTS]
)  # fmt: skip

# Values the tools need: each must reach the line unchanged (``field=None``: the event).
KEEP: list[tuple[str | None, Any]] = [
    ("request_id", "3f9a1c7e2b4d"),
    ("error_hash", "6aca4327"),
    ("call_sid", "CA9fcf2f0361420a8a2a724f0483ff7c6f"),
    ("account_sid", "AC0123456789abcdef0123456789abcdef"),
    ("route", "/api/users/{user_id}"),
    ("took", 0.038),
    ("status_code", 503),
    ("at_ms", 1795742449915),
    ("at", "2026-11-27T02:03:55.123Z"),
    ("booking_id", "3f2a9c1e-1234-4abc-8def-0123456789ab"),
    ("alb_trace", "1-67891233-abcdef012345678912345678"),
    ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
    ("sha1", "9fb1c2d4e5f60718293a4b5c6d7e8f9012345678"),
    ("sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("order", "order 15551234567"),
    ("has_signature", True),
    ("password_hint", "your first pet"),
    ("token_count", 42),
    ("email", "alice@example.com"),
    ("client_ip", "10.0.12.7"),
    ("version", "1.2.3"),
    (None, "Basic validation failed for order 42, total +3, took 2.5s, status_code=500"),
    (None, "GET /api/users/{user_id} 503 in 0.038s cid=3f9a1c7e2b4d at 2026-11-27T02:03:55Z"),
]


def act(case: Case, log: Any) -> None:
    """Log ``case`` the way its context reaches a log in an app."""
    key, value = case.key, case.value
    if case.context == "kwargs":
        log.info("case", **{key: value})
    elif case.context == "nested":
        log.info("case", data={"outer": {"items": [{key: value}]}})
    elif case.context == "header":
        log.info("case", headers={key: value, "accept": "*/*"})
    elif case.context == "pairs":
        log.info("case", headers=[(key.lower().encode(), value.encode()), (b"accept", b"*/*")])
    elif case.context == "extra":
        logging.getLogger("app.case").warning("case", extra={key: value})
    elif case.context == "bound":
        with bellwatch.bound(**{key: value}):
            log.info("case")
    elif case.context == "url":
        log.info("case", url=value)
    elif case.context == "text":
        log.info(value)
    elif case.context == "exception":
        try:
            raise RuntimeError(value)
        except RuntimeError:
            log.exception("case")
    else:
        raise AssertionError(case.context)
