"""Report facts: the fold (counting rules), merging runs, storage, and windows over chunks."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bellwatch.reports.endpoints import rows as endpoint_rows
from bellwatch.reports.errors import rows as error_rows
from bellwatch.reports.slow import rows as slow_rows
from bellwatch.reports.summary import collect
from bellwatch.reports.twilio import rows as twilio_rows
from bellwatch.sources import _build, _chunk
from bellwatch.sources._fold import fold_lines, fold_record
from bellwatch.sources.base import ScanStats
from bellwatch.sources.cache import windowed
from bellwatch.sources.facts import Facts, slowest
from bellwatch.sources.reader import StreamReader, Window


def dumps(**fields: object) -> bytes:
    return orjson.dumps(fields)


def folded(*lines: bytes) -> Facts:
    facts = Facts()
    fold_lines(facts, lines)
    return facts


def answers(facts: Facts) -> dict[str, Any]:
    """Everything a report can read from facts, in one comparable value."""
    return {
        "summary": collect(facts),
        "slow": slow_rows(facts, facts.floor, 10_000),
        "endpoints": endpoint_rows(facts),
        "counts": (facts.records, facts.text, facts.untimed, facts.min_ts, facts.max_ts),
    }


ERR = {"hash": "abc12345", "type": "KeyError", "msg": "user_id", "level": "ERROR"}


class TestErrorCounts:
    def test_sum_of_n(self) -> None:
        """A fingerprint's total is the sum of ``n`` over its error lines, whatever ``count``."""
        facts = folded(
            dumps(ts=1, event="error", n=1, count=1, **ERR),
            dumps(ts=2, event="aggregated_error", n=9, count=10, **ERR),
            dumps(ts=3, event="aggregated_error", n=4, count=14, **ERR),  # another process
        )
        (row,) = error_rows(facts)
        assert (row["count"], row["first_ts"], row["last_ts"]) == (14, 1, 3)

    def test_older_lines_without_n(self) -> None:
        """Without ``n`` an ``error`` line counts 1 and an ``aggregated_error`` line 0."""
        facts = folded(
            dumps(ts=1, event="error", **ERR),
            dumps(ts=2, event="aggregated_error", count=10, **ERR),
        )
        assert error_rows(facts)[0]["count"] == 1

    def test_logger_first_line_counts(self) -> None:
        """A first occurrence logged through a logger keeps the app's event name and n=1."""
        facts = folded(dumps(ts=1, event="payment_failed", n=1, **ERR))
        assert [(r["hash"], r["count"]) for r in error_rows(facts)] == [("abc12345", 1)]

    def test_escalations_and_alerts_are_not_occurrences(self) -> None:
        """``error_escalated`` and ``alert_*`` lines carry the hash but count nothing."""
        facts = folded(
            dumps(ts=1, event="error", n=1, **ERR),
            dumps(ts=2, event="error_escalated", **{**ERR, "level": "WARNING"}),
            dumps(ts=3, event="alert_fired", **{**ERR, "level": "WARNING"}),
        )
        (row,) = error_rows(facts)
        assert (row["count"], row["last_ts"]) == (1, 1)


class TestTwilio:
    def test_a_forged_webhook_fails_once(self) -> None:
        """A bad signature answered 403 is one failed webhook, with one bad signature."""
        common = {"cid": "c1", "sid": "CA1", "path": "/twilio/voice"}
        other = {**common, "cid": "c2"}
        facts = folded(
            dumps(ts=1, event="signature_validation_failed", **common),
            dumps(ts=2, event="request_complete", status=403, duration=0.01, **common),
            dumps(ts=3, event="request_complete", status=502, duration=0.3, **other),
            dumps(ts=4, event="request_complete", status=200, duration=0.1, **common),
        )
        (row,) = twilio_rows(facts)
        assert (row["failures"], row["bad_signatures"], row["statuses"]) == (2, 1, [403, 502])


class TestSlow:
    def test_strictly_over_the_threshold(self) -> None:
        """Slow is ``duration > threshold``, as the middleware and the metric filter count."""
        facts = folded(
            *(
                dumps(ts=i, event="request_complete", path="/a", duration=d, cid=f"c{i}")
                for i, d in enumerate([1.9, 2.0, 2.1, 0.6, 0.5])
            )
        )
        assert [r["duration"] for r in slow_rows(facts, 2.0, 10)] == [2.1]
        assert [r["duration"] for r in slow_rows(facts, 0.5, 10)] == [2.1, 2.0, 1.9, 0.6]


class TestStorage:
    def test_round_trip(self) -> None:
        """Stored facts load back to the same answers, sections read on demand."""
        facts = folded(*LINES_EXAMPLE)
        loaded = Facts.loads(facts.dumps())
        assert loaded is not None and answers(loaded) == answers(facts)

    def test_a_report_reads_only_its_sections(self) -> None:
        """Stored facts merged into others unmarshal a section only when a report reads it."""
        loaded = Facts.loads(folded(*LINES_EXAMPLE).dumps())
        assert loaded is not None
        out = Facts()
        out.merge(loaded)
        assert error_rows(out)  # reads the error section
        assert set(loaded._blobs) == {"ep", "slow", "slow_lo", "tw"}

    @pytest.mark.parametrize("cut", [0, 3, 9, 40, -1])
    def test_damaged_is_none(self, cut: int) -> None:
        """A truncated or foreign blob is not facts."""
        blob = folded(*LINES_EXAMPLE).dumps()
        assert Facts.loads(blob[:cut]) is None
        assert Facts.loads(b"XXXX" + blob[4:]) is None


LINES_EXAMPLE = [
    b"INFO:     Started server process [4127]",
    dumps(ts=1000, event="request_complete", method="GET", path="/a", status=200, duration=0.1),
    dumps(ts=1001, event="request_complete", path="/a", status=500, duration=2.5, cid="c1"),
    dumps(ts=1002, event="error", n=1, path="/a", cid="c1", **ERR),
    b"Traceback (most recent call last):",
    dumps(event="request_complete", method="POST", path="/b", status=422, duration=0.7),
    dumps(ts=1003, level="WARNING", event="health_check_failed", check="db"),
]

# Lines a property test draws from: every kind the fold treats differently.
FAILED = [{}, {"hash": "abc12345", "uid": "u1"}, {"hash": "abc12345"}, {"uid": "u2"},
          {"hash": "abc12345", "uid": None}]  # fmt: skip
_LINES = st.one_of(
    st.sampled_from([*LINES_EXAMPLE, b"", b"  ", b'{"ts":1', b"\x00\xff", b"{}"]),
    st.builds(
        lambda ts, path, status, dur, cid, failed: dumps(
            ts=ts,
            event="request_complete",
            method="GET",
            path=path,
            status=status,
            duration=dur,
            cid=cid,
            sid="CA1",
            **failed,
        ),
        st.one_of(st.none(), st.integers(0, 50)),
        st.sampled_from(["/a", "/twilio/voice", None]),
        st.sampled_from([200, 403, 500, 502, None]),
        st.one_of(st.none(), st.sampled_from([0.1, 0.5, 0.6, 2.0, 3.5])),
        st.sampled_from(["c1", "c2", None]),
        # the error recorded during the request, and its user: one affected user
        st.sampled_from(FAILED),
    ),
    st.builds(
        lambda ts, event, n, cid, uid: dumps(ts=ts, event=event, n=n, cid=cid, uid=uid, **ERR),
        st.one_of(st.none(), st.integers(0, 50)),
        st.sampled_from(["error", "aggregated_error", "payment_failed", "error_escalated"]),
        st.one_of(st.none(), st.integers(0, 20)),
        st.sampled_from(["c1", None]),
        st.sampled_from(["u1", "u3", None]),
    ),
    st.builds(
        lambda ts, cid: dumps(ts=ts, event="signature_validation_failed", sid="CA1", cid=cid),
        st.one_of(st.none(), st.integers(0, 50)),
        st.sampled_from(["c1", "c3", None]),
    ),
)


class TestMerging:
    @settings(max_examples=60, deadline=None)
    @given(st.lists(_LINES, max_size=40), st.lists(st.integers(0, 40), max_size=4))
    def test_runs_merge_into_the_whole(self, lines: list[bytes], cuts: list[int]) -> None:
        """Folding runs of lines apart and merging them gives the facts of folding all."""
        whole = folded(*lines)
        bounds = sorted({0, len(lines), *(min(c, len(lines)) for c in cuts)})
        merged = Facts()
        for start, end in itertools.pairwise(bounds):
            merged.merge(folded(*lines[start:end]))
        assert answers(merged) == answers(whole)

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(_LINES, max_size=40),
        st.lists(st.integers(0, 40), max_size=4),
        st.lists(st.sampled_from(["kept", "counted", "stored", "stored counted"]), min_size=5),
    )
    def test_durations_kept_or_counted_merge_alike(
        self, lines: list[bytes], cuts: list[int], ways: list[str]
    ) -> None:
        """A run's durations, kept as folded, counted, stored or stored then counted,
        merge into the histogram of folding all."""
        whole = folded(*lines)
        bounds = sorted({0, len(lines), *(min(c, len(lines)) for c in cuts)})
        merged = Facts()
        for (start, end), way in zip(itertools.pairwise(bounds), ways, strict=False):
            run = folded(*lines[start:end])
            if way.startswith("stored"):
                run = Facts.loads(run.dumps())  # type: ignore[assignment]
            if way.endswith("counted"):
                run.settle()
            merged.merge(run)
        assert answers(merged) == answers(whole)
        assert all(type(e[5]) is tuple for e in merged.ep.values())  # counted when read


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what JSON writers emit as integers
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)
_KEYS = ["ts", "level", "cid", "method", "path", "status", "duration", "sid", "hash",
         "type", "msg", "sev", "count", "n", "window"]  # fmt: skip
_EVENTS = st.sampled_from(["request_complete", "error", "aggregated_error",
                           "signature_validation_failed", "health_check_failed"])  # fmt: skip


class TestAffectedUsers:
    def test_an_integer_uid_is_the_user_of_its_text(self) -> None:
        """An error's users count an integer uid as its text: 42 and "42" are one user."""
        facts = folded(
            dumps(ts=1, event="error", n=1, uid=42, **ERR),
            dumps(ts=2, event="request_complete", status=500, uid=42, hash=ERR["hash"]),
            dumps(ts=4, event="request_complete", status=500, uid=True, hash=ERR["hash"]),
        )
        assert facts.eu == {ERR["hash"]: {"42"}}

    def test_an_integer_and_a_text_uid_of_the_same_user_are_one(self) -> None:
        """42 and "42" are one affected user, as the users report counts them."""
        facts = folded(
            dumps(ts=2, event="request_complete", status=500, uid=42, hash=ERR["hash"]),
            dumps(ts=3, event="request_complete", status=500, uid="42", hash=ERR["hash"]),
        )
        assert facts.eu == {ERR["hash"]: {"42"}}


class TestOddValues:
    @settings(max_examples=150, deadline=None)
    @given(st.lists(st.fixed_dictionaries({"event": _EVENTS}, optional=dict.fromkeys(_KEYS, _JSON)),
                    max_size=20))  # fmt: skip
    def test_any_json_value_in_any_field(self, events: list[dict[str, object]]) -> None:
        """Lists, objects, booleans or huge numbers where the schema has text or numbers
        never break the fold: a value of the wrong type counts as absent."""
        facts = folded(*(orjson.dumps(e) for e in events))
        answers(facts)  # every report can be made from them
        assert facts.records == len(events)


class TestOneReader:
    @settings(max_examples=100, deadline=None)
    @given(st.lists(st.one_of(_LINES, st.binary(max_size=30)), max_size=40))
    def test_the_fold_reads_lines_as_the_record_reader_does(self, lines: list[bytes]) -> None:
        """The reports' inlined fold and the record reader (what tail, filter and insights
        read through) see the same events, structured and text, with the same facts."""
        via_fold = folded(*lines)
        via_reader = Facts()
        reader = StreamReader("app.jsonl", "logs", ScanStats())
        for line in lines:
            record = reader.event(line)
            if record is not None:
                fold_record(via_reader, record)
        assert answers(via_fold) == answers(via_reader)
        assert (reader.stats.records, reader.stats.text_lines) == (via_fold.records, via_fold.text)


class TestWindows:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(
        st.lists(_LINES, max_size=60),
        st.one_of(st.none(), st.integers(0, 50)),
        st.one_of(st.none(), st.integers(0, 55)),
    )
    def test_chunks_compose_like_one_windowed_read(
        self,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        lines: list[bytes],
        since: int | None,
        until: int | None,
    ) -> None:
        """A window over stored chunks (taken whole, left out, or read again) gives what
        one windowed read of the file gives: rows and counts, text lines included."""
        monkeypatch.setattr(_chunk, "CHUNK_BYTES", 64)
        path = tmp_path / "app.jsonl"
        path.write_bytes(b"".join(line + b"\n" for line in lines))
        end = path.stat().st_size
        chunks = _build.build(str(path), _build.plan(str(path), 0, end), 0.5, print).chunks
        direct = Facts()
        fold_lines(direct, [ln for ln in lines], since_ms=since, until_ms=until)
        got = windowed(str(path), chunks, Window(since, until), 0.5)
        assert answers(got)["summary"] == answers(direct)["summary"]
        assert answers(got)["slow"] == answers(direct)["slow"]
        assert (got.records, got.text) == (direct.records, direct.text)


class TestStoredBlob:
    """Facts loaded from the cache and left untouched are written back as they were read
    (an append rewrites every chunk of the file's cache)."""

    def _loaded(self) -> tuple[bytes, Facts]:
        lines = [dumps(ts=i, event="request_complete", method="GET", path="/a", status=200,
                       duration=i / 10, cid=f"c{i}") for i in range(30)]  # fmt: skip
        facts = Facts()
        fold_lines(facts, lines)
        blob = bytes(facts.dumps())
        loaded = Facts.loads(blob)
        assert loaded is not None
        return blob, loaded

    def test_untouched_gives_back_its_blob(self) -> None:
        blob, loaded = self._loaded()
        assert bytes(loaded.dumps()) == blob

    def test_a_read_section_is_written_again(self) -> None:
        """Once a section is read (it may change), the facts are marshalled again."""
        blob, loaded = self._loaded()
        loaded.slow.clear()
        again = Facts.loads(bytes(loaded.dumps()))
        assert again is not None and again.slow == [] and bytes(loaded.dumps()) != blob

    def test_changed_counts_are_written_again(self) -> None:
        _blob, loaded = self._loaded()
        loaded.records += 1
        again = Facts.loads(bytes(loaded.dumps()))
        assert again is not None and again.records == loaded.records


class TestSlowest:
    @given(
        st.lists(
            st.tuples(
                st.sampled_from([1000, 2000, 3000, None]),
                st.just("GET"),
                st.just("/a"),
                st.sampled_from([0.6, 2.5, 3.0, 7.25]),
                st.just(200),
                st.text(max_size=3),
            ),
            max_size=30,
        ),
        st.integers(1, 40),
    )
    def test_order_is_slowest_then_oldest_then_as_read(
        self, rows: list[tuple[Any, ...]], limit: int
    ) -> None:
        """However it sorts (two stable sorts when every row is timed), the order is the
        key's: slowest first, then oldest, untimed last, then the order read."""
        expected = sorted(
            (r for r in rows if r[3] > 1.0), key=lambda r: (-r[3], r[0] is None, r[0] or 0)
        )[:limit]
        assert slowest(list(rows), 1.0, limit) == expected
