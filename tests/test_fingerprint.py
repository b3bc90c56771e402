"""Fingerprints: parameterised messages, in-app frames, hashes stable across processes."""

from __future__ import annotations

import asyncio
import json
import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.errors import fingerprint as fingerprint_module
from bellwatch.errors.fingerprint import (
    default_severity,
    error_message,
    explain,
    explain_record,
    fingerprint,
    in_app_frames,
    normalise_message,
)
from fresh_python import run_python


def _raise_key(key: str) -> BaseException:
    try:
        raise KeyError(key)
    except KeyError as exc:
        return exc


def _raise_here(message: str) -> BaseException:
    try:
        raise ValueError(message)
    except ValueError as exc:
        return exc


def _validate(phone: str) -> None:
    raise ValueError(f"Invalid phone number {phone}")


def _site_a(phone: str) -> BaseException:
    try:
        _validate(phone)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


def _site_b(phone: str) -> BaseException:
    try:
        _validate(phone)
    except ValueError as exc:
        return exc
    raise AssertionError("unreachable")


class TestNormaliseMessage:
    @pytest.mark.parametrize(
        ("message", "expected"),
        [
            ("Invalid phone number +15551234567", "Invalid phone number <phone>"),
            ("user 42 not found", "user <num> not found"),
            ("took 3.25s", "took <duration>"),
            ("order 3f2a9c1e-1234-4abc-8def-0123456789ab", "order <uuid>"),
            ("mail to bob@example.com bounced", "mail to <email> bounced"),
            ("GET https://api.example.com/v1/u/42?q=1 failed", "GET <url> failed"),
            ("connect 10.0.0.12:5432 refused", "connect <ip> refused"),
            ("at 2025-09-26T20:30:15Z", "at <date>"),
            ("call CA0123456789abcdef0123456789abcdef gone", "call <num> gone"),
            ("pointer 0x7f3a2b", "pointer <num>"),
            ("key 'alice' missing", "key <quoted> missing"),
        ],
    )
    def test_variable_parts_become_placeholders(self, message: str, expected: str) -> None:
        """Each kind of variable value is replaced by its placeholder."""
        assert normalise_message(message) == expected

    def test_phone_numbers_group_together(self) -> None:
        """The issue's example: two phone numbers give the same normalised text."""
        a = normalise_message("Invalid phone number +15551234567")
        b = normalise_message("Invalid phone number +14165550000")
        assert a == b

    @given(st.text(max_size=300))
    def test_idempotent(self, message: str) -> None:
        """Normalising twice changes nothing more than normalising once."""
        once = normalise_message(message)
        assert normalise_message(once) == once

    @given(st.integers(), st.integers())
    def test_any_integer_groups(self, a: int, b: int) -> None:
        """Messages differing only in an integer normalise identically."""
        assert normalise_message(f"retry {a} failed") == normalise_message(f"retry {b} failed")

    @given(
        st.floats(allow_nan=False, allow_infinity=False),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    def test_any_float_groups(self, a: float, b: float) -> None:
        """Messages differing only in a float (including 1e+16 forms) normalise identically."""
        assert normalise_message(f"took {a} s") == normalise_message(f"took {b} s")

    @given(st.from_regex(r"[A-Za-z ,:]{0,80}", fullmatch=True))
    def test_plain_words_are_kept(self, message: str) -> None:
        """Text without numbers, ids or quotes keeps its words (they tell errors apart)."""
        assert normalise_message(message) == message


class TestErrorMessage:
    def test_key_error_loses_its_quotes(self) -> None:
        """``str(KeyError)`` quotes the key; the message keeps the key itself."""
        assert error_message(KeyError("user 7")) == "user 7"

    def test_broken_str_gives_a_placeholder(self) -> None:
        """An exception whose ``__str__`` raises still has a message."""

        class Broken(Exception):
            def __str__(self) -> str:
                raise RuntimeError("nope")

        assert error_message(Broken()) == "<unprintable Broken>"


class TestInAppFrames:
    def test_library_frames_are_skipped(self) -> None:
        """Frames inside the standard library are not part of the call site."""
        try:
            json.loads("{")
        except ValueError as exc:
            frames = in_app_frames(exc.__traceback__)
        assert frames == [f"{__name__}:test_library_frames_are_skipped"]

    def test_frames_have_no_line_numbers(self) -> None:
        """Only ``module:function``, so edits elsewhere in the file keep the hash."""
        exc = _site_a("+15551234567")
        assert in_app_frames(exc.__traceback__) == [f"{__name__}:_site_a", f"{__name__}:_validate"]

    def test_no_traceback_gives_no_frames(self) -> None:
        """An exception that was never raised has no call site."""
        assert in_app_frames(ValueError("x").__traceback__) == []

    def test_bellwatch_frames_are_never_the_call_site_wherever_it_is_installed(self) -> None:
        """An error raised through the middleware (bellwatch from a checkout, as here) has
        the app's frames only: the same fingerprint as from site-packages."""
        from bellwatch.asgi.middleware import BellwatchMiddleware

        async def app(scope: object, receive: object, send: object) -> None:
            raise RuntimeError("boom")

        scope = {"type": "http", "method": "GET", "path": "/", "headers": []}
        try:
            asyncio.run(BellwatchMiddleware(app)(scope, _receive, _send))
        except RuntimeError as exc:
            frames = in_app_frames(exc.__traceback__)
        assert frames and not any(f.startswith("bellwatch.") for f in frames)
        assert frames[-1].endswith(":app")

    def test_the_demo_service_is_an_app_like_any_other(self) -> None:
        """The demo's own frames are its call site (it is the app, not the library)."""
        from bellwatch.demo import app as demo_app

        assert fingerprint_module._in_app(demo_app.__file__)


def _in_comprehensions(rows: list[str]) -> list[BaseException]:
    caught = []
    for build in (
        lambda: [int(r) for r in rows],
        lambda: {r: int(r) for r in rows},
        lambda: {int(r) for r in rows},
    ):
        try:
            build()
        except ValueError as exc:
            caught.append(exc)
    return caught


class Declined(Exception):
    """A wrapper an app raises ``from`` whatever went wrong underneath."""


class OperationalError(Exception):
    """A database driver's error (critical by its name)."""


def _wrapped(cause: BaseException, *, explicit: bool = True) -> BaseException:
    try:
        try:
            raise cause
        except Exception as exc:
            if explicit:
                raise Declined("booking failed") from exc
            raise Declined("booking failed")  # noqa: B904 - the implicit context is the point
    except Declined as outer:
        return outer
    raise AssertionError("unreachable")


def _wrapped_quietly(cause: BaseException) -> BaseException:
    try:
        try:
            raise cause
        except Exception:
            raise Declined("booking failed") from None
    except Declined as outer:
        return outer
    raise AssertionError("unreachable")


def _raise_payment_failed() -> None:
    raise RuntimeError("payment failed")


def _collapse() -> None:
    # What starlette._utils.collapse_excgroups does around BaseHTTPMiddleware's task group.
    try:
        try:
            _raise_payment_failed()
        except RuntimeError as exc:
            raise ExceptionGroup("unhandled errors in a TaskGroup", [exc])  # noqa: B904
    except BaseException as exc:
        while isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            exc = exc.exceptions[0]
        raise exc  # (its context is then the group holding it)


def _collapsed() -> BaseException:
    try:
        _collapse()
    except RuntimeError as exc:
        return exc
    raise AssertionError("unreachable")


class TestChainedExceptions:
    @pytest.mark.parametrize("explicit", [True, False])
    def test_different_causes_are_kept_apart(self, explicit: bool) -> None:
        """One wrapper raised from two different failures (``from`` or implicitly) is two bugs."""
        locked = _wrapped(OperationalError("database is locked"), explicit=explicit)
        timeout = _wrapped(TimeoutError("read timed out"), explicit=explicit)
        assert fingerprint(locked) != fingerprint(timeout)

    def test_the_cause_varying_by_id_stays_one_pattern(self) -> None:
        """Causes that differ only by an id group together, as messages do."""
        assert fingerprint(_wrapped(KeyError("booking 17"))) == fingerprint(
            _wrapped(KeyError("booking 18"))
        )

    def test_the_message_names_the_cause(self) -> None:
        """The wrapper's text says what it was raised from: the root cause is on the line."""
        exc = _wrapped(OperationalError("database is locked"))
        assert error_message(exc) == "booking failed (from OperationalError: database is locked)"

    def test_a_suppressed_context_is_left_out(self) -> None:
        """``raise ... from None`` says the context does not matter: neither shown nor hashed."""
        exc = _wrapped_quietly(OperationalError("database is locked"))
        assert error_message(exc) == "booking failed"
        assert fingerprint(exc) == fingerprint(_wrapped_quietly(TimeoutError("read timed out")))

    def test_a_wrapped_database_error_is_critical(self) -> None:
        """A database failure raised as the app's own error is still a critical one."""
        exc = _wrapped(OperationalError("database is locked"))
        assert default_severity(exc, 500, handled=False) == "critical"

    def test_a_group_re_raised_as_its_only_member_adds_nothing(self) -> None:
        """Starlette's ``BaseHTTPMiddleware`` re-raises a one-exception group's member, whose
        context is then the group holding it: the same text and hash as raised plainly."""
        collapsed = _collapsed()
        assert isinstance(collapsed.__context__, ExceptionGroup)
        assert error_message(collapsed) == "payment failed"
        hashed = fingerprint(collapsed)
        collapsed.__suppress_context__ = True  # as if it had no context at all
        assert fingerprint(collapsed) == hashed

    def test_a_cause_without_text_is_named_alone(self) -> None:
        """``asyncio.wait_for``'s ``TimeoutError`` (no text) raised from a ``CancelledError``
        (no text either) reads ``(from CancelledError)``, with no stray space or colon."""

        async def slow() -> None:
            await asyncio.sleep(10)

        async def main() -> None:
            await asyncio.wait_for(slow(), 0.001)

        with pytest.raises(TimeoutError) as caught:
            asyncio.run(main())
        assert error_message(caught.value) == "(from CancelledError)"

    def test_a_cycle_in_the_chain_ends(self) -> None:
        """An exception that is its own context's context is read once."""
        a, b = ValueError("a"), ValueError("b")
        a.__context__, b.__context__ = b, a
        assert error_message(a) == "a (from ValueError: b)"


async def _task_group(*failures: BaseException) -> None:
    async def fail(exc: BaseException) -> None:
        raise exc

    async with asyncio.TaskGroup() as group:
        for exc in failures:
            group.create_task(fail(exc))


def _group_of(*failures: BaseException) -> BaseException:
    try:
        asyncio.run(_task_group(*failures))
    except BaseException as exc:  # the TaskGroup's ExceptionGroup
        return exc
    raise AssertionError("unreachable")


class TestExceptionGroups:
    def test_different_failures_in_one_task_group_are_kept_apart(self) -> None:
        """A TaskGroup whose task hit a ValueError is another bug than one that hit a KeyError."""
        assert fingerprint(_group_of(ValueError("slot 3 taken"))) != fingerprint(
            _group_of(KeyError("room"))
        )

    def test_how_many_tasks_failed_alike_does_not_split_the_pattern(self) -> None:
        """One task or two failing the same way (ids aside) is one pattern."""
        one = _group_of(ValueError("slot 3 taken"))
        two = _group_of(ValueError("slot 4 taken"), ValueError("slot 5 taken"))
        assert fingerprint(one) == fingerprint(two)

    def test_the_message_names_the_sub_exceptions(self) -> None:
        """The group's text says what failed inside it, once per kind."""
        exc = _group_of(ValueError("slot 4 taken"), KeyError("room"), ValueError("slot 5 taken"))
        assert error_message(exc) == (
            "unhandled errors in a TaskGroup: KeyError: room; ValueError: slot 4 taken"
        )

    def test_explain_hashes_what_fingerprint_hashes(self) -> None:
        """The explanation of a group gives its fingerprint."""
        exc = _group_of(ValueError("slot 3 taken"), KeyError("room"))
        assert explain(exc).hash == fingerprint(exc)


class TestAcrossPythonVersions:
    def test_comprehension_frames_are_not_the_call_site(self) -> None:
        """A list, dict or set comprehension is a frame before Python 3.12 and inlined
        since (PEP 709): never hashed, so one bug keeps its fingerprint across versions."""
        for exc in _in_comprehensions(["1", "x"]):
            frames = in_app_frames(exc.__traceback__)
            assert frames == [f"{__name__}:_in_comprehensions", f"{__name__}:<lambda>"]

    def test_a_logged_comprehension_frame_is_not_hashed(self) -> None:
        """Recomputing a hash from a line written by Python 3.11 leaves the frame out too."""
        line = {"type": "builtins.ValueError", "msg": "bad",
                "exc": "shop.orders:total:5 > shop.orders:<listcomp>:2"}  # fmt: skip
        assert explain_record(line).frames == ("shop.orders:total",)


class TestFingerprint:
    def test_is_eight_hex(self) -> None:
        """The hash is 8 lowercase hex characters (``F.ERROR_HASH``)."""
        assert re.fullmatch(r"[0-9a-f]{8}", fingerprint(_raise_here("x")))

    def test_varying_ids_group_together(self) -> None:
        """The same error with different phone numbers has one fingerprint."""
        assert fingerprint(_site_a("+15551234567")) == fingerprint(_site_a("+14165550000"))

    def test_different_call_site_differs(self) -> None:
        """The same error raised through another caller is another pattern."""
        assert fingerprint(_site_a("+15551234567")) != fingerprint(_site_b("+15551234567"))

    def test_different_type_differs(self) -> None:
        """Same message, different exception class: different fingerprints."""
        assert fingerprint(ValueError("boom")) != fingerprint(TypeError("boom"))

    def test_forced_fingerprint_wins(self) -> None:
        """A caller-chosen fingerprint groups unrelated exceptions."""
        assert fingerprint(ValueError("a"), "payments") == fingerprint(KeyError("b"), "payments")

    def test_stable_across_processes(self, tmp_path: Path) -> None:
        """Another interpreter with another hash seed computes the same hash."""
        module = tmp_path / "fp_app.py"
        module.write_text(
            textwrap.dedent(
                """
                def fail(n):
                    raise ValueError(f"order {n} failed")

                def caught(n):
                    try:
                        fail(n)
                    except ValueError as exc:
                        return exc
                """
            )
        )
        code = (
            "import sys; sys.path.insert(0, sys.argv[1]); import fp_app;"
            "from bellwatch.errors.fingerprint import fingerprint;"
            "print(fingerprint(fp_app.caught(1)))"
        )
        hashes = {
            run_python(
                code, str(tmp_path), env={"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
            ).strip()
            for seed in ("1", "2")
        }
        assert len(hashes) == 1
        assert re.fullmatch(r"[0-9a-f]{8}", hashes.pop())


class TestExplain:
    def test_hash_is_the_fingerprint(self) -> None:
        """The explanation's hash is exactly what fingerprint() gives."""
        exc = _site_a("+15551234567")
        assert explain(exc).hash == fingerprint(exc)

    def test_shows_type_parameterized_message_and_frames(self) -> None:
        """Type, the message before and after, what was replaced, and the frames hashed."""
        exp = explain(_site_a("+15551234567"))
        assert exp.type == "builtins.ValueError"
        assert exp.parameterized == "Invalid phone number <phone>"
        assert exp.replaced == (("+***4567", "<phone>"),)
        assert exp.frames == (f"{__name__}:_site_a", f"{__name__}:_validate")
        text = "\n".join(exp.lines())
        assert "Invalid phone number <phone>" in text
        assert f"{__name__}:_site_a > {__name__}:_validate" in text

    def test_secrets_in_the_message_are_masked(self) -> None:
        """The explanation is an output like any other: the message is redacted."""
        exc = _raise_here("login failed password=hunter2 for token=abc123XYZ")
        exp = explain(exc)
        assert "hunter2" not in repr(exp)
        assert "abc123XYZ" not in repr(exp)
        assert exp.hash == fingerprint(exc)

    def test_forced_fingerprint_is_explained(self) -> None:
        """A caller-chosen fingerprint says so, and nothing else counts."""
        exp = explain(ValueError("x"), forced="payments")
        assert exp.hash == fingerprint(KeyError("y"), "payments")
        assert exp.lines() == [f"hash {exp.hash} = blake2b(forced fingerprint 'payments')"]

    def test_a_logged_line_is_explained_as_far_as_it_goes(self) -> None:
        """From a line's type, msg and exc: the parameterized message, frames and notes."""
        line = {
            "type": "OrderFailed",
            "msg": "order 42 failed",
            "exc": "app.orders:pay:12 < app.api:book:40",
        }
        exp = explain_record(line)
        assert exp.parameterized == "order <num> failed"
        assert exp.frames == ("app.api:book", "app.orders:pay")
        assert any("module.Qualname" in note for note in exp.notes)

    @pytest.mark.parametrize("logged", ["KeyError", "builtins.KeyError"])
    def test_a_builtin_type_is_hashed_with_its_module(self, logged: str) -> None:
        """``KeyError`` and ``builtins.KeyError`` on a line both recompute the real hash."""
        exc = _raise_key("slot")
        line = {"type": logged, "msg": "slot", "exc": f"{__name__}:_raise_key:1"}
        exp = explain_record(line)
        assert exp.type == "builtins.KeyError"
        assert exp.hash == fingerprint(exc)
        assert not any("module.Qualname" in note for note in exp.notes)


async def _receive() -> dict[str, object]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: object) -> None:
    pass
