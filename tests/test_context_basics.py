"""Correlation ids: generation, validation, scoping."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from bellwatch.log import context


class TestIds:
    def test_new_id_is_twelve_lowercase_hex(self) -> None:
        """The default id is 12 lowercase hex characters (48 bits)."""
        assert re.fullmatch(r"[0-9a-f]{12}", context.new_id())

    def test_new_ids_differ(self) -> None:
        """Ten thousand fresh ids are all distinct."""
        assert len({context.new_id() for _ in range(10_000)}) == 10_000

    @given(st.text())
    def test_valid_ids_are_safe_to_echo(self, value: str) -> None:
        """Anything accepted is short and made of safe characters only."""
        if context.valid_id(value):
            assert len(value) <= 64
            assert re.fullmatch(r"[A-Za-z0-9._:=-]+", value)

    def test_rejects_header_injection(self) -> None:
        """CR/LF and spaces are refused."""
        assert not context.valid_id("abc\r\nSet-Cookie: x=1")


class TestScopes:
    def test_request_scope_resets(self) -> None:
        """The cid and fields are restored after the scope."""
        context.bind(a=1)
        with context.request_scope("c1"):
            assert context.get_cid() == "c1"
            assert dict(context.get_fields()) == {}
        assert context.get_cid() is None
        assert dict(context.get_fields()) == {"a": 1}

    def test_unbind_removes_keys(self) -> None:
        """unbind() drops only the named keys."""
        context.bind(a=1, b=2)
        context.unbind("a")
        assert dict(context.get_fields()) == {"b": 2}


class TestIdPool:
    def test_forked_children_do_not_repeat_the_parents_ids(self) -> None:
        """After fork, a child draws fresh random bytes instead of the parent's pool."""
        import os

        context.new_id()  # fill the pool in the parent
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: report its next id and leave at once
            os.write(w, context.new_id().encode())
            os._exit(0)
        os.close(w)
        child_id = os.read(r, 64).decode()
        os.waitpid(pid, 0)
        assert child_id != context.new_id()

    def test_ids_from_many_threads_are_distinct(self) -> None:
        """Concurrent callers never receive the same slice of the pool."""
        import threading

        seen: list[str] = []

        def work() -> None:
            seen.extend(context.new_id() for _ in range(2000))

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(set(seen)) == 8000

    def test_every_size_is_cut_whole_across_refills(self) -> None:
        """16-byte ids stay 32 hex characters through several 4 KiB refills."""
        ids = [context.new_id(16) for _ in range(1000)]
        assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
        assert len(set(ids)) == len(ids)


class TestOneVariable:
    def test_reset_cid_restores_only_the_id(self) -> None:
        """A reset puts the id back; fields bound after the set stay."""
        token = context.set_cid("c2")
        context.bind(late=1)
        context.reset_cid(token)
        assert context.get_cid() is None
        assert context.get_fields()["late"] == 1
        context.unbind("late")

    def test_bound_restores_only_the_fields(self) -> None:
        """An id set inside a bound() block outlives the block, as it did before."""
        with context.bound(a=1):
            token = context.set_cid("c4")
        assert context.get_cid() == "c4"
        assert "a" not in context.get_fields()
        context.reset_cid(token)

    def test_clear_forgets_everything(self) -> None:
        """clear() leaves no id and no fields."""
        context.set_cid("c3")
        context.bind(a=1)
        context.clear()
        assert context.get_cid() is None
        assert dict(context.get_fields()) == {}
