"""reports/_types.py: the rows every report returns are masked, each row walked only when needed."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bellwatch.log.redact import scrub
from bellwatch.reports import masked

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

    def test_rows_are_copies(self) -> None:
        """A caller may change the rows it got without changing the report's."""
        row = {"path": "/a", "n": 1}
        out = masked([row])
        out[0]["n"] = 2
        assert row["n"] == 1
