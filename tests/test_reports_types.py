"""reports/_types.py: the rows every report returns are masked, each row walked only when needed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bellwatch.log.redact import scrub
from bellwatch.reports import masked
from bellwatch.reports._types import redactor

_VALUES = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["Bearer abcdefgh12345678", "+15551234567", '{"password": "hunter2"}', "/api/{id}"]
    ),
    st.integers(min_value=-(2**60), max_value=2**60),
    st.just(4111111111111111),
    st.floats(allow_nan=False),
    st.none(),
    st.lists(st.text(max_size=8), max_size=2),
)
_ROWS = st.lists(
    st.dictionaries(st.sampled_from(["path", "cid", "msg", "token", "phone", "n"]), _VALUES),
    max_size=5,
)


class TestMasked:
    @given(_ROWS)
    def test_equals_masking_every_row_by_the_walk(self, rows: list[dict[str, object]]) -> None:
        """The fast path for plain rows gives what walking every row gives."""
        plain_rows = [
            {k: v for k, v in row.items() if not (isinstance(v, str) and v.startswith("{"))}
            for row in rows
        ]  # JSON held in text is masked as JSON by masked() alone (test_redact_outputs)
        assert masked(plain_rows) == scrub(plain_rows)

    def test_the_list_is_new(self) -> None:
        """A caller may add to the rows it got without changing the list it passed."""
        rows: list[dict[str, object]] = [{"path": "/a", "n": 1}]
        out = masked(rows)
        out.append({"path": "/b"})
        assert len(rows) == 1

    def test_a_masked_row_is_a_copy(self) -> None:
        """A row with a secret comes back masked; the row passed in keeps its value."""
        row = {"path": "/a", "token": "abc"}
        assert masked([row])[0]["token"] != "abc"
        assert row["token"] == "abc"

    @given(
        st.lists(st.fixed_dictionaries({"cid": _VALUES, "path": _VALUES, "n": _VALUES}), max_size=6)
    )
    def test_rows_of_one_shape_judged_by_column_as_by_row(
        self, rows: list[dict[str, object]]
    ) -> None:
        """Rows sharing their keys are judged a column at a time (a report's rows): the
        same verdict as judging each row."""
        r = redactor(None)
        assert r.plain_rows(rows) == all(r.plain(row) for row in rows)

    @given(st.lists(st.text(alphabet="0123456789abcdefIAKskghxo", max_size=20), max_size=8))
    def test_a_column_of_ids_judged_at_once_as_one_by_one(self, ids: list[str]) -> None:
        r = redactor(None)
        assert r.plain_texts(set(ids)) == all(r.plain_text(i) for i in ids)
