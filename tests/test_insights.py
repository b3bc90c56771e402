"""The local Logs Insights engine, checked against the examples of the AWS pages.

Examples come from the AWS pages "CloudWatch Logs Insights query syntax" (commands
table, "Matches and regular expressions in the filter command", aliases, comments,
functions tables), "Sample queries" and the `dedup` command page; the log events are
made up here to exercise each documented result.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch.query.insights import DEFAULT_LIMIT, Query, QueryError, parse

T0 = 1_700_000_000_000  # 2023-11-14 22:13:20 UTC


def rec(i: int = 0, message: str = "", /, **fields: Any) -> dict[str, Any]:
    return {"@timestamp": T0 + i * 1000, "@message": message, **fields}


def run(query: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return parse(query).run(records)


class TestCommandExamples:
    def test_recent_events(self) -> None:
        """`fields @timestamp, @message | sort @timestamp desc | limit 25` gives the newest 25."""
        records = [rec(i, f"m{i}") for i in range(40)]
        rows = run("fields @timestamp, @message | sort @timestamp desc | limit 25", records)
        assert [r["@message"] for r in rows] == [f"m{i}" for i in range(39, 14, -1)]
        assert rows[0]["@timestamp"] == "2023-11-14 22:13:59.000"

    def test_exceptions_per_hour(self) -> None:
        """Exceptions are counted per hour bin, biggest count first."""
        records = [rec(i * 600, "Exception" if i % 2 else "ok") for i in range(12)]
        rows = run(
            "filter @message like /Exception/ | stats count(*) as exceptionCount by bin(1h)"
            " | sort exceptionCount desc",
            records,
        )
        assert rows == [
            {"bin(1h)": "2023-11-14 23:00:00.000", "exceptionCount": 3},
            {"bin(1h)": "2023-11-14 22:00:00.000", "exceptionCount": 2},
            {"bin(1h)": "2023-11-15 00:00:00.000", "exceptionCount": 1},
        ]

    def test_not_like(self) -> None:
        """`filter @message not like /Exception/` keeps the other events."""
        rows = run(
            "fields @message | filter @message not like /Exception/",
            [rec(1, "a"), rec(2, "Exception")],
        )
        assert rows == [{"@message": "a"}]

    def test_filter_duration(self) -> None:
        """`fields f1, f2, f3 | filter (duration>2000)` keeps long events, showing only f1..f3."""
        records = [rec(1, f1=1, f2=2, f3=3, duration=2500), rec(2, f1=9, duration=10)]
        assert run("fields f1, f2, f3 | filter (duration>2000)", records) == [
            {"f1": 1, "f2": 2, "f3": 3}
        ]

    def test_filter_without_fields_shows_timestamp_and_message(self) -> None:
        """`filter (duration>2000)` alone shows @timestamp and @message."""
        rows = run(
            "filter (duration>2000)", [rec(0, "slow", duration=2001), rec(1, "fast", duration=1)]
        )
        assert rows == [{"@timestamp": "2023-11-14 22:13:20.000", "@message": "slow"}]

    def test_filter_or(self) -> None:
        """`filter (f1=10 or f3>25)` keeps events meeting either condition."""
        records = [rec(1, f1=10, f2="a"), rec(2, f1=1, f3=30, f2="b"), rec(3, f1=1, f3=1, f2="c")]
        assert run("fields f1, f2 | filter (f1=10 or f3>25)", records) == [
            {"f1": 1, "f2": "b"},
            {"f1": 10, "f2": "a"},
        ]

    def test_like_regex_on_numbers(self) -> None:
        """`statusCode like /2\\d\\d/` matches 2xx codes, `not like` the others."""
        records = [rec(1, f1="ok", statusCode=204), rec(2, f1="bad", statusCode=404)]
        assert run(r"fields f1 | filter statusCode like /2\d\d/", records) == [{"f1": "ok"}]
        assert run(r"fields f1 | filter statusCode not like /2\d\d/", records) == [{"f1": "bad"}]

    def test_in_list(self) -> None:
        """`statusCode in [300,400,500]` matches those codes, numbers or numeric strings."""
        records = [
            rec(1, "a", statusCode=300),
            rec(2, "b", statusCode="500"),
            rec(3, "c", statusCode=200),
        ]
        rows = run("fields @timestamp, @message | filter statusCode in [300,400,500]", records)
        assert [r["@message"] for r in rows] == ["b", "a"]

    def test_not_in_list(self) -> None:
        """`Type not in ["foo","bar",1]` drops those values."""
        records = [rec(1, "a", Type="foo"), rec(2, "b", Type=1), rec(3, "c", Type="baz")]
        rows = run('fields @timestamp, @message | filter Type not in ["foo","bar",1]', records)
        assert [r["@message"] for r in rows] == ["c"]

    def test_stats_avg_by(self) -> None:
        """`stats avg (f1) by f2` averages f1 per value of f2."""
        records = [rec(1, f1=1, f2="x"), rec(2, f1=3, f2="x"), rec(3, f1=10, f2="y")]
        assert run("stats avg (f1) by f2", records) == [
            {"f2": "x", "avg(f1)": 2.0},
            {"f2": "y", "avg(f1)": 10.0},
        ]

    def test_sort_desc(self) -> None:
        """`sort f1 desc` orders by f1, largest first."""
        records = [rec(1, f1=2), rec(2, f1=9), rec(3, f1=5)]
        assert [r["f1"] for r in run("fields f1, f2, f3 | sort f1 desc", records)] == [9, 5, 2]

    def test_limit_then_display(self) -> None:
        """`sort @timestamp desc | limit 25 | display f1, f2` shows two fields of the newest 25."""
        records = [rec(i, f1=i, f2=-i, f3="hidden") for i in range(30)]
        rows = run("sort @timestamp desc | limit 25 | display f1, f2", records)
        assert len(rows) == 25
        assert rows[0] == {"f1": 29, "f2": -29}

    def test_display_after_parse(self) -> None:
        """The `display` example shows loggingMessage of ERROR lines only."""
        records = [rec(1, "[ERROR] disk full"), rec(2, "[INFO] fine")]
        query = (
            'fields @message | parse @message "[*] *" as loggingType, loggingMessage'
            ' | filter loggingType = "ERROR" | display loggingMessage'
        )
        assert run(query, records) == [{"loggingMessage": "disk full"}]

    def test_fields_backticks_and_functions(self) -> None:
        """`fields `foo-bar`, action, abs(f3-f4)` shows the computed column."""
        rows = run(
            "fields `foo-bar`, action, abs(f3-f4)",
            [rec(1, **{"foo-bar": "x", "action": "a", "f3": 1, "f4": 5})],
        )
        assert rows == [{"foo-bar": "x", "action": "a", "abs(f3-f4)": 4}]

    def test_concat_alias(self) -> None:
        """`concat(Operation, '-', StatusCode) as opStatus` joins the values."""
        rows = run(
            "fields concat(Operation, '-', StatusCode) as opStatus",
            [rec(1, Operation="Put", StatusCode=200)],
        )
        assert rows == [{"opStatus": "Put-200"}]


class TestParse:
    LINE = (
        "25 May 2019 10:24:39,474 [ERROR] {foo=2, bar=data} The error was: DataIntegrityException"
    )
    EXPECTED: ClassVar[dict[str, str]] = {
        "level": "ERROR",
        "config": "{foo=2, bar=data}",
        "exception": "DataIntegrityException",
    }

    def test_glob(self) -> None:
        """The documented glob extracts level, config and exception."""
        query = (
            'parse @message "[*] * The error was: *" as level, config, exception | '
            "display level, config, exception"
        )
        assert run(query, [rec(1, self.LINE)]) == [self.EXPECTED]

    def test_regex(self) -> None:
        """The documented named-group regex extracts the same three fields."""
        query = (
            r"parse @message /\[(?<level>\S+)\]\s+(?<config>\{.*\})\s+"
            r"The error was: (?<exception>\S+)/"
            " | display level, config, exception"
        )
        assert run(query, [rec(1, self.LINE)]) == [self.EXPECTED]

    def test_glob_then_stats(self) -> None:
        """The sample glob query averages latency per method and user."""
        records = [
            rec(1, "25 May 2019 10:24:39,474 user=user1234, method:sampleMehod, latency := 216"),
            rec(2, "25 May 2019 10:24:40,474 user=user1234, method:sampleMehod, latency := 100"),
        ]
        query = (
            'parse @message "user=*, method:*, latency := *" as @user,\n    @method, @latency'
            " | stats avg(@latency) by @method,\n    @user"
        )
        assert run(query, records) == [
            {"@method": "sampleMehod", "@user": "user1234", "avg(@latency)": 158.0}
        ]

    def test_regex_sample_extracts_names(self) -> None:
        """The sample regex query extracts user2 and method2."""
        query = (
            "parse @message /user=(?<user2>.*?), "
            "method:(?<method2>.*?),\n    latency := (?<latency2>.*?)/"
            " | display user2, method2"
        )
        line = "user=user1234, method:sampleMehod,\n    latency := 216"
        assert run(query, [rec(1, line)]) == [{"user2": "user1234", "method2": "sampleMehod"}]

    def test_uppercase_commands(self) -> None:
        """The upper-case sample query keeps ERROR and INFO lines and flags errors."""
        query = (
            'FIELDS @message\n    | PARSE @message "* [*] *" as loggingTime, loggingType, '
            "loggingMessage\n"
            '    | FILTER loggingType IN ["ERROR", "INFO"]\n'
            '    | DISPLAY loggingMessage, loggingType = "ERROR" as isError'
        )
        records = [
            rec(1, "10:00 [ERROR] boom"),
            rec(2, "10:01 [INFO] fine"),
            rec(3, "10:02 [DEBUG] x"),
        ]
        assert run(query, records) == [
            {"loggingMessage": "fine", "isError": 0},
            {"loggingMessage": "boom", "isError": 1},
        ]

    def test_unmatched_lines_pass_through(self) -> None:
        """parse does not filter: a line that does not match keeps going without the fields."""
        rows = run('parse @message "[*]" as lvl | display @message, lvl', [rec(1, "plain")])
        assert rows == [{"@message": "plain", "lvl": None}]


class TestSampleQueries:
    def test_lambda_memory(self) -> None:
        """Aggregates divide, and later stats expressions use earlier aliases."""
        query = (
            'filter @type = "REPORT"\n    | '
            "stats max(@memorySize / 1000 / 1000) as provisonedMemoryMB,\n"
            "        min(@maxMemoryUsed / 1000 / 1000) as smallestMemoryRequestMB,\n"
            "        avg(@maxMemoryUsed / 1000 / 1000) as avgMemoryUsedMB,\n"
            "        max(@maxMemoryUsed / 1000 / 1000) as maxMemoryUsedMB,\n"
            "        provisonedMemoryMB - maxMemoryUsedMB as overProvisionedMB"
        )
        records = [
            rec(1, **{"@type": "REPORT", "@memorySize": 128e6, "@maxMemoryUsed": 60e6}),
            rec(2, **{"@type": "REPORT", "@memorySize": 128e6, "@maxMemoryUsed": 80e6}),
            rec(3, **{"@type": "START"}),
        ]
        assert run(query, records) == [
            {
                "provisonedMemoryMB": 128.0,
                "smallestMemoryRequestMB": 60.0,
                "avgMemoryUsedMB": 70.0,
                "maxMemoryUsedMB": 80.0,
                "overProvisionedMB": 48.0,
            }
        ]

    def test_latency_report(self) -> None:
        """`stats avg(@duration), max(@duration), min(@duration) by bin(5m)` per 5 minutes."""
        records = [
            rec(0, **{"@type": "REPORT", "@duration": 10}),
            rec(400, **{"@type": "REPORT", "@duration": 30}),
        ]
        rows = run(
            'filter @type = "REPORT" |\n    stats avg(@duration), max(@duration), '
            "min(@duration) by bin(5m)",
            records,
        )
        assert rows == [
            {
                "bin(5m)": "2023-11-14 22:10:00.000",
                "avg(@duration)": 10.0,
                "max(@duration)": 10,
                "min(@duration)": 10,
            },
            {
                "bin(5m)": "2023-11-14 22:20:00.000",
                "avg(@duration)": 30.0,
                "max(@duration)": 30,
                "min(@duration)": 30,
            },
        ]

    def test_vpc_top_transfers(self) -> None:
        """Packets summed per address pair, top first, limited."""
        records = [
            rec(i, srcAddr=f"10.0.0.{i % 3}", dstAddr="10.0.1.1", packets=i) for i in range(10)
        ]
        rows = run(
            "stats sum(packets) as packetsTransferred by srcAddr, dstAddr\n    | "
            "sort packetsTransferred  desc\n    | limit 2",
            records,
        )
        assert rows == [
            {"srcAddr": "10.0.0.0", "dstAddr": "10.0.1.1", "packetsTransferred": 18},
            {"srcAddr": "10.0.0.2", "dstAddr": "10.0.1.1", "packetsTransferred": 15},
        ]

    def test_subnet_filter(self) -> None:
        """`isIpv4InSubnet(srcAddr, "192.0.2.0/24")` keeps only that subnet."""
        records = [
            rec(1, srcAddr="192.0.2.7", dstAddr="a", bytes=5),
            rec(2, srcAddr="198.51.100.1", dstAddr="b", bytes=7),
        ]
        query = (
            'filter isIpv4InSubnet(srcAddr, "192.0.2.0/24")\n    | '
            "stats sum(bytes) as bytesTransferred by dstAddr"
        )
        assert run(query, records) == [{"dstAddr": "a", "bytesTransferred": 5}]

    def test_bin_alias_sort(self) -> None:
        """`stats count(*) by bin(1h) as t | sort t` names the bin column t."""
        records = [
            rec(0, logStatus="SKIPDATA"),
            rec(7200, logStatus="SKIPDATA"),
            rec(1, logStatus="OK"),
        ]
        rows = run(
            'filter logStatus="SKIPDATA"\n    | stats count(*) by bin(1h) as t\n    | sort t',
            records,
        )
        assert rows == [
            {"t": "2023-11-14 22:00:00.000", "count(*)": 1},
            {"t": "2023-11-15 00:00:00.000", "count(*)": 1},
        ]

    def test_nested_json_fields(self) -> None:
        """Dotted names read nested JSON, as Insights flattens CloudTrail events."""
        event = rec(
            1,
            eventName="CreateUser",
            awsRegion="eu-west-1",
            requestParameters={"userName": "bob"},
            responseElements={"user": {"arn": "arn:x"}},
        )
        query = (
            'filter eventName="CreateUser"\n    | fields awsRegion, '
            "requestParameters.userName, responseElements.user.arn"
        )
        assert run(query, [event]) == [
            {
                "awsRegion": "eu-west-1",
                "requestParameters.userName": "bob",
                "responseElements.user.arn": "arn:x",
            }
        ]

    def test_ispresent_and_group_by_two(self) -> None:
        """`filter ... and ispresent(errorCode) | stats count(*) by errorCode, errorMessage`."""
        records = [
            rec(1, eventName="UpdateTrail", errorCode="Denied", errorMessage="no"),
            rec(2, eventName="UpdateTrail"),
            rec(3, eventName="UpdateTrail", errorCode="Denied", errorMessage="no"),
        ]
        query = (
            'filter eventName="UpdateTrail" and ispresent(errorCode)\n    | '
            "stats count(*) by errorCode, errorMessage"
        )
        assert run(query, records) == [{"errorCode": "Denied", "errorMessage": "no", "count(*)": 2}]

    def test_count_distinct(self) -> None:
        """`count_distinct(remoteIP)` counts unique visitors."""
        records = [rec(i, remoteIP=f"1.1.1.{i % 3}", status="200", method="GET") for i in range(9)]
        query = (
            'filter status="200" and method= "GET" | '
            "stats count_distinct(remoteIP) as UniqueVisits | limit 10"
        )
        assert run(query, records) == [{"UniqueVisits": 3}]

    def test_like_string_with_quotes(self) -> None:
        """`dstAddr like 'x.x.x.x'` is a substring match with single quotes."""
        records = [
            rec(1, dstAddr="10.1.2.3", srcAddr="10.9.0.1", bytes=5),
            rec(2, dstAddr="8.8.8.8", srcAddr="10.9.0.1", bytes=1),
        ]
        query = (
            "filter (dstAddr like '10.1.2.3' and srcAddr like '10.9.') | "
            "stats sum(bytes) as b by srcAddr"
        )
        assert run(query, records) == [{"srcAddr": "10.9.0.1", "b": 5}]

    def test_unquoted_url_is_rejected(self) -> None:
        """The Apache sample's unquoted `referrer= http://...` is not valid syntax."""
        with pytest.raises(QueryError):
            parse(
                'fields @timestamp | filter status="200" and '
                'referrer= http://34.250.27.141/ and method= "GET"'
            )


class TestRegexAndMatching:
    @pytest.mark.parametrize("op", ['like "Exception"', "like /Exception/", "=~ /Exception/"])
    def test_three_ways_to_match(self, op: str) -> None:
        """like with a string, like with a regex and =~ all match substrings, case-sensitive."""
        records = [rec(1, f1="IOException"), rec(2, f1="exception")]
        assert run(f"fields f1, f2, f3 | filter f1 {op}", records) == [
            {"f1": "IOException", "f2": None, "f3": None}
        ]

    def test_case_insensitive(self) -> None:
        """`/(?i)Exception/` matches both cases."""
        records = [rec(1, f1="IOException"), rec(2, f1="exception")]
        assert len(run("fields f1 | filter f1 like /(?i)Exception/", records)) == 2

    def test_wildcard_regex(self) -> None:
        """`f3 like /E*/` is a regex (matches everything: E zero or more times)."""
        assert len(run("fields f3 | filter f3 like /E*/", [rec(1, f3="x"), rec(2, f3="Eve")])) == 2


class TestFunctions:
    @pytest.mark.parametrize(
        ("expression", "expected"),
        [
            ('ltrim("xyZxyfooxyZ","xyZ")', "fooxyZ"),
            ('rtrim("xyZfooxyxyZ","xyZ")', "xyZfoo"),
            ('trim("xyZxyfooxyxyZ","xyZ")', "foo"),
            ('substr("xyZfooxyZ",3, 3)', "foo"),
            ('replace(logGroup,"smoke_test","Smoke")', "my-Smoke"),
            ("2 ^ 3", 8),
            ("10 % 3", 1),
            ('strlen("héllo")', 5),
            ('toupper("a")', "A"),
            ('strcontains("abc", "b")', 1),
            ("greatest(1, 5, 3)", 5),
            ("least(4, 2)", 2),
            ("ceil(1.2)", 2),
            ("floor(1.8)", 1),
            ("sqrt(16)", 4.0),
            ("isempty(nope)", 1),
            ('isblank("  ")', 1),
            ("coalesce(nope, logGroup)", "my-smoke_test"),
            ("toMillis(@timestamp)", T0),
            ("datefloor(@timestamp, 1h)", "2023-11-14 22:00:00.000"),
            ("dateceil(@timestamp, 1h)", "2023-11-14 23:00:00.000"),
            ("fromMillis(0)", "1970-01-01 00:00:00.000"),
            ('isValidIpV6("2001:db8::1")', 1),
            ('isIpInSubnet("2001:db8::1", "2001:db8::/32")', 1),
            ("1 / 0", None),
            ("log(-1)", None),
        ],
    )
    def test_documented_functions(self, expression: str, expected: Any) -> None:
        """Each function gives the documented result (errors give null, never an exception)."""
        rows = run(f"fields {expression} as v", [rec(0, logGroup="my-smoke_test")])
        assert rows == [{"v": expected}]

    def test_huge_power_is_a_float(self) -> None:
        """`10 ^ 999999999` overflows to null instead of building a gigantic integer."""
        assert run("fields 10 ^ 999999999 as v", [rec(0)]) == [{"v": None}]

    @pytest.mark.parametrize(
        ("period", "expected"),
        [
            ("5m", "2023-11-14 22:10:00.000"),
            ("2hrs", "2023-11-14 22:00:00.000"),
            ("1minute", "2023-11-14 22:13:00.000"),
            ("30sec", "2023-11-14 22:13:00.000"),
            ("1mo", "2023-11-01 00:00:00.000"),
            ("1q", "2023-10-01 00:00:00.000"),
            ("1y", "2023-01-01 00:00:00.000"),
        ],
    )
    def test_bin_units(self, period: str, expected: str) -> None:
        """bin() takes the `stats` page's units, calendar ones included."""
        assert run(f"stats count(*) as n by bin({period}) as t", [rec(0)]) == [
            {"t": expected, "n": 1}
        ]

    def test_bad_period(self) -> None:
        """An unknown unit or a fractional month is an error at the period."""
        for query in ("stats count(*) by bin(5x)", "stats count(*) by bin(1.5mo)"):
            with pytest.raises(QueryError) as info:
                parse(query)
            assert info.value.pos == 22

    def test_if_is_not_insights_syntax(self) -> None:
        """Logs Insights QL has no if(): the engine rejects it instead of inventing it."""
        with pytest.raises(QueryError, match="unknown function"):
            parse("fields if(status >= 500, 1, 0) as e")


class TestStats:
    def test_error_rate_from_comparison(self) -> None:
        """`avg(status >= 500) * 100` is the 5xx percentage; lines without status are skipped."""
        records = [
            rec(1, status=200),
            rec(2, status=500),
            rec(3, status=503),
            rec(4, status=201),
            rec(5, event="x"),
        ]
        assert run("stats avg(status >= 500) * 100 as rate", records) == [{"rate": 50.0}]

    def test_count_field_counts_present(self) -> None:
        """`count(x)` counts records carrying x; `count(*)` counts all."""
        records = [rec(1, x=1), rec(2), rec(3, x=0)]
        assert run("stats count(*) as all, count(x) as with_x", records) == [
            {"all": 3, "with_x": 2}
        ]

    def test_pct_is_the_shared_percentile(self) -> None:
        """pct(x, 95) is the value at floor(0.95 * (n - 1)): 95 of 1..100, 9 of 1..10."""
        records = [rec(i, x=i) for i in range(1, 101)]
        assert run("stats pct(x, 95) as p95, pct(x, 50) as p50", records) == [
            {"p95": 95, "p50": 50}
        ]
        ten = [rec(i, x=i) for i in range(1, 11)]
        assert run("stats pct(x, 95) as p95, pct(x, 50) as p50", ten) == [{"p95": 9, "p50": 5}]

    def test_earliest_latest(self) -> None:
        """earliest/latest take the value of the oldest and newest event."""
        records = [rec(5, v="mid"), rec(1, v="old"), rec(9, v="new")]
        assert run("stats earliest(v) as e, latest(v) as l", records) == [{"e": "old", "l": "new"}]

    def test_stddev_and_sum(self) -> None:
        """stddev is the sample standard deviation; sum keeps integers whole."""
        records = [rec(i, x=v) for i, v in enumerate([2, 4, 4, 4, 5, 5, 7, 9])]
        (row,) = run("stats stddev(x) as s, sum(x) as total", records)
        assert math.isclose(row["s"], 2.138089935299395) and row["total"] == 40

    def test_no_records_no_rows(self) -> None:
        """Stats over nothing returns no rows."""
        assert run("stats count(*)", []) == []

    def test_aggregate_outside_stats_rejected(self) -> None:
        """An aggregate in filter is an error pointing at it."""
        with pytest.raises(QueryError) as info:
            parse("filter avg(x) > 1")
        assert info.value.pos == 7

    def test_stats_without_aggregate_rejected(self) -> None:
        """stats needs an aggregate."""
        with pytest.raises(QueryError, match="aggregate"):
            parse("stats x by y")


class TestOrderAndLimits:
    def test_default_newest_first(self) -> None:
        """Without sort, rows come newest first."""
        rows = run("fields @message", [rec(1, "a"), rec(3, "c"), rec(2, "b")])
        assert [r["@message"] for r in rows] == ["c", "b", "a"]

    def test_default_limit(self) -> None:
        """Without limit at most DEFAULT_LIMIT (10,000) rows come back."""
        assert (
            len(run("fields x", [rec(i, x=i) for i in range(DEFAULT_LIMIT + 5)])) == DEFAULT_LIMIT
        )

    def test_limit_above_maximum_rejected(self) -> None:
        """limit accepts 1..100000 only."""
        parse("limit 100000")
        with pytest.raises(QueryError):
            parse("limit 100001")

    def test_limit_above_default(self) -> None:
        """An explicit limit above 10,000 returns that many rows."""
        records = [rec(i, x=i) for i in range(DEFAULT_LIMIT + 5)]
        assert len(run("fields x | limit 10003", records)) == DEFAULT_LIMIT + 3

    def test_limit_any(self) -> None:
        """`limit any 1` takes the first match found, without the newest-first sort."""
        assert run("fields @message | limit any 1", [rec(1, "a"), rec(2, "b")]) == [
            {"@message": "a"}
        ]

    def test_numbers_after_text(self) -> None:
        """Numbers, and strings holding only a number, sort after text in ascending order."""
        records = [rec(1, v=10), rec(2, v="b"), rec(3, v="9"), rec(4, v="a1")]
        assert [r["v"] for r in run("fields v | sort v", records)] == ["a1", "b", "9", 10]

    def test_missing_values_sort_last(self) -> None:
        """Events without the sort field come last in either direction."""
        records = [rec(1, "none"), rec(2, "one", x=1), rec(3, "two", x=2)]
        assert [r["@message"] for r in run("fields @message | sort x asc", records)] == [
            "one",
            "two",
            "none",
        ]
        assert [r["@message"] for r in run("fields @message | sort x desc", records)] == [
            "two",
            "one",
            "none",
        ]

    def test_natural_sort_order(self) -> None:
        """Ascending sort matches the `sort` page example: text, natural chunks, then numbers."""
        documented = [
            "!:",
            "#",
            "*%04",
            "0#",
            "5A",
            "111A",
            "2345_",
            "@",
            "@_",
            "A",
            "A9876fghj",
            "a12345hfh",
            "0",
        ]
        shuffled = documented[3:] + documented[:3]
        records = [rec(i, v=v) for i, v in enumerate(shuffled)]
        assert [r["v"] for r in run("fields v | sort v asc", records)] == documented
        assert [r["v"] for r in run("fields v | sort v desc", records)] == documented[::-1]

    def test_multi_key_sort(self) -> None:
        """`sort a asc, b desc` orders by a, then b descending."""
        records = [rec(1, a=1, b=1), rec(2, a=0, b=5), rec(3, a=1, b=3)]
        assert [(r["a"], r["b"]) for r in run("fields a, b | sort a asc, b desc", records)] == [
            (0, 5),
            (1, 3),
            (1, 1),
        ]

    def test_comments_ignored(self) -> None:
        """Lines starting with # are ignored."""
        query = "fields @timestamp, @message\n    # | filter @message like /delay/\n    | limit 20"
        assert len(run(query, [rec(1, "a"), rec(2, "delay")])) == 2


class TestDedup:
    def test_keeps_newest_per_server(self) -> None:
        """The documented dedup example keeps the newest event per server."""
        records = [
            rec(1, server="a", severity="x", message="old"),
            rec(5, server="a", severity="y", message="new"),
            rec(3, server="b", severity="z", message="only"),
        ]
        query = "fields @timestamp, server, severity, message | sort @timestamp desc | dedup server"
        assert [r["message"] for r in run(query, records)] == ["new", "only"]

    def test_nulls_are_never_duplicates(self) -> None:
        """Events with a null dedup field are all kept."""
        records = [rec(1, "a"), rec(2, "b"), rec(3, "c", server="s"), rec(4, "d", server="s")]
        assert [r["@message"] for r in run("dedup server", records)] == ["d", "b", "a"]

    def test_only_limit_may_follow(self) -> None:
        """Any command other than limit after dedup is rejected."""
        parse("dedup server | limit 3")
        with pytest.raises(QueryError, match="dedup"):
            parse("dedup server | sort x")


class TestFieldsNeeded:
    def test_default_columns(self) -> None:
        """A bare filter needs its fields plus @timestamp and @message."""
        assert parse("filter status >= 500").fields_needed() == {"status", "@timestamp", "@message"}

    def test_ephemeral_fields_not_needed(self) -> None:
        """Fields made by parse or `as` are not read from the records."""
        query = (
            'parse @message "[*] *" as lvl, rest | fields strlen(rest) as n | '
            'filter lvl = "E" and n > 1'
        )
        assert parse(query).fields_needed() == {"@message", "@timestamp"}

    def test_stats_reads_only_inputs(self) -> None:
        """Stats needs what its aggregates and groups read."""
        query = (
            "stats avg(duration) as duration, count(*) as n by path | sort n desc | display path, n"
        )
        assert parse(query).fields_needed() == {"duration", "path", "@timestamp"}


class TestErrors:
    @pytest.mark.parametrize(
        ("query", "pos"),
        [
            ("", 0),
            ("fields", 6),
            ("filter x = ", 11),
            ("fields a | bogus b", 11),
            ("filter x like /abc", 14),
            ("filter x = 'abc", 11),
            ('parse @message "* *" as one', 0),
            ("fields a b", 9),
            ("stats count(*) by", 17),
            ("fields bin(x)", 7),
        ],
    )
    def test_position(self, query: str, pos: int) -> None:
        """Invalid queries raise QueryError carrying the position of the problem."""
        with pytest.raises(QueryError) as info:
            parse(query)
        assert info.value.pos == pos, str(info.value)

    def test_aws_only_command_named(self) -> None:
        """Insights commands that need AWS (pattern, unmask...) are named in the error."""
        with pytest.raises(QueryError, match="pattern is an Insights command"):
            parse("fields @message | pattern @message")

    def test_query_error_is_value_error(self) -> None:
        """Callers can catch ValueError."""
        assert issubclass(QueryError, ValueError)


def as_number(v: Any) -> float | None:
    """Loose typing: booleans, finite numbers and numeric strings compare as numbers."""
    if isinstance(v, bool | int):
        return float(v)
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            n = float(v)
        except ValueError:
            return None
        return n if math.isfinite(n) else None
    return None


_VALUES = st.one_of(
    st.none(),
    st.integers(-5, 600),
    st.floats(),
    st.text(max_size=8),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)
_RECORDS = st.lists(
    st.fixed_dictionaries(
        {"@timestamp": st.integers(0, 10**13), "@message": st.text(max_size=20)},
        optional={"status": _VALUES, "path": _VALUES, "duration": _VALUES},
    ),
    max_size=15,
)


class TestFuzz:
    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=80))
    def test_arbitrary_text(self, text: str) -> None:
        """Any text parses or raises QueryError, nothing else."""
        with contextlib.suppress(QueryError):
            parse(text)

    @settings(max_examples=300, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    "fields",
                    "filter",
                    "stats",
                    "sort",
                    "limit",
                    "dedup",
                    "parse",
                    "display",
                    "|",
                    "status",
                    "path",
                    "duration",
                    "@message",
                    ">=",
                    "=",
                    "!=",
                    "and",
                    "or",
                    "not",
                    "like",
                    "in",
                    "[",
                    "]",
                    "(",
                    ")",
                    ",",
                    "as",
                    "by",
                    "desc",
                    "500",
                    "2",
                    "'x'",
                    "/a(?<g>b)/",
                    "count(*)",
                    "avg(",
                    "pct(",
                    "bin(5m)",
                    "strlen(",
                    "*",
                    "+",
                    "-",
                    "/",
                    "^",
                    "%",
                    "`p`",
                    "#",
                ]
            ),
            max_size=14,
        ),
        _RECORDS,
    )
    def test_fragments_never_crash(self, parts: list[str], records: list[dict[str, Any]]) -> None:
        """Near-valid queries raise only QueryError, and valid ones run on odd data."""
        try:
            query = parse(" ".join(parts))
        except QueryError:
            return
        assert isinstance(query, Query)
        query.run(records)

    @settings(max_examples=100, deadline=None)
    @given(_RECORDS, st.integers(0, 600))
    def test_filter_count_matches_python(self, records: list[dict[str, Any]], k: int) -> None:
        """`filter status > k | stats count(*)` equals a Python count over numeric statuses."""
        expected = sum(
            1 for r in records if (n := as_number(r.get("status"))) is not None and n > k
        )
        rows = run(f"filter status > {k} | stats count(*) as n", records)
        assert (rows[0]["n"] if rows else 0) == expected

    @settings(max_examples=100, deadline=None)
    @given(_RECORDS)
    def test_default_order_is_newest_first(self, records: list[dict[str, Any]]) -> None:
        """Rows of a plain query come in non-increasing @timestamp order."""
        rows = run("fields @timestamp", records)
        stamps = [r["@timestamp"] for r in rows]
        assert stamps == sorted(stamps, reverse=True)
