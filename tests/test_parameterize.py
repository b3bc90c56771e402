"""The message parameterizer: what must group, what must not, and its invariants."""

from __future__ import annotations

import ipaddress
import uuid

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from bellwatch.errors.parameterize import normalise_message, parameterize

# Pairs of messages that differ only by a value: one fingerprint each.
MUST_GROUP = [
    ("user 42 not found", "user 7 not found"),
    ("balance 5 too low", "balance -5 too low"),
    ("balance 5 too low", "balance 5.25 too low"),
    ("balance -0.5 too low", "balance +12 too low"),
    ("ratio 1e-05 exceeded", "ratio 0.3 exceeded"),
    ("cpu at 95% for host", "cpu at 7.5% for host"),
    ("cpu at 95% for host", "cpu at 95 for host"),
    ("loaded 1,234,567 rows", "loaded 12 rows"),
    ("pointer 0x7f3a2b freed", "pointer 0xDEADBEEF freed"),
    ("object 3f9a1c7e2b4d expired", "object 42 expired"),
    ("sha 9fb1c2d4e5f60718293a4b5c6d7e8f9012345678 missing", "sha 1 missing"),
    (
        "call CA9fcf2f0361420a8a2a724f0483ff7c6f hung up",
        "call CA0123456789abcdef0123456789abcdef hung up",
    ),
    ("connect ::1 refused", "connect 10.0.0.1 refused"),
    ("connect fe80::1%eth0 refused", "connect 2001:db8::8a2e:370:7334 refused"),
    (
        "connect 2001:0db8:85a3:0000:0000:8a2e:0370:7334 refused",
        "connect 2001:db8:85a3::8a2e:370:7334 refused",
    ),
    ("connect ::ffff:192.0.2.1 refused", "connect 192.0.2.1 refused"),
    ("connect [2001:db8::1]:443 refused", "connect 10.0.0.12:5432 refused"),
    ("connect 2001:db8:: refused", "connect ::2 refused"),
    ("order 3f2a9c1e-1234-4abc-8def-0123456789ab", "order 3F2A9C1E-1234-4ABC-8DEF-0123456789AB"),
    ("mail to bob@example.com bounced", "mail to a.b+tag@mail.example.org bounced"),
    ("GET https://api.example.com/v1/u/42?q=1 failed", "GET http://localhost:8000/x failed"),
    ("expired at 2025-09-26T20:30:15Z", "expired at 2024-01-01"),
    ("expired at 2025-09-26 20:30:15.123+02:00", "expired at 2024/01/31"),
    ("expired at 31/01/2024", "expired at 2024-01-31T00:00:00Z"),
    ("expired at 12:30:45", "expired at 9:05 PM"),
    ("expired at Tue, 15 Nov 1994 08:12:31 GMT", "expired at 2025-09-26"),
    ("took 150ms", "took 2.5s"),
    ("took 1h30m", "took 3 seconds"),
    ("timed out after 30s waiting", "timed out after 500us waiting"),
    (
        "trace 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 lost",
        "trace 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 lost",
    ),
    (
        "alb Root=1-67891233-abcdef012345678912345678 lost",
        "alb Root=1-5759e988-bd862e3fe1be46a994272793 lost",
    ),
    ("Invalid phone number +15551234567", "Invalid phone number +44 20 7183 8750"),
    ("Invalid phone number +1 (415) 555-0123", "Invalid phone number +14165550000"),
    ("key 'alice' missing", 'key "bob" missing'),
    ("user42 locked", "user7 locked"),
    ("retry 3 of 5 failed", "retry 10 of 12 failed"),
    # Random ids of letters and digits (Stripe, ULID, API keys): one pattern, not one per id.
    ("charge ch_3MmlLrLkdIwHu7ix0snN0B15 failed", "charge ch_3NqxYzLkdIwHu7ix1abC2D34 failed"),
    ("ULID 01ARZ3NDEKTSV4RRFFQ69G5FAV bad", "ULID 01BX5ZZKBKACTAV9WEVGEMMVRZ bad"),
    ("session Xk9fLmQ2rTz8WpB4vN7c expired", "session aB3dE5fG7hJ9kLmNpQrS expired"),
]

# Pairs that must stay apart: the words, the kind of value, or its place differ.
MUST_NOT_GROUP = [
    ("user not found", "order not found"),
    ("Connection refused", "Connection reset"),
    ("took 150ms", "took 150 rows"),
    ("timeout after 5s", "timeout after 5 retries"),
    ("connect 10.0.0.1 refused", "connect db.internal refused"),
    ("GET https://api.example.com failed", "POST https://api.example.com failed"),
    ("mail to bob@example.com bounced", "mail to bob bounced"),
    ("order 42 failed", "order 42 cancelled"),
    ("invalid token", "expired token"),
    ("user 42 not found", "user not found"),
    ("disk full on /var", "disk full on /tmp"),
    ("expired at 2024-01-01", "expired at noon"),
    ("field 'email' required", "field required"),
    ("Invalid phone number +15551234567", "Invalid phone number"),
    ("read timeout", "write timeout"),
    ("database is locked", "database is closed"),
    ("permission denied", "permission granted"),
    ("rate limit exceeded", "quota exceeded"),
    ("cannot parse JSON", "cannot parse XML"),
    ("missing header X-Api-Key", "missing header X-Request-Id"),
    ("table users missing", "table orders missing"),
    ("std::vector overflow", "std::map overflow"),
    ("cafe::face broken", "dead::beef broken"),
    ("queue depth 10 over 5", "queue depth 10 under 5"),
    ("trace 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 lost", "trace lost"),
    ("uuid 3f2a9c1e-1234-4abc-8def-0123456789ab gone", "uuid gone"),
    ("connect ::1 refused", "connect refused"),
    ("version 2 required", "version required"),
    ("status 500 from upstream", "status 500 from cache"),
    ("user42 locked", "admin42 locked"),
    ("Basic validation failed", "Advanced validation failed"),
    ("took 3 seconds", "took 3 tries"),
    # Names with a digit or two are words, not ids.
    ("sha256WithRSAEncryption unsupported", "sha1WithRSAEncryption unsupported"),
    ("aes128GcmSha256 refused", "aes256GcmSha384 refused"),
]


class TestGrouping:
    @pytest.mark.parametrize(("a", "b"), MUST_GROUP)
    def test_values_group(self, a: str, b: str) -> None:
        """Messages that differ only in a value normalise to the same text."""
        assert normalise_message(a) == normalise_message(b)

    @pytest.mark.parametrize(("a", "b"), MUST_NOT_GROUP)
    def test_words_keep_errors_apart(self, a: str, b: str) -> None:
        """Messages that differ in words, or in the kind of value, stay apart."""
        assert normalise_message(a) != normalise_message(b)

    def test_enough_pairs(self) -> None:
        """The issue asks for at least 30 pairs each way."""
        assert len(MUST_GROUP) >= 30
        assert len(MUST_NOT_GROUP) >= 30


class TestNumbers:
    @given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
    def test_one_placeholder_for_any_number(self, value: float) -> None:
        """Ints, floats, negatives and exponents all become <num>."""
        assert normalise_message(f"amount {value} refused") == "amount <num> refused"

    @given(st.floats(min_value=-1000, max_value=1000, allow_nan=False))
    def test_percentages_are_numbers(self, value: float) -> None:
        """A percentage groups with a bare number."""
        assert normalise_message(f"load {value}% now") == "load <num> now"

    @given(st.integers(min_value=0x10000000, max_value=2**128))
    def test_hex_of_eight_or_more_is_a_number(self, value: int) -> None:
        """0x-prefixed hex, and bare hex ids with a digit and a letter, are <num>."""
        assert normalise_message(f"at 0x{value:x} now") == "at <num> now"


class TestAddresses:
    @given(st.integers(min_value=1, max_value=2**128 - 1))
    def test_every_ipv6_form(self, value: int) -> None:
        """Compressed and exploded forms of any IPv6 address with a digit are <ip>."""
        address = ipaddress.IPv6Address(value)
        assume(any(c.isdigit() for c in address.compressed))  # "::cafe" reads as a word
        for text in (address.compressed, address.exploded, f"[{address.compressed}]:443"):
            assert normalise_message(f"connect {text} refused") == "connect <ip> refused", text

    @given(st.integers(min_value=0, max_value=2**32 - 1), st.integers(0, 65535))
    def test_every_ipv4_address_and_port(self, value: int, port: int) -> None:
        """IPv4 addresses, with or without a port, are <ip>."""
        address = ipaddress.IPv4Address(value)
        assert normalise_message(f"to {address}:{port} failed") == "to <ip> failed"
        assert normalise_message(f"to ::ffff:{address} failed") == "to <ip> failed"

    @given(st.uuids())
    def test_every_uuid(self, value: uuid.UUID) -> None:
        """UUIDs in either case are <uuid>."""
        assert normalise_message(f"id {value} gone") == "id <uuid> gone"
        assert normalise_message(f"id {str(value).upper()} gone") == "id <uuid> gone"


class TestInvariants:
    @given(st.text(max_size=300))
    def test_idempotent(self, message: str) -> None:
        """Normalising twice changes nothing more than normalising once."""
        once = normalise_message(message)
        assert normalise_message(once) == once

    @given(st.from_regex(r"[A-Za-z ,:]{0,80}", fullmatch=True))
    def test_words_are_kept(self, message: str) -> None:
        """Text of letters, spaces, commas and colons is never changed."""
        assert normalise_message(message) == message

    def test_replacements_are_reported_in_order(self) -> None:
        """parameterize() says what each rule replaced, for explanations."""
        replaced: list[tuple[str, str]] = []
        out = parameterize("user 42 at 10.0.0.1 took 5ms", replaced)
        assert out == "user <num> at <ip> took <duration>"
        assert replaced == [("10.0.0.1", "<ip>"), ("5ms", "<duration>"), ("42", "<num>")]
