"""The CloudWatch Logs source against moto: pages, windows, follow, Insights, retries."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from bellwatch.aws import session
from bellwatch.sources.base import Source, SourceError
from bellwatch.sources.cloudwatch import CloudWatchSource

GROUP = "/ecs/bella-prod"
# CloudWatch (and moto) refuse events older than 14 days: stay near now.
T0 = (int(time.time()) - 3600) * 1000


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A moto logs client with the log group and one stream."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ca-central-1")
    with mock_aws():
        client = session.client("logs", region="ca-central-1")
        client.create_log_group(logGroupName=GROUP)
        client.create_log_stream(logGroupName=GROUP, logStreamName="ecs/app/1")
        yield client


def put(client: Any, *stamps: int, stream: str = "ecs/app/1") -> None:
    """Write one JSON line per timestamp; the line's ``n`` is its timestamp."""
    events = [
        {"timestamp": t, "message": json.dumps({"ts": t, "event": "e", "n": t})} for t in stamps
    ]
    client.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=sorted(
        events, key=lambda e: int(e["timestamp"])))  # fmt: skip


class Sleeps:
    """Records requested sleeps and runs a hook instead of waiting."""

    def __init__(self, hook: Callable[[int], None] | None = None) -> None:
        self.calls: list[float] = []
        self.hook = hook

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if self.hook is not None:
            self.hook(len(self.calls))


def source(client: Any, **kwargs: Any) -> CloudWatchSource:
    kwargs.setdefault("sleep", Sleeps())
    return CloudWatchSource(GROUP, client=client, **kwargs)


def fail_times(client: Any, operation: str, n: int, code: str = "ThrottlingException") -> list[int]:
    """Make the next ``n`` calls of ``operation`` raise ``code`` before reaching moto."""
    calls = [0]

    def handler(**_: Any) -> None:
        calls[0] += 1
        if calls[0] <= n:
            raise ClientError({"Error": {"Code": code, "Message": "Rate exceeded"}}, operation)

    client.meta.events.register(f"before-call.cloudwatch-logs.{operation}", handler)
    return calls


def capture(client: Any, operation: str) -> list[dict[str, Any]]:
    """Record the parameters of every ``operation`` call (after botocore validated them)."""
    seen: list[dict[str, Any]] = []
    client.meta.events.register(
        f"before-parameter-build.cloudwatch-logs.{operation}",
        lambda params, **_: seen.append(dict(params)),
    )
    return seen


def answer(parsed: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A before-call reply that short-circuits the request with ``parsed``."""
    return SimpleNamespace(status_code=200, headers={}), parsed


class TestRecords:
    def test_is_a_source(self, logs: Any) -> None:
        """The CloudWatch source satisfies the CLI's Source protocol."""
        assert isinstance(source(logs), Source)
        assert source(logs).describe() == GROUP

    def test_pages_through_every_event(self, logs: Any) -> None:
        """With a page size of 10, 25 events arrive in order across three pages."""
        put(logs, *range(T0, T0 + 25))
        calls = capture(logs, "FilterLogEvents")
        got = [r["n"] for r in source(logs, page_size=10).records()]
        assert got == list(range(T0, T0 + 25))
        assert len(calls) == 3

    def test_records_carry_insights_fields(self, logs: Any) -> None:
        """Each record has CloudWatch's @timestamp, the raw @message, stream and group."""
        put(logs, T0)
        (r,) = source(logs).records()
        assert (r["@timestamp"], r["@logStream"], r["@log"]) == (T0, "ecs/app/1", GROUP)
        assert json.loads(r["@message"])["n"] == T0

    def test_window_is_since_inclusive_until_exclusive(self, logs: Any) -> None:
        """--since includes its millisecond, --until excludes its own."""
        put(logs, T0 - 1, T0, T0 + 500, T0 + 1000)
        got = [r["n"] for r in source(logs).records(T0, T0 + 1000)]
        assert got == [T0, T0 + 500]

    def test_pattern_is_passed_through(self, logs: Any) -> None:
        """The filter pattern goes to CloudWatch unchanged."""
        put(logs, T0)
        calls = capture(logs, "FilterLogEvents")
        pattern = '{ $.level = "ERROR" }'
        list(source(logs).records(pattern=pattern))
        assert calls[0]["filterPattern"] == pattern

    def test_non_json_lines_are_text_events(self, logs: Any) -> None:
        """A banner line is a text event with CloudWatch's time, counted apart."""
        from bellwatch.sources.base import TextRecord

        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName="ecs/app/1",
            logEvents=[{"timestamp": T0, "message": "Starting uvicorn"}],
        )
        put(logs, T0 + 1)
        src = source(logs)
        text, event = list(src.records())
        assert isinstance(text, TextRecord) and text["@message"] == "Starting uvicorn"
        assert (text["@timestamp"], event["n"]) == (T0, T0 + 1)
        assert (src.stats.records, src.stats.text_lines) == (1, 1)

    def test_missing_group_is_a_clear_error(self, logs: Any) -> None:
        """An unknown log group raises SourceError naming it, without retrying."""
        sleeps = Sleeps()
        src = CloudWatchSource("/ecs/nope", client=logs, sleep=sleeps)
        with pytest.raises(SourceError, match="/ecs/nope"):
            list(src.records())
        assert sleeps.calls == []


class TestRepeatedToken:
    def test_repeated_token_resumes_without_loss_or_duplicates(self, logs: Any) -> None:
        """A page token CloudWatch repeats resumes from the last timestamp: all 9, once each."""
        put(logs, *range(T0, T0 + 9))
        real = logs.filter_log_events
        sent: list[dict[str, Any]] = []

        def flaky(**kw: Any) -> dict[str, Any]:
            sent.append(kw)
            reply = dict(real(**kw))
            if len(sent) == 2:  # the second page comes back with the token that fetched it
                reply["nextToken"] = kw["nextToken"]
            return reply

        class Client:
            filter_log_events = staticmethod(flaky)

        src = CloudWatchSource(GROUP, client=Client(), page_size=3, sleep=Sleeps())
        assert [r["n"] for r in src.records()] == list(range(T0, T0 + 9))
        assert "nextToken" not in sent[2] and sent[2]["startTime"] == T0 + 5
        assert src.stats.warnings == []

    def test_token_that_never_moves_ends_with_a_note(self, logs: Any) -> None:
        """A token that keeps coming back with nothing new ends the read, and says so."""
        put(logs, T0)

        class Stuck:
            def filter_log_events(self, **kw: Any) -> dict[str, Any]:
                return {"events": [], "nextToken": "same"}

        src = CloudWatchSource(GROUP, client=Stuck(), sleep=Sleeps(), retries=2)
        assert list(src.records()) == []
        (note,) = src.stats.warnings
        assert "same page token" in note


class TestLatest:
    def test_reads_newest_first_and_stops_early(self, logs: Any) -> None:
        """The last 3 of an hour of events come from the last minute's window alone."""
        put(logs, *range(T0, T0 + 3_600_000, 60_000), T0 + 3_599_000)
        calls = capture(logs, "FilterLogEvents")
        src = source(logs, clock=lambda: (T0 + 3_600_000) / 1000)
        got = [r["n"] for r in src.latest(3)]
        assert got == [T0 + 3_480_000, T0 + 3_540_000, T0 + 3_599_000]
        assert calls[0]["startTime"] == T0 + 3_600_001 - 60_000
        assert len(calls) <= 3

    def test_widens_until_enough_match(self, logs: Any) -> None:
        """Few matches: windows widen back to --since; the answer is oldest first."""
        put(logs, T0, T0 + 10, T0 + 600_000)
        src = source(logs, clock=lambda: (T0 + 900_000) / 1000)
        got = [r["n"] for r in src.latest(5, since_ms=T0 - 1000)]
        assert got == [T0, T0 + 10, T0 + 600_000]

    def test_keep_filters_before_counting(self, logs: Any) -> None:
        """Only records that pass keep count toward n."""
        put(logs, *range(T0, T0 + 10))
        src = source(logs, clock=lambda: (T0 + 20) / 1000)
        got = [r["n"] for r in src.latest(2, lambda r: r["n"] % 2 == 0, since_ms=T0)]
        assert got == [T0 + 6, T0 + 8]

    def test_without_since_stops_at_the_group_creation(self, logs: Any) -> None:
        """With no --since and no match, the walk back ends at the group's creation."""
        calls = capture(logs, "FilterLogEvents")
        assert source(logs).latest(5) == []
        assert 0 < len(calls) < 20


class TestRetries:
    def test_throttling_is_retried_with_growing_backoff(self, logs: Any) -> None:
        """Two throttled calls are retried after growing delays, then the page arrives."""
        put(logs, T0)
        fail_times(logs, "FilterLogEvents", 2)
        sleeps = Sleeps()
        assert [r["n"] for r in source(logs, sleep=sleeps).records()] == [T0]
        assert len(sleeps.calls) == 2
        assert sleeps.calls[0] <= sleeps.calls[1]

    def test_persistent_throttling_ends_in_one_message(self, logs: Any) -> None:
        """When every attempt is throttled, SourceError says what and how many times."""
        calls = fail_times(logs, "FilterLogEvents", 100)
        with pytest.raises(SourceError, match=r"ThrottlingException\) after 4 attempts"):
            list(source(logs, retries=3).records())
        assert calls[0] == 4

    def test_transient_server_errors_are_retried(self, logs: Any) -> None:
        """A ServiceUnavailableException is retried like throttling."""
        put(logs, T0)
        fail_times(logs, "FilterLogEvents", 1, code="ServiceUnavailableException")
        assert [r["n"] for r in source(logs).records()] == [T0]

    def test_access_denied_is_not_retried(self, logs: Any) -> None:
        """An AccessDeniedException fails at once with a hint about IAM."""
        calls = fail_times(logs, "FilterLogEvents", 100, code="AccessDeniedException")
        with pytest.raises(SourceError, match="IAM"):
            list(source(logs).records())
        assert calls[0] == 1

    def test_bugs_are_not_dressed_as_aws_errors(self) -> None:
        """A non-AWS exception (a bug) propagates as itself, not as a SourceError."""

        class Broken:
            def filter_log_events(self, **_: Any) -> Any:
                raise TypeError("bug")

        with pytest.raises(TypeError, match="bug"):
            list(CloudWatchSource(GROUP, client=Broken()).records())


class TestFollow:
    def test_no_duplicates_or_gaps_across_polls(self, logs: Any) -> None:
        """Events at the boundary millisecond, and late arrivals, are yielded exactly once."""
        put(logs, T0, T0 + 100, T0 + 200)

        def between_polls(n: int) -> None:
            if n == 1:
                put(logs, T0 + 200, T0 + 300)  # same ms as the newest seen, then newer
            elif n == 2:
                put(logs, T0 + 150, stream="ecs/app/2")  # arrived late, older than newest

        logs.create_log_stream(logGroupName=GROUP, logStreamName="ecs/app/2")
        src = source(logs, sleep=Sleeps(between_polls), lookback_ms=5_000)
        polls = iter(range(10))
        got = [r["n"] for r in src.follow(T0, stop=lambda: next(polls) >= 6)]
        assert sorted(got) == sorted([T0, T0 + 100, T0 + 200, T0 + 200, T0 + 300, T0 + 150])

    def test_without_since_starts_now(self, logs: Any) -> None:
        """follow() with no start yields only events from its own start time on."""
        put(logs, T0 - 1000, T0, T0 + 5)
        got = [r["n"] for r in source(logs, clock=lambda: T0 / 1000).follow(stop=lambda: True)]
        assert got == [T0, T0 + 5]

    def test_polls_at_most_once_a_second(self, logs: Any) -> None:
        """A shorter poll interval is raised to one second (FilterLogEvents quota)."""
        sleeps = Sleeps()
        polls = iter(range(10))
        list(
            source(logs, sleep=sleeps).follow(T0, poll_interval=0.25, stop=lambda: next(polls) > 2)
        )
        assert sleeps.calls and set(sleeps.calls) == {1.0}

    def test_starts_at_since(self, logs: Any) -> None:
        """Events before --since are not yielded by follow."""
        put(logs, T0 - 1000, T0)
        got = [r["n"] for r in source(logs).follow(T0, stop=lambda: True)]
        assert got == [T0]


class TestInsights:
    def test_polls_until_complete_reporting_progress(self, logs: Any) -> None:
        """Running replies are polled with backoff; progress sees every status."""
        put(logs, T0, T0 + 1)
        statuses = iter(["Scheduled", "Running"])

        def reply(**_: Any) -> Any:
            status = next(statuses, None)
            if status is None:
                return None  # let moto answer: Complete
            return answer({"status": status, "statistics": {"recordsScanned": 1.0}})

        logs.meta.events.register("before-call.cloudwatch-logs.GetQueryResults", reply)
        seen: list[str] = []
        sleeps = Sleeps()
        src = source(logs, sleep=sleeps, progress=lambda s, _: seen.append(s))
        rows = src.run_insights("fields @timestamp, @message | sort @timestamp asc", T0, T0 + 10)
        assert seen == ["Scheduled", "Running", "Complete"]
        assert len(sleeps.calls) == 2 and sleeps.calls[0] < sleeps.calls[1]
        assert [r["@timestamp"] for r in rows] == [T0, T0 + 1]
        assert all("@ptr" not in r for r in rows)

    def test_window_maps_to_start_and_end_seconds(self, logs: Any) -> None:
        """since/until in ms become Insights' startTime/endTime in whole seconds."""
        calls = capture(logs, "StartQuery")
        source(logs).run_insights("fields @message", T0 + 1500, T0 + 3500)
        assert (calls[0]["startTime"], calls[0]["endTime"]) == (T0 // 1000 + 1, T0 // 1000 + 4)

    def test_default_window_is_the_last_hour(self, logs: Any) -> None:
        """Without --since, the query covers the hour before now."""
        calls = capture(logs, "StartQuery")
        source(logs, clock=lambda: T0 / 1000).run_insights("fields @message", None, None)
        assert (calls[0]["startTime"], calls[0]["endTime"]) == (T0 // 1000 - 3600, T0 // 1000)

    def test_concurrency_limit_is_retried(self, logs: Any) -> None:
        """start_query's LimitExceededException (too many queries) is retried."""
        fail_times(logs, "StartQuery", 2, code="LimitExceededException")
        assert source(logs).run_insights("fields @message", T0, T0 + 1000) == []

    def test_concurrency_limit_says_to_wait(self, logs: Any) -> None:
        """When the concurrent-query quota stays full, the message says to wait, not narrow."""
        fail_times(logs, "StartQuery", 100, code="LimitExceededException")
        with pytest.raises(SourceError, match="wait for some to finish") as err:
            source(logs, retries=2).run_insights("fields @message", T0, T0 + 1000)
        assert "--since" not in str(err.value)

    def test_asks_for_the_api_row_limit(self, logs: Any) -> None:
        """StartQuery asks for 100,000 rows, the most the API returns (10,000 a page)."""
        # StartQuery: "The maximum limit is 100,000"; GetQueryResults: "up to 10,000 log
        # events per request ... up to 100,000 ... by paginating with the nextToken".
        # https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html
        calls = capture(logs, "StartQuery")
        source(logs).run_insights("fields @message", T0, T0 + 1000)
        assert calls[0]["limit"] == 100_000

    def test_pages_through_results_and_says_when_capped(self, logs: Any) -> None:
        """Ten pages of 10,000 rows are all returned, and the cap is said in the note."""
        pages = iter(range(10))

        def reply(params: dict[str, Any], **_: Any) -> Any:
            page = next(pages)
            rows = [[{"field": "i", "value": str(page * 10_000 + i)}] for i in range(10_000)]
            more = {"nextToken": f"t{page + 1}"} if page < 9 else {}
            return answer({"status": "Complete", "statistics": {}, "results": rows, **more})

        logs.meta.events.register("before-call.cloudwatch-logs.GetQueryResults", reply)
        src = source(logs)
        rows = src.run_insights("fields i", T0, T0 + 1000)
        assert [r["i"] for r in rows] == list(range(100_000))
        (note,) = src.stats.warnings
        assert "first 100,000 rows" in note

    def test_uncapped_answer_has_no_note(self, logs: Any) -> None:
        """Two pages, fewer rows than the limit: no note."""
        pages = iter([("t1", 10_000), (None, 5)])

        def reply(**_: Any) -> Any:
            token, n = next(pages)
            rows = [[{"field": "i", "value": "1"}]] * n
            more = {"nextToken": token} if token else {}
            return answer({"status": "Complete", "statistics": {}, "results": rows, **more})

        logs.meta.events.register("before-call.cloudwatch-logs.GetQueryResults", reply)
        src = source(logs)
        assert len(src.run_insights("fields i", T0, T0 + 1000)) == 10_005
        assert src.stats.warnings == []

    def test_waits_as_long_as_cloudwatch_runs_a_query(self) -> None:
        """The default wait is CloudWatch's own query timeout, 60 minutes."""
        # GetQueryResults: "Queries time out after 60 minutes of runtime."
        assert CloudWatchSource(GROUP).query_timeout == 3600

    def test_cloudwatch_timeout_is_explained(self, logs: Any) -> None:
        """A query CloudWatch itself timed out says so, and what to do."""
        logs.meta.events.register(
            "before-call.cloudwatch-logs.GetQueryResults",
            lambda **_: answer({"status": "Timeout", "statistics": {}}),
        )
        with pytest.raises(SourceError, match=r"after 60 minutes\): narrow --since/--until"):
            source(logs).run_insights("fields @message", T0, T0 + 1000)

    def test_failed_query_raises(self, logs: Any) -> None:
        """A query CloudWatch reports as Failed ends in SourceError."""
        logs.meta.events.register(
            "before-call.cloudwatch-logs.GetQueryResults",
            lambda **_: answer({"status": "Failed", "statistics": {}}),
        )
        with pytest.raises(SourceError, match="failed"):
            source(logs).run_insights("fields @message", T0, T0 + 1000)

    def test_slow_query_is_stopped(self, logs: Any) -> None:
        """A query still running after query_timeout is stopped and reported."""
        logs.meta.events.register(
            "before-call.cloudwatch-logs.GetQueryResults",
            lambda **_: answer({"status": "Running", "statistics": {}}),
        )
        stops = capture(logs, "StopQuery")
        with pytest.raises(SourceError, match="stopped"):
            source(logs, query_timeout=3).run_insights("fields @message", T0, T0 + 1000)
        assert len(stops) == 1

    def test_values_come_back_typed(self, logs: Any) -> None:
        """Numbers become numbers and Insights' text timestamps become epoch ms."""
        row = [
            {"field": "@timestamp", "value": "2026-11-27 01:02:03.456"},
            {"field": "n", "value": "42"},
            {"field": "p95", "value": "2.5"},
            {"field": "hash", "value": "1e5a9c0b"},
            {"field": "cid", "value": "012345678901"},
            {"field": "lines", "value": "0042"},
            {"field": "@ptr", "value": "xyz"},
        ]
        logs.meta.events.register(
            "before-call.cloudwatch-logs.GetQueryResults",
            lambda **_: answer({"status": "Complete", "statistics": {}, "results": [row]}),
        )
        query = "fields @timestamp, n, p95, hash, cid, lines"
        (got,) = source(logs).run_insights(query, T0, T0 + 1000)
        assert got == {
            "@timestamp": 1795741323456,
            "n": 42,
            "p95": 2.5,
            "hash": "1e5a9c0b",
            "cid": "012345678901",
            "lines": "0042",
        }

    def test_rows_without_the_queried_fields_are_skipped_and_said(self, logs: Any) -> None:
        """moto answers a stats query with the raw events: none of its columns, so no row
        of nulls; the warning counts what was skipped."""
        put(logs, T0, T0 + 1, T0 + 2)
        src = source(logs)
        rows = src.run_insights("stats count(*) as n by path", T0, T0 + 10)
        assert rows == []
        assert src.stats.warnings == [
            "skipped 3 of 3 Logs Insights rows holding none of the query's fields (n, path)"
        ]

    def test_rows_with_some_of_the_fields_are_kept(self, logs: Any) -> None:
        """A row holding any requested field is a row: CloudWatch omits empty fields."""
        rows = [
            [{"field": "path", "value": "/a"}, {"field": "n", "value": "2"}],
            [{"field": "n", "value": "1"}],
            [{"field": "@message", "value": "{}"}, {"field": "@ptr", "value": "p"}],
        ]
        logs.meta.events.register(
            "before-call.cloudwatch-logs.GetQueryResults",
            lambda **_: answer({"status": "Complete", "statistics": {}, "results": rows}),
        )
        src = source(logs)
        got = src.run_insights("stats count(*) as n by path", T0, T0 + 1000)
        assert got == [{"path": "/a", "n": 2}, {"n": 1}]
        assert src.stats.warnings == [
            "skipped 1 of 3 Logs Insights rows holding none of the query's fields (n, path)"
        ]


class TestClient:
    def test_botocore_does_not_retry_behind_our_back(self, logs: Any) -> None:
        """The source's own client makes one attempt per call, so its retry count is exact."""
        src = CloudWatchSource(GROUP, region="ca-central-1")
        assert src.client.meta.config.retries["total_max_attempts"] == 1

    def test_no_region_is_a_clear_error(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without any region the source says how to set one."""
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
        monkeypatch.delenv("AWS_REGION", raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        with pytest.raises(SourceError, match="--region"):
            list(CloudWatchSource(GROUP).records())


class TestThroughTheCli:
    def test_filter_and_insights_read_the_log_group(self, logs: Any) -> None:
        """`bellwatch filter/insights --log-group` read CloudWatch through this source."""
        from click.testing import CliRunner

        from bellwatch.cli import cli

        put(logs, T0)
        logs.put_log_events(
            logGroupName=GROUP,
            logStreamName="ecs/app/1",
            logEvents=[{"timestamp": T0 + 1, "message": '{"level":"ERROR","event":"boom"}'}],
        )
        runner = CliRunner()
        args = ["--log-group", GROUP, "--region", "ca-central-1", "--since", "2h"]
        out = runner.invoke(cli, ["filter", *args, '{ $.level = "ERROR" }'])
        assert out.exit_code == 0, out.output
        assert "boom" in out.output and f"n={T0}" not in out.output
        out = runner.invoke(cli, ["insights", *args, "fields @message | limit 5"])
        assert out.exit_code == 0, out.output
        assert "boom" in out.output


class FakeLogs:
    """In-memory filter_log_events: an event becomes visible at its arrival poll; pages of 3."""

    def __init__(self, events: list[tuple[int, int]]) -> None:
        self.events = events  # (timestamp, arrival poll); the index is the event id
        self.poll = 0

    def filter_log_events(self, **kw: Any) -> dict[str, Any]:
        visible = sorted(
            (ts, i) for i, (ts, arrives) in enumerate(self.events)
            if arrives <= self.poll and ts >= kw.get("startTime", 0)
        )  # fmt: skip
        offset = int(kw.get("nextToken", 0))
        page = visible[offset : offset + 3]
        reply: dict[str, Any] = {
            "events": [
                {"eventId": str(i), "timestamp": ts, "message": json.dumps({"i": i}),
                 "logStreamName": "s"}
                for ts, i in page
            ]
        }  # fmt: skip
        if offset + 3 < len(visible):
            reply["nextToken"] = str(offset + 3)
        return reply


class TestFollowProperty:
    @given(st.lists(st.tuples(st.integers(0, 30_000), st.integers(0, 5)), max_size=40))
    def test_each_event_once_when_late_within_lookback(self, events: list[tuple[int, int]]) -> None:
        """Any arrival order: nothing twice, and nothing missed that is late by < lookback."""
        fake = FakeLogs(events)

        def next_poll(_: float) -> None:
            fake.poll += 1

        src = CloudWatchSource("g", client=fake, sleep=next_poll, lookback_ms=5_000)
        got = [r["i"] for r in src.follow(0, stop=lambda: fake.poll >= 6)]
        assert len(got) == len(set(got))
        for i, (ts, arrives) in enumerate(events):
            newest_before = max((t for t, a in events if a < arrives), default=0)
            if ts >= newest_before - 5_000:
                assert i in got
