"""The budgeted renderer: any event dict -> one valid JSON line within budget, core keys kept."""

from __future__ import annotations

import math
from decimal import Decimal
from ipaddress import ip_address, ip_network
from pathlib import PurePosixPath
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch._guard import counters
from bellwatch.log.render import MARK, BudgetRenderer, safe_repr, showable
from bellwatch.schema import CORE_FIELDS


class RaisingRepr:
    def __repr__(self) -> str:
        raise RuntimeError("repr exploded")


class Opaque:
    __slots__ = ()


def _recursive_list() -> list[Any]:
    a: list[Any] = []
    a.append(a)
    return a


def _recursive_dict() -> dict[str, Any]:
    d: dict[str, Any] = {}
    d["self"] = d
    return d


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(),
    st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=50),
    st.binary(max_size=20),
    st.builds(RaisingRepr),
    st.builds(Opaque),
    st.builds(set, st.lists(st.integers(), max_size=3)),
    st.builds(_recursive_list),
    st.builds(_recursive_dict),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.one_of(st.text(max_size=30), st.integers(), st.sampled_from(list(CORE_FIELDS)))
core_values = st.one_of(st.text(), st.integers(min_value=0, max_value=2**45), st.builds(Opaque))


def event_dicts() -> st.SearchStrategy[dict[Any, Any]]:
    return st.builds(
        lambda core, extra: {**extra, **core},
        st.fixed_dictionaries({k: core_values for k in CORE_FIELDS}),
        st.dictionaries(keys, values, max_size=8),
    )


def _check(line: bytes, limit: int) -> dict[str, Any]:
    text = line.decode("utf-8")
    assert "\n" not in text
    assert len(text) <= limit
    parsed = orjson.loads(line)
    assert isinstance(parsed, dict)
    return parsed


class TestBudgetGuarantee:
    @settings(max_examples=300, deadline=None)
    @given(event=event_dicts(), limit=st.sampled_from([100, 200, 500]))
    def test_any_event_fits_parses_and_keeps_core_keys(
        self, event: dict[Any, Any], limit: int
    ) -> None:
        """Whatever the values, the line parses, fits the budget and keeps every core key.

        A level of INFO may go (readers take a missing level as INFO).
        """
        parsed = _check(BudgetRenderer(limit).render(event), limit)
        kept = set(CORE_FIELDS) - ({"level"} if event.get("level") == "INFO" else set())
        assert kept <= set(parsed)

    @settings(max_examples=25, deadline=None)
    @given(size=st.integers(min_value=1_000, max_value=2_000_000), ch=st.characters())
    def test_megabyte_strings_are_shortened_with_a_mark(self, size: int, ch: str) -> None:
        """A huge value is cut to fit and ends with the visible truncation mark."""
        event = {"ts": 1, "level": "INFO", "event": "big", "cid": "abc", "note": ch * size}
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert parsed["note"].endswith(MARK)

    def test_huge_core_value_is_shortened_not_dropped(self) -> None:
        """A megabyte event text is shortened; the key stays."""
        event = {"ts": 1, "level": "INFO", "event": "x" * 1_000_000, "cid": "c1"}
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert parsed["event"].endswith(MARK)
        assert parsed["cid"] == "c1"


_UNSHOWABLE_CHARS = "\x85\x9b\u061c\u200e\u200f\u2028\u2029\u202a\u202e\u2066\u2069"


class TestShowable:
    @settings(max_examples=200, deadline=None)
    @given(
        text=st.text(alphabet=st.sampled_from(_UNSHOWABLE_CHARS + "aé€ 😀"), max_size=120),
        limit=st.sampled_from([100, 200]),
    )
    def test_no_character_a_terminal_obeys_is_written_raw(self, text: str, limit: int) -> None:
        """C1 controls, bidi marks and line separators are escaped (or, past the budget,
        replaced), the line still fits and parses, and a line that was not cut reads back
        as the same text."""
        line = BudgetRenderer(limit).render({"ts": 1, "event": "e", "note": text})
        parsed = _check(line, limit)
        assert not any(ch in line.decode("utf-8") for ch in _UNSHOWABLE_CHARS)
        if "\ufffd" not in parsed.get("note", "\ufffd") and not parsed["note"].endswith(MARK):
            assert parsed["note"] == text

    def test_an_escape_is_json_for_the_same_text(self) -> None:
        """A right-to-left override is written as \\u202e: what a reader decodes is unchanged."""
        line = BudgetRenderer(200).render({"event": "pay\u202etxt.exe"})
        assert b"\\u202e" in line
        assert orjson.loads(line) == {"event": "pay\u202etxt.exe"}


class TestPriorities:
    def test_small_event_renders_unchanged(self) -> None:
        """An event within budget is exactly orjson's compact output."""
        event = {"ts": 1, "level": "INFO", "event": "request_complete", "status": 200}
        assert BudgetRenderer(200).render(event) == orjson.dumps(event)

    def test_free_text_is_shortened_before_structured_fields_are_dropped(self) -> None:
        """A long message is cut while status and path survive."""
        event = {
            "ts": 1,
            "level": "ERROR",
            "event": "error",
            "cid": "c",
            "status": 500,
            "path": "/api/users/{user_id}",
            "msg": "boom " * 100,
        }
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert parsed["status"] == 500
        assert parsed["path"] == "/api/users/{user_id}"
        assert parsed["msg"].endswith(MARK)

    def test_the_message_goes_before_the_route(self) -> None:
        """On a crowded error line the message goes (the hash names it); the route stays whole."""
        event = {
            "ts": 1795745015921,
            "level": "ERROR",
            "event": "aggregated_error",
            "hash": "6aca4327",
            "type": "OperationalError",
            "msg": "database is locked",
            "sev": "critical",
            "count": 10,
            "path": "/api/users/{user_id}/bookings/{booking_id}",
            "exc": "app.db:commit:12 < app.api:book:40 < starlette.routing:handle:88",
        }
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert "msg" not in parsed
        assert parsed["path"] == "/api/users/{user_id}/bookings/{booking_id}"
        assert (parsed["type"], parsed["sev"], parsed["count"]) == (
            "OperationalError",
            "critical",
            10,
        )

    def test_route_template_is_not_cut_while_free_text_can_be(self) -> None:
        """A long message is shortened before the path is touched."""
        event = {
            "ts": 1,
            "level": "ERROR",
            "event": "error",
            "path": "/api/users/{user_id}/bookings/{booking_id}",
            "msg": "x" * 300,
        }
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert parsed["path"] == "/api/users/{user_id}/bookings/{booking_id}"

    def test_dropped_fields_are_counted_on_the_line(self) -> None:
        """When fields must go, the line says how many went."""
        event = {"ts": 1, "level": "INFO", "event": "e", "cid": "c"}
        event.update({f"k{i}": i for i in range(60)})
        parsed = _check(BudgetRenderer(100).render(event), 100)
        assert parsed["_dropped"] > 0

    def test_minimum_budget_is_enforced_at_construction(self) -> None:
        """A budget too small to hold the core keys is refused up front."""
        with pytest.raises(ValueError, match="max_line"):
            BudgetRenderer(50)


SID = "CA" + "0123456789abcdef" * 2


def request_line(path: str, level: str = "INFO") -> dict[str, Any]:
    return {
        "ts": 1795744044988,
        "level": level,
        "event": "request_complete",
        "cid": "3f9a1c7e2b4d",
        "method": "POST",
        "path": path,
        "status": 200,
        "duration": 0.038,
        "uid": "user_123",
        "sid": SID,
    }


JOIN_KEYS = ("cid", "path", "status", "duration", "uid", "sid")


class TestRequestLineJoinKeys:
    def test_method_and_info_level_go_before_any_join_key(self) -> None:
        """A 19-character route with a uid and a CallSid fits 200 by losing method and level."""
        event = request_line("/twilio/voice/start")
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert {k: parsed[k] for k in JOIN_KEYS} == {k: event[k] for k in JOIN_KEYS}
        assert "method" not in parsed and "level" not in parsed
        assert parsed["_dropped"] == 1  # the method: an INFO level is implied, not counted

    def test_an_info_level_goes_before_the_method(self) -> None:
        """A line a few characters over loses its INFO level (implied) and keeps its method."""
        event = request_line("/twilio/voice")  # 6 characters shorter: over by less than 15
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert parsed["method"] == "POST" and "level" not in parsed
        assert "_dropped" not in parsed  # nothing a reader cannot restore

    def test_a_48_character_route_with_a_uid_keeps_every_join_key(self) -> None:
        """Without a CallSid, a 48-character route keeps cid, path, status, duration and uid."""
        event = request_line("/" + "r" * 47)
        del event["sid"]
        parsed = _check(BudgetRenderer(200).render(event), 200)
        kept = ("cid", "path", "status", "duration", "uid")
        assert {k: parsed[k] for k in kept} == {k: event[k] for k in kept}

    def test_at_240_a_48_character_route_keeps_every_join_key(self) -> None:
        """The README's advice: BELLWATCH_MAX_LINE=240 keeps uid and sid beside a long route."""
        event = request_line("/" + "r" * 47)
        parsed = _check(BudgetRenderer(240).render(event), 240)
        assert {k: parsed[k] for k in JOIN_KEYS} == {k: event[k] for k in JOIN_KEYS}

    def test_a_warning_level_is_never_dropped(self) -> None:
        """Only INFO is implied by its absence: a slow request keeps level WARNING."""
        event = request_line("/twilio/voice/start", level="WARNING")
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert parsed["level"] == "WARNING"
        assert (parsed["cid"], parsed["status"]) == ("3f9a1c7e2b4d", 200)

    def test_uid_goes_before_sid_and_duration(self) -> None:
        """Past what fits, uid goes first: it is on the request's other lines, found by cid."""
        event = request_line("/api/v1/assistant/bookings/{booking}")  # 36 characters
        parsed = _check(BudgetRenderer(200).render(event), 200)
        kept = ("cid", "path", "status", "duration", "sid")
        assert {k: parsed[k] for k in kept} == {k: event[k] for k in kept}
        assert "uid" not in parsed

    def test_a_long_route_stays_whole_and_the_request_keys_go(self) -> None:
        """A 91-character route is kept whole: uid, sid and duration go instead."""
        event = request_line("/" + "r" * 90)
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert parsed["path"] == event["path"]
        assert "duration" not in parsed and "uid" not in parsed

    def test_a_failed_requests_hash_goes_before_its_callsid(self) -> None:
        """A 5xx Twilio request names its error's hash; over budget, the hash goes first
        (the error's own line has it, with the cid), so the CallSid stays."""
        event = request_line("/twilio/voice", level="ERROR")
        event["status"], event["hash"] = 500, "c8512203"
        del event["uid"]
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert (parsed["cid"], parsed["sid"], parsed["status"]) == ("3f9a1c7e2b4d", SID, 500)
        assert parsed["path"] == "/twilio/voice" and "hash" not in parsed

    def test_an_error_lines_hash_is_never_dropped(self) -> None:
        """On an error line (no duration) the hash stays whatever else must go."""
        event = {"ts": 1795744044988, "level": "ERROR", "event": "error", "cid": "3f9a1c7e2b4d",
                 "hash": "c8512203", "type": "OperationalError", "msg": "x" * 300, "n": 1,
                 "path": "/twilio/voice", "status": 500}  # fmt: skip
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert parsed["hash"] == "c8512203"

    def test_a_route_too_long_to_fit_is_dropped_not_cut(self) -> None:
        """A route that cannot fit whole is dropped and counted, never shortened."""
        event = request_line("/" + "r" * 150)
        parsed = _check(BudgetRenderer(200).render(event), 200)
        assert "path" not in parsed
        assert (parsed["cid"], parsed["status"]) == ("3f9a1c7e2b4d", 200)

    @settings(max_examples=200, deadline=None)
    @given(
        path=st.text(min_size=1, max_size=120),
        uid=st.text(max_size=40),
        extra=st.dictionaries(st.text(max_size=12), st.text(max_size=80), max_size=4),
        limit=st.sampled_from([100, 150, 200, 300]),
    )
    def test_a_line_is_changed_only_when_it_does_not_fit_and_then_says_so(
        self, path: str, uid: str, extra: dict[str, str], limit: int
    ) -> None:
        """Under budget the line is orjson's; over, it carries _dropped or a marked cut,
        or is the whole line but for its INFO level, which a reader restores."""
        event = {**request_line(path), "uid": uid, **extra}
        whole = showable(orjson.dumps(event), 10**9)  # as written: escapes count
        parsed = _check(BudgetRenderer(limit).render(event), limit)
        implied = {k: v for k, v in orjson.loads(whole).items() if k != "level"}
        if len(whole.decode()) <= limit:
            assert parsed == orjson.loads(whole)
        elif parsed != implied:
            cut = [k for k, v in parsed.items() if isinstance(v, str) and v != event.get(k)]
            # dropped, cut with a mark, or (escapes past the budget) replaced by U+FFFD
            assert "_dropped" in parsed or any(
                parsed[k].endswith(MARK) or "\ufffd" in k + parsed[k] for k in cut
            )


_SEGMENT = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_{}0123456789-", min_size=1, max_size=24)


class TestErrorLineRoute:
    @settings(max_examples=300, deadline=None)
    @given(
        route=st.lists(_SEGMENT, min_size=1, max_size=8).map(lambda parts: "/" + "/".join(parts)),
        event=st.sampled_from(["error", "aggregated_error"]),
        msg=st.text(max_size=200),
        error_type=st.text(min_size=1, max_size=40),
        extra=st.dictionaries(
            st.sampled_from(["uid", "sid", "window", "count", "exc", "status", "duration", "note"]),
            st.one_of(st.text(max_size=60), st.integers(0, 10**6)),
            max_size=6,
        ),
        limit=st.sampled_from([100, 150, 200, 300]),
        fast=st.booleans(),
    )
    def test_a_rendered_route_is_the_exact_route_or_absent(
        self,
        route: str,
        event: str,
        msg: str,
        error_type: str,
        extra: dict[str, Any],
        limit: int,
        fast: bool,
    ) -> None:
        """An error line's path is never a shortened route that reads as another one."""
        line = {
            "ts": 1795745015921,
            "level": "ERROR",
            "event": event,
            "cid": "3f9a1c7e2b4d",
            "hash": "6aca4327",
            "n": 3,
            "type": error_type,
            "msg": msg,
            "sev": "high",
            **extra,
            "path": route,
        }
        renderer = BudgetRenderer(limit)
        if fast:  # the logger's path: dumped with its newline, then cut in place
            data = orjson.dumps(line, option=orjson.OPT_APPEND_NEWLINE)
            if len(data) > limit + 1:
                data = renderer.over(dict(line), data)
            rendered = data.rstrip(b"\n")
        else:
            rendered = renderer.render(line)
        parsed = _check(rendered, limit)
        assert parsed.get("path", route) == route


class TestUnserializable:
    def test_raising_repr_becomes_a_placeholder(self) -> None:
        """An object whose __repr__ raises is named, not fatal."""
        parsed = _check(BudgetRenderer().render({"event": "e", "obj": RaisingRepr()}), 200)
        assert parsed["obj"] == "<unrepresentable RaisingRepr>"

    def test_recursive_structures_render(self) -> None:
        """Self-referencing lists and dicts render within budget."""
        event = {"event": "e", "a": _recursive_list(), "d": _recursive_dict()}
        _check(BudgetRenderer().render(event), 200)

    def test_lone_surrogates_are_replaced(self) -> None:
        """Text that is not valid UTF-8 is repaired instead of breaking the line."""
        parsed = _check(BudgetRenderer().render({"event": "bad \ud800 text"}), 200)
        assert parsed["event"].startswith("bad ")

    def test_non_string_keys_are_stringified(self) -> None:
        """Integer and object keys become strings."""
        parsed = _check(BudgetRenderer().render({"event": "e", 1: "one", (2, 3): "t"}), 200)
        assert parsed["1"] == "one"

    def test_nan_is_null(self) -> None:
        """NaN has no JSON spelling; it renders as null."""
        parsed = _check(BudgetRenderer().render({"event": "e", "x": math.nan}), 200)
        assert parsed["x"] is None


class TestValuesWrittenAsTheirText:
    @given(st.decimals(allow_nan=True, allow_infinity=True))
    def test_a_decimal_is_its_text(self, value: Decimal) -> None:
        """A Decimal is written as str() ("1.10"), not its repr ("Decimal('1.10')")."""
        parsed = _check(BudgetRenderer().render({"event": "e", "amount": value}), 200)
        assert parsed["amount"] == str(value)[:200]

    @pytest.mark.parametrize(
        "value", [PurePosixPath("/srv/app"), ip_address("10.0.0.1"), ip_network("10.0.0.0/8")]
    )
    def test_a_path_or_address_is_its_text(self, value: object) -> None:
        """Paths and IP addresses and networks are their text, inside containers too."""
        parsed = _check(BudgetRenderer().render({"event": "e", "v": value, "l": [value]}), 200)
        assert parsed["v"] == parsed["l"][0] == str(value)

    def test_text_is_no_replaced_value(self) -> None:
        """Writing a Decimal as its text is not counted as a value replaced by its repr."""
        before = counters.values_replaced
        BudgetRenderer().render({"event": "e", "amount": Decimal("1.10")})
        assert counters.values_replaced == before

    def test_a_str_that_raises_falls_back_to_repr(self) -> None:
        """A subclass whose __str__ raises is written as its repr, never raising."""

        class Odd(Decimal):
            def __str__(self) -> str:
                raise RuntimeError("no")

        parsed = _check(BudgetRenderer().render({"event": "e", "v": Odd("1")}), 200)
        assert parsed["v"] == "Decimal('1')"


class TestSafeRepr:
    @given(st.text())
    def test_never_longer_than_limit(self, text: str) -> None:
        """safe_repr respects its limit for any input."""
        assert len(safe_repr(text, 40)) <= 40
