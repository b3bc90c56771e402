"""Pipeline steps: redaction, phone masking and compact exceptions."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch._settings import DEFAULT_REDACT_KEYS
from bellwatch.log.processors import AddContext, CompactException, compact_traceback
from bellwatch.log.redact import MASK, Redactor, mask_phone_numbers

DEFAULT_KEYS = ("authorization", "cookie", "set-cookie", "password", "token", "x-twilio-signature")


def _redact(event: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return Redactor(kw.pop("keys", DEFAULT_KEYS), **kw)(None, "info", event)


class TestRedactor:
    def test_sensitive_key_is_masked(self) -> None:
        """A value under a sensitive key never reaches the line."""
        assert _redact({"password": "hunter2"})["password"] == MASK

    def test_header_spelling_matches_too(self) -> None:
        """Case and dashes do not hide a key: X-Twilio-Signature matches x_twilio_signature."""
        assert _redact({"X-Twilio-Signature": "abc"})["X-Twilio-Signature"] == MASK

    def test_nested_dicts_are_scrubbed(self) -> None:
        """Sensitive keys inside a logged headers dict are masked."""
        out = _redact({"headers": {"Authorization": "Bearer x", "accept": "*/*"}})
        assert out["headers"] == {"Authorization": MASK, "accept": "*/*"}

    def test_key_list_is_configurable(self) -> None:
        """A custom key list masks exactly those keys."""
        out = _redact({"pin": "1234", "password": "p"}, keys=("pin",))
        assert out == {"pin": MASK, "password": "p"}

    def test_phone_masking_can_be_turned_off(self) -> None:
        """mask_phones=False leaves numbers alone."""
        assert _redact({"to": "+15551234567"}, mask_phones=False)["to"] == "+15551234567"


class TestPhoneMasking:
    def test_keeps_last_four_digits(self) -> None:
        """An E.164 number keeps only its last four digits."""
        assert mask_phone_numbers("call +15551234567 now") == "call +***4567 now"

    def test_masks_every_number_in_free_text(self) -> None:
        """Several numbers in one message are all masked."""
        text = "from +14165550000 to +442071838750"
        assert mask_phone_numbers(text) == "from +***0000 to +***8750"

    def test_leaves_plain_numbers_alone(self) -> None:
        """Amounts and ids without a plus sign are not phone numbers."""
        assert mask_phone_numbers("order 15551234567 total +3") == "order 15551234567 total +3"

    @given(st.text())
    def test_never_leaks_more_than_four_digits_of_a_number(self, text: str) -> None:
        """After masking no '+' is followed by 8 or more digits in a row."""
        assert re.search(r"(?<![\w+])\+\d{8,15}(?!\d)", mask_phone_numbers(text)) is None


def _raise_with_secret_local() -> None:
    secret_local = "do-not-log-me"  # noqa: F841 - the test checks it never leaks
    raise ValueError("bad value 42")


class TestCompactException:
    def test_type_message_and_frames(self) -> None:
        """exc_info becomes type, msg and module:function:line frames."""
        try:
            _raise_with_secret_local()
        except ValueError:
            out = CompactException()(None, "error", {"event": "e", "exc_info": True})
        assert out["type"] == "ValueError"
        assert out["msg"] == "bad value 42"
        assert re.fullmatch(
            r"test_processors:test_type_message_and_frames:\d+ > "
            r"test_processors:_raise_with_secret_local:\d+",
            out["exc"],
        )

    def test_an_exception_never_raised_has_no_exc(self) -> None:
        """An exception passed as exc_info without being raised has no frames: no ``exc``."""
        out = CompactException()(None, "error", {"event": "e", "exc_info": ValueError("v")})
        assert (out["type"], out["msg"], "exc" in out) == ("ValueError", "v", False)

    def test_app_frames_innermost_last_then_the_library_frame_that_raised(self) -> None:
        """A failure inside a library: the app's calls, then where the library raised."""
        import json

        def parse() -> None:
            json.loads("{not json")

        try:
            parse()
        except ValueError as exc:
            frames = compact_traceback(exc).split(" > ")
        assert frames[-2].startswith("test_processors:parse:")
        assert frames[-1].startswith("json.decoder:")
        assert len(frames) == 3

    def test_at_most_limit_app_frames(self) -> None:
        """Deep recursion keeps the innermost frames of the app only."""

        def down(n: int) -> None:
            if n:
                down(n - 1)
            raise ValueError("deep")

        try:
            down(20)
        except ValueError as exc:
            assert compact_traceback(exc, 5).count("test_processors:down:") == 5

    def test_no_local_variables(self) -> None:
        """Local variables of the failing frame never appear."""
        try:
            _raise_with_secret_local()
        except ValueError as exc:
            assert "do-not-log-me" not in compact_traceback(exc)

    def test_log_exception_implies_exc_info(self) -> None:
        """log.exception() without exc_info still records the active exception."""
        try:
            raise KeyError("k")
        except KeyError:
            out = CompactException()(None, "exception", {"event": "e"})
        assert out["type"] == "KeyError"

    def test_event_without_exception_is_untouched(self) -> None:
        """Nothing is added when there is no exception."""
        assert CompactException()(None, "error", {"event": "e"}) == {"event": "e"}


class TestAddContext:
    def test_core_keys_lead(self) -> None:
        """ts, level and event come first, then call fields."""
        out = AddContext()(None, "warning", {"event": "e", "x": 1})
        assert list(out)[:3] == ["ts", "level", "event"]
        assert out["level"] == "WARNING"

    def test_iso_timestamps_on_request(self) -> None:
        """timestamp=iso writes an ISO 8601 UTC string."""
        out = AddContext("iso")(None, "info", {"event": "e"})
        assert out["ts"].endswith("Z")

    def test_stamp_truncates_like_the_clock(self) -> None:
        """600 ns before a new millisecond is still the old millisecond, as in ms mode."""
        ns = 1_700_000_000_999_999_600
        assert AddContext("iso").stamp(ns).endswith(".999Z")
        assert AddContext("ms").stamp(ns) % 1000 == 999

    @pytest.mark.parametrize("timestamp", ["ms", "iso"])
    def test_stamp_of_a_moment_matches_now(self, timestamp: str) -> None:
        """A stamp taken from time_ns() is formatted exactly like the live timestamp."""
        add = AddContext(timestamp)
        before = add(None, "info", {"event": "e"})["ts"]
        stamped = add.stamp(time.time_ns())
        after = add(None, "info", {"event": "e"})["ts"]
        assert type(stamped) is type(before)
        assert len(str(stamped)) == len(str(before))
        assert before <= stamped <= after


class TestRedactorReach:
    """Found in review: secrets that slipped past the first redactor."""

    def test_any_mapping_is_scrubbed(self) -> None:
        """A read-only mapping (like Starlette's Headers) is scrubbed like a dict."""
        from types import MappingProxyType

        out = _redact({"headers": MappingProxyType({"Authorization": "Bearer s1", "a": "b"})})
        assert out["headers"] == {"Authorization": MASK, "a": "b"}

    def test_raw_asgi_header_pairs_are_masked(self) -> None:
        """(name, value) pairs with bytes names, as in scope["headers"], are masked."""
        out = _redact({"h": [(b"cookie", b"sid=s2"), (b"accept", b"*/*")]})
        assert out["h"] == [(b"cookie", MASK), [b"accept", b"*/*"]]

    def test_prefixed_key_names_match(self) -> None:
        """db_password and stripe_api_key are as secret as password and api_key."""
        out = Redactor(("password", "api_key"))(
            None, "info", {"db_password": "p", "stripe_api_key": "k"}
        )
        assert out == {"db_password": MASK, "stripe_api_key": MASK}

    def test_deep_values_are_masked_not_passed_through(self) -> None:
        """Beyond the scrub depth a value is replaced, never written unread."""
        deep = {"a": {"b": {"c": {"d": {"e": {"token": "SECRETDEEP"}}}}}}
        assert "SECRETDEEP" not in repr(_redact(deep))

    def test_query_string_secrets_are_masked(self) -> None:
        """api_key=... and token=... in a URL keep their names but lose their values."""
        out = _redact(
            {"url": "https://x.test/v1?api_key=SK_LIVE&page=2&access_token=abc"},
            keys=DEFAULT_REDACT_KEYS,
        )
        assert out["url"] == "https://x.test/v1?api_key=***&page=2&access_token=***"
