"""hash_uid: a bound uid is replaced by its keyed hash before it is logged, counted or sent."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import bellwatch
from bellwatch import ConfigError, get_logger, instrument
from bellwatch._runtime import runtime
from bellwatch.log.context import get_fields
from bellwatch.log.pseudonym import Pseudonym, UidHasher
from bellwatch.testing import capture_logs

KEY = "0123456789abcdef-secret"
HASHED = {"hash_uid": True, "uid_key": KEY}


def _app() -> Any:
    async def me(request: Any) -> PlainTextResponse:
        bellwatch.bind(uid="alice@example.com")
        get_logger().info("profile_read")
        return PlainTextResponse("ok")

    async def boom(request: Any) -> PlainTextResponse:
        bellwatch.bind(uid="alice@example.com")
        raise RuntimeError("broken")

    return instrument(Starlette(routes=[Route("/me", me), Route("/boom", boom)]))


def _get(app: Any, *paths: str) -> None:
    async def go() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for path in paths:
                await client.get(path)

    asyncio.run(go())


class TestUidHasher:
    def test_sixteen_hex_the_same_for_the_same_key(self) -> None:
        """The same id and key give the same 16 hex characters; another key, another hash."""
        one, again = UidHasher(KEY)("alice"), UidHasher(KEY)("alice")
        assert re.fullmatch(r"[0-9a-f]{16}", one) and one == again
        assert UidHasher("another key, 16+ bytes")("alice") != one
        assert UidHasher(KEY)(42) == UidHasher(KEY)("42")

    def test_a_hash_is_never_hashed_again(self) -> None:
        """A Pseudonym passes through unchanged: two hashing points hash once."""
        hasher = UidHasher(KEY)
        once = hasher("alice")
        assert isinstance(once, Pseudonym) and hasher(once) is once

    @pytest.mark.parametrize("key", ["short", "x" * 65])
    def test_key_length_is_checked(self, key: str) -> None:
        """A key outside 16-64 bytes is refused at configure, naming the setting."""
        with pytest.raises(ConfigError, match="uid_key"):
            bellwatch.configure(hash_uid=True, uid_key=key)

    def test_hash_uid_needs_a_key(self) -> None:
        """hash_uid without uid_key fails at configure instead of logging raw ids."""
        with pytest.raises(ConfigError, match="hash_uid"):
            bellwatch.configure(hash_uid=True)


class TestHashedEverywhere:
    def test_bound_uid_is_stored_hashed(self) -> None:
        """bind() keeps the hash; the app reading it back gets the hash."""
        with capture_logs(**HASHED):
            bellwatch.bind(uid="alice")
            assert get_fields()["uid"] == UidHasher(KEY)("alice")

    def test_lines_carry_only_the_hash(self) -> None:
        """The app's line, the request line and the error's first line: never the raw id."""
        with capture_logs(**HASHED) as logs:
            _get(_app(), "/me", "/boom")
            runtime.flush()
        expected = UidHasher(KEY)("alice@example.com")
        uids = {e.get("uid") for e in logs.events if "uid" in e}
        assert uids == {expected}
        assert all("alice" not in line for line in logs.lines)
        events = {e["event"] for e in logs.events if e.get("uid") == expected}
        assert {"profile_read", "request_complete", "error"} <= events

    def test_a_uid_given_to_one_call_is_hashed(self) -> None:
        """log.info(..., uid=...) and a structlog-bound uid are hashed too, once."""
        with capture_logs(**HASHED) as logs:
            get_logger().info("login", uid="bob")
            get_logger().bind(uid="carol").info("logout")
            bellwatch.bind(uid="dave")
            get_logger().info("again", uid=get_fields()["uid"])
        hasher = UidHasher(KEY)
        assert [e["uid"] for e in logs.events] == [hasher("bob"), hasher("carol"), hasher("dave")]

    def test_sessions_and_analytics_count_the_hash(self) -> None:
        """The session key that falls back to uid, and the users tracker, hold only hashes."""
        with capture_logs(**HASHED):
            _get(_app(), "/me", "/me")
            users = runtime.users()
            assert users is not None
            section = users.section()
            assert section["active"]["5m"] == 1
            assert section["top_by_requests"] == [
                {"uid": UidHasher(KEY)("alice@example.com"), "requests": 2}
            ]
            store = runtime.monitor().store
            assert set(store._sessions) == {UidHasher(KEY)("alice@example.com")}

    def test_the_environment_alone_hashes_a_uid_bound_before_configure(self) -> None:
        """BELLWATCH_HASH_UID and BELLWATCH_UID_KEY act without any configure() call."""
        code = (
            "import bellwatch\n"
            "from bellwatch.log.context import get_fields\n"
            "bellwatch.bind(uid='alice')\n"
            "print(get_fields()['uid'])\n"
        )
        env = {"BELLWATCH_HASH_UID": "1", "BELLWATCH_UID_KEY": KEY, "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
        )
        assert out.stdout.strip() == UidHasher(KEY)("alice")

    def test_off_by_default(self) -> None:
        """Without hash_uid, the id is kept as bound."""
        with capture_logs():
            bellwatch.bind(uid="alice")
            assert get_fields()["uid"] == "alice"
