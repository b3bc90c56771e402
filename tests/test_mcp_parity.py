"""The same lines, read from files and from a CloudWatch log group, give the same answers.

The log group is moto's (``filter_log_events`` with botocore's validation); moto runs no
Logs Insights, so each query the server sends is answered by the local engine over the
group's own events, as the CloudWatch source's tests do.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from moto import mock_aws

from bellwatch import _settings
from bellwatch.aws import session
from bellwatch.mcp import Context, call
from bellwatch.query import insights
from bellwatch.sources.cloudwatch import CloudWatchSource
from bellwatch.sources.files import FileSource

GROUP = "/ecs/bella-prod"
T0 = (int(time.time()) - 1800) * 1000  # CloudWatch refuses events older than 14 days
SCAN_KEYS = {"bytes_scanned", "log_bytes", "records", "text_lines", "insights_bytes_scanned"}


def lines() -> list[str]:
    """Half an hour of a small service: requests (some slow, some 5xx), errors with their
    every-10th lines, Twilio failures, and a traceback's text lines."""
    out: list[dict[str, Any] | str] = []
    for i in range(240):
        ts = T0 + i * 7000
        path = ("/api/book", "/api/users/{user_id}", "/twilio/voice")[i % 3]
        status = 500 if i % 17 == 0 else 403 if path == "/twilio/voice" and i % 5 == 0 else 200
        duration = 2.5 + i / 1000 if i % 23 == 0 else 0.05 + (i % 7) / 100
        cid = f"{i:012x}"
        line = {"ts": ts, "level": "ERROR" if status >= 500 else "INFO",
                "event": "request_complete", "cid": cid, "method": "POST", "path": path,
                "status": status, "duration": duration}  # fmt: skip
        if path == "/twilio/voice":
            line["sid"] = f"CA{i % 4:032x}"
        out.append(line)
        if status == 500:
            n = i // 17
            head = {"ts": ts, "level": "ERROR", "cid": cid, "hash": "6aca4327",
                    "type": "OperationalError", "msg": "database is locked", "sev": "critical",
                    "path": path}  # fmt: skip
            if n == 0:
                out.append({**head, "event": "error", "n": 1, "exc": "OperationalError @ db:x:1"})
                out.append("Traceback (most recent call last):")
            elif n % 3 == 0:
                out.append({**head, "event": "aggregated_error", "n": 3, "count": n + 1})
        if i % 11 == 0:
            out.append({"ts": ts + 1, "level": "ERROR", "event": "error", "cid": cid, "n": 1,
                        "hash": f"{i % 3:08x}", "type": "ValueError", "sev": "low",
                        "msg": "Invalid phone number format", "path": path})  # fmt: skip
    return [x if isinstance(x, str) else orjson.dumps(x).decode() for x in out]


def answer(parsed: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """A before-call reply that short-circuits the request with ``parsed``."""
    return SimpleNamespace(status_code=200, headers={}), parsed


def insights_here(client: Any) -> None:
    """Answer StartQuery/GetQueryResults with the local engine over the group's events."""
    results: dict[str, list[dict[str, Any]]] = {}
    reader = CloudWatchSource(GROUP, client=client, sleep=lambda _s: None)

    def start(params: dict[str, Any], **_: Any) -> Any:
        params = orjson.loads(params["body"])  # the request botocore validated and built
        since, until = params["startTime"] * 1000, params["endTime"] * 1000 + 1000
        records = list(reader.records(since, until))
        query_id = f"q{len(results)}"
        results[query_id] = insights.parse(params["queryString"]).run(records)
        return answer({"queryId": query_id})

    def fetch(params: dict[str, Any], **_: Any) -> Any:
        rows = results[orjson.loads(params["body"])["queryId"]]
        return answer(
            {
                "status": "Complete",
                "statistics": {"bytesScanned": 1234.0, "recordsScanned": float(len(rows))},
                "results": [
                    [{"field": k, "value": _text(v)} for k, v in row.items() if v is not None]
                    for row in rows
                ],
            }
        )

    client.meta.events.register("before-call.cloudwatch-logs.StartQuery", start)
    client.meta.events.register("before-call.cloudwatch-logs.GetQueryResults", fetch)


def _text(value: Any) -> str:
    """A value as Insights sends it: text, times as ``2026-01-02 03:04:05.678``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@pytest.fixture
def both(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Context, Context]]:
    """A context over a file and one over a moto log group, holding the same lines."""
    text = lines()
    (tmp_path / "app.jsonl").write_text("\n".join(text) + "\n")
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    settings = _settings.resolve()
    with mock_aws():
        client = session.client("logs", region="ca-central-1")
        client.create_log_group(logGroupName=GROUP)
        client.create_log_stream(logGroupName=GROUP, logStreamName="ecs/app/1")
        events = [{"timestamp": _ts(line, T0), "message": line} for line in text]
        client.put_log_events(logGroupName=GROUP, logStreamName="ecs/app/1", logEvents=events)
        insights_here(client)
        files = Context(
            lambda: FileSource([str(tmp_path / "app.jsonl")], cache_dir=str(tmp_path / "c")),
            "http://127.0.0.1:9",
            settings,
        )
        cloud = Context(
            lambda: CloudWatchSource(GROUP, client=client, sleep=lambda _s: None),
            "http://127.0.0.1:9",
            settings,
        )
        yield files, cloud


def _ts(line: str, last: int) -> int:
    """A CloudWatch event's time: the line's own, or (a text line) the one before it."""
    try:
        return int(orjson.loads(line)["ts"])
    except (ValueError, KeyError, TypeError):
        return last


def answers(ctx: Context, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    """The structured answer without what differs by design: how much each side read."""
    reply = call(ctx, tool, {**args, "budget": 8000})
    assert not reply.is_error, reply.text
    return {k: v for k, v in reply.data.items() if k not in SCAN_KEYS}


WINDOW = {"since": str(T0 // 1000), "until": str(T0 // 1000 + 3600)}


class TestParity:
    @pytest.mark.parametrize(
        ("tool", "args"),
        [
            ("slow", {}),
            ("slow", {"threshold": 0.1, "limit": 5}),
            ("endpoints", {}),
            ("trace", {"cid": f"{17:012x}"}),
            ("query", {"text": '{ $.hash = "6aca4327" }', "language": "filter"}),
            ("query", {"text": "ERROR", "language": "filter", "limit": 7}),
            (
                "query",
                {
                    "text": "stats count(*) as n, sum(n) as occ by hash | sort n desc",
                    "language": "insights",
                },
            ),
        ],
    )
    def test_same_answer(
        self, both: tuple[Context, Context], tool: str, args: dict[str, Any]
    ) -> None:
        """Files and log group answer alike (the scan statistics apart)."""
        files, cloud = both
        assert answers(files, tool, {**args, **WINDOW}) == answers(cloud, tool, {**args, **WINDOW})

    def test_errors_alike_but_routes(self, both: tuple[Context, Context]) -> None:
        """The errors are the same rows; Logs Insights cannot list each one's routes, nor
        read the lines before the window, so every count over 1 there is at most (as
        bellwatch errors marks it)."""
        files, cloud = both
        local, remote = (answers(c, "errors", WINDOW) for c in (files, cloud))
        routes = local["columns"].index("routes")
        for row in local["rows"]:
            row[routes] = []
        at_most = remote["columns"].index("at_most")
        assert all(row.pop(at_most) is (row[0] > 1) for row in remote["rows"])
        remote["columns"].pop(at_most)
        remote.pop("at_most")
        assert local == remote

    def test_error_detail_alike_but_at_most(self, both: tuple[Context, Context]) -> None:
        """One pattern's detail is the same; its count over 1 is at most from a log group,
        which cannot read the lines before the window (as in errors)."""
        files, cloud = both
        args = {"hash": "6aca4327", **WINDOW}
        local, remote = (answers(c, "error_detail", args) for c in (files, cloud))
        assert remote["summary"].pop("at_most") is (remote["summary"]["count"] > 1)
        assert local == remote

    def test_digest_headline_alike(self, both: tuple[Context, Context]) -> None:
        """The digest's verdict and numbers are the same from either side."""
        files, cloud = both
        local, remote = (answers(c, "digest", WINDOW) for c in (files, cloud))
        keys = ("verdict", "requests", "rate_5xx", "n_5xx", "n_4xx", "p50_s", "p95_s",
                "from", "to", "error_patterns")  # fmt: skip
        assert {k: local[k] for k in keys} == {k: remote[k] for k in keys}
        assert 'OperationalError: "database is locked"' in remote["digest"]

    def test_cloudwatch_says_what_insights_scanned(self, both: tuple[Context, Context]) -> None:
        """A reply answered by Logs Insights carries CloudWatch's bytesScanned apart."""
        _files, cloud = both
        reply = call(cloud, "endpoints", WINDOW)
        assert reply.data["insights_bytes_scanned"] == 2 * 1234  # latency + error-rate
        assert "Insights bytesScanned" in reply.text


class TestCost:
    def test_a_log_group_is_priced_from_its_last_day(self, both: tuple[Context, Context]) -> None:
        """digest(cost=true) reads a log group's last 24 hours, as bellwatch cost does, not
        the whole group (years, page by page): older events are not in its figures."""
        files, cloud = both
        client = session.client("logs", region="ca-central-1")
        client.create_log_stream(logGroupName=GROUP, logStreamName="ecs/app/old")
        old = T0 - 3 * 86_400_000
        client.put_log_events(
            logGroupName=GROUP,
            logStreamName="ecs/app/old",
            logEvents=[{"timestamp": old + i, "message": '{"event":"x"}'} for i in range(2)],
        )
        local, remote = (call(c, "digest", {"cost": True}).data["cost"] for c in (files, cloud))
        assert remote["events"] == local["events"]
        assert remote["read"] == "the log group's last 24 hours"
