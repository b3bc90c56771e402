"""CloudWatch Logs as a :class:`~bellwatch.sources.base.Source` for every CLI command.

- ``records`` pages through ``filter_log_events`` (the filter pattern runs server-side).
- ``follow`` polls ``filter_log_events`` from a little before the newest event seen,
  and remembers the event ids of that overlap: nothing is yielded twice, and an
  event that reaches CloudWatch a few seconds late is still yielded (no gap).
- ``latest`` (``tail``) reads newest first: windows going back from the end, each
  four times wider, until enough records are found.
- ``run_insights`` runs a Logs Insights query (``start_query``) and polls
  ``get_query_results`` with a growing delay until it completes, reporting progress,
  then pages through the results (10,000 a page) up to the API's 100,000 rows; a
  capped answer is said in the end-of-command note. CloudWatch stops a query after
  60 minutes, so that is how long it is waited for.
- A page token CloudWatch repeats is not the end of the results: reading resumes from
  the last event's timestamp (the events already yielded there are skipped).

Throttling and transient failures are retried with exponential backoff and jitter;
when retries run out, or for errors the user must fix, :class:`SourceError` carries
one clear sentence.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from bellwatch.aws import session
from bellwatch.sources._cloudwatch_calls import explain, with_retries
from bellwatch.sources._cloudwatch_values import insights_value, with_requested_fields
from bellwatch.sources.base import (
    LOG,
    LOG_STREAM,
    MESSAGE,
    TIMESTAMP,
    Record,
    ScanStats,
    SourceError,
    TextRecord,
)
from bellwatch.sources.reader import parse

__all__ = [
    "DEFAULT_INSIGHTS_WINDOW_MS",
    "INSIGHTS_PAGE_ROWS",
    "INSIGHTS_ROW_LIMIT",
    "QUERY_TIMEOUT",
    "CloudWatchSource",
    "Progress",
]

Progress = Callable[[str, Mapping[str, float]], None]
"""Called after each ``get_query_results`` poll with the status and its statistics."""

# Logs Insights needs a start time; without --since, look back this far.
DEFAULT_INSIGHTS_WINDOW_MS = 3_600_000
# StartQuery's limit goes up to 100,000 rows, fetched 10,000 per GetQueryResults page;
# queries time out after 60 minutes (StartQuery / GetQueryResults API reference).
INSIGHTS_ROW_LIMIT = 100_000
INSIGHTS_PAGE_ROWS = 10_000
QUERY_TIMEOUT = 3600.0
_FIRST_WINDOW_MS = 60_000  # latest(): the first window back from the end
_PAST_LIMIT_MS = 14 * 86_400_000  # PutLogEvents refuses events older than 14 days

_DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout"})


class CloudWatchSource:
    """Read one log group; ``sleep``/``clock`` are injectable so tests never wait."""

    def __init__(
        self,
        log_group: str,
        *,
        region: str | None = None,
        profile: str | None = None,
        progress: Progress | None = None,
        retries: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 20.0,
        lookback_ms: int = 10_000,
        query_timeout: float = QUERY_TIMEOUT,
        page_size: int | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        client: Any = None,
    ) -> None:
        self.log_group = log_group
        self.region = region
        self.profile = profile
        self.progress = progress
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.lookback_ms = lookback_ms
        self.query_timeout = query_timeout
        self.page_size = page_size
        self.stats = ScanStats()
        self._sleep = sleep
        self._clock = clock
        self._client = client

    def describe(self) -> str:
        """The log group name."""
        return self.log_group

    @property
    def client(self) -> Any:
        """The boto3 ``logs`` client, created on first use."""
        if self._client is None:
            try:
                # botocore retries nothing: this class owns the backoff and the final message.
                self._client = session.client(
                    "logs", region=self.region, profile=self.profile, max_attempts=1
                )
            except Exception as exc:
                raise self._error(exc, "connect") from None
        return self._client

    # -- calls, retries, errors -------------------------------------------------------

    def _error(self, exc: BaseException, op: str) -> SourceError:
        return explain(exc, op, self.log_group, self.region)

    def _call(self, op: str, **kwargs: Any) -> Any:
        """``client.<op>(**kwargs)``, retried with backoff on throttling and transient errors."""
        return with_retries(
            lambda: getattr(self.client, op)(**kwargs),
            op,
            self._error,
            retries=self.retries,
            backoff=self.backoff,
            max_backoff=self.max_backoff,
            sleep=self._sleep,
        )

    # -- records ------------------------------------------------------------------------

    def _record(self, event: Mapping[str, Any]) -> Record | None:
        """One CloudWatch event as a record, by the rules of :mod:`bellwatch.sources.reader`."""
        message = str(event.get("message", ""))
        self.stats.bytes_read += len(message)
        record: Record | None = parse(message.encode("utf-8", "surrogatepass"))
        if record is None:
            if not message.strip(" \t\r\n"):
                return None  # a blank event is no event, as in a file
            record = TextRecord()
            self.stats.text_lines += 1
        else:
            self.stats.records += 1
        # CloudWatch's own event time is what Insights calls @timestamp, for text events too.
        record[TIMESTAMP] = int(event["timestamp"])
        record[MESSAGE] = message.rstrip("\r\n")
        record[LOG_STREAM] = event.get("logStreamName", "")
        record[LOG] = self.log_group
        return record

    def _events(
        self, since_ms: int | None, until_ms: int | None, pattern: str | None
    ) -> Iterator[Mapping[str, Any]]:
        kwargs: dict[str, Any] = {"logGroupName": self.log_group}
        if since_ms is not None:
            kwargs["startTime"] = max(0, since_ms)
        if until_ms is not None:
            kwargs["endTime"] = max(0, until_ms - 1)  # endTime is inclusive, until is not
        if pattern:
            kwargs["filterPattern"] = pattern
        if self.page_size:
            kwargs["limit"] = self.page_size
        last_ts: int | None = None
        at_last: set[str] = set()  # ids yielded at last_ts, skipped when resuming there
        stalled = 0
        while True:
            page = self._call("filter_log_events", **kwargs)
            progressed = False
            for event in page.get("events", []):
                ts, event_id = int(event["timestamp"]), str(event.get("eventId", ""))
                if ts == last_ts and event_id in at_last:
                    continue
                if ts != last_ts:
                    last_ts, at_last = ts, set()
                at_last.add(event_id)
                progressed = True
                yield event
            if progressed:
                stalled = 0
            token = page.get("nextToken")
            if not token:
                return
            if token != kwargs.get("nextToken"):
                kwargs["nextToken"] = token
                continue
            stalled += not progressed
            if not self._resume(kwargs, last_ts, stalled):
                return

    def _resume(self, kwargs: dict[str, Any], last_ts: int | None, stalled: int) -> bool:
        """After a repeated token: read again from the last timestamp seen, without it.

        False (and a notice) once it came back ``retries`` times with nothing new.
        """
        if stalled > self.retries:
            self.stats.warnings.append(
                f"CloudWatch Logs kept returning the same page token for {self.log_group}"
                + (f" after {last_ts}" if last_ts is not None else "")
                + ": later events may be missing; run the command again"
            )
            return False
        kwargs.pop("nextToken")
        if last_ts is not None:
            kwargs["startTime"] = last_ts
        self._sleep(min(self.backoff * 2**stalled, self.max_backoff))
        return True

    def latest(
        self,
        count: int,
        keep: Callable[[Record], bool] = lambda _r: True,
        since_ms: int | None = None,
        until_ms: int | None = None,
        *,
        pattern: str | None = None,
    ) -> list[Record]:
        """The last ``count`` records that pass ``keep``, oldest first (``tail``).

        Reads newest first: a minute back from the end (``until_ms`` or now), then
        windows four times wider, until ``count`` records are found or ``since_ms``
        (else the log group's creation) is reached. A busy group answers from its last
        minutes without paging through the hours before.
        """
        found: list[Record] = []
        if count <= 0:
            return found
        high = until_ms if until_ms is not None else int(self._clock() * 1000) + 1
        low = since_ms if since_ms is not None else self._created_ms()
        width = _FIRST_WINDOW_MS
        while high > low and len(found) < count:
            start = max(low, high - width)
            window = [r for r in self.records(start, high, pattern=pattern) if keep(r)]
            found[:0] = window
            high, width = start, width * 4
        return found[-count:]

    def _created_ms(self) -> int:
        """The oldest an event of the group can be: 14 days before the group was created.

        PutLogEvents takes events up to 14 days in the past, whenever the group was made.
        """
        reply = self._call("describe_log_groups", logGroupNamePrefix=self.log_group, limit=50)
        for group in reply.get("logGroups", []):
            if group["logGroupName"] == self.log_group:
                return int(group.get("creationTime", 0)) - _PAST_LIMIT_MS
        raise SourceError(f"CloudWatch log group {self.log_group} not found")

    def records(
        self,
        since_ms: int | None = None,
        until_ms: int | None = None,
        *,
        pattern: str | None = None,
    ) -> Iterator[Record]:
        """Every event of the log group in the window, in time order."""
        self.stats.files = max(self.stats.files, 1)
        for event in self._events(since_ms, until_ms, pattern):
            record = self._record(event)
            if record is not None:
                yield record

    def follow(
        self,
        since_ms: int | None = None,
        *,
        pattern: str | None = None,
        poll_interval: float = 1.0,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Record]:
        """New events as they arrive, each exactly once, until ``stop()`` is true.

        Starts at ``since_ms``, or at the current time when it is None (what came before
        is history, shown by :meth:`records`). Each poll re-reads ``lookback_ms`` before
        the newest event seen, because CloudWatch can receive an event seconds after a
        newer one from another stream; the ids seen in that window are skipped.
        """
        floor = since_ms if since_ms is not None else int(self._clock() * 1000)
        newest = floor
        # FilterLogEvents has a small per-account rate quota: poll at most once a second.
        interval = max(poll_interval, 1.0)
        seen: dict[str, int] = {}  # event id -> timestamp, for the overlap window only
        while True:
            start = max(floor, newest - self.lookback_ms)
            for event in self._events(start, None, pattern):
                event_id = str(event.get("eventId") or (event["timestamp"], event.get("message")))
                ts = int(event["timestamp"])
                if event_id in seen:
                    continue
                seen[event_id] = ts
                newest = max(newest, ts)
                record = self._record(event)
                if record is not None:
                    yield record
            horizon = newest - self.lookback_ms
            seen = {k: v for k, v in seen.items() if v >= horizon}
            if stop is not None and stop():
                return
            self._sleep(interval)
            if stop is not None and stop():
                return

    # -- Logs Insights ------------------------------------------------------------------

    def run_insights(
        self, query_text: str, since_ms: int | None, until_ms: int | None
    ) -> list[dict[str, Any]]:
        """Run ``query_text`` in CloudWatch; rows as dicts (``@ptr`` dropped).

        Without ``since_ms`` the last hour is queried (Insights needs a start time).

        Raises:
            SourceError: the query failed, was cancelled, timed out, or AWS refused it.
        """
        now_ms = int(self._clock() * 1000)
        end_ms = until_ms if until_ms is not None else now_ms
        start_ms = since_ms if since_ms is not None else end_ms - DEFAULT_INSIGHTS_WINDOW_MS
        query_id = self._call(
            "start_query",
            logGroupName=self.log_group,
            startTime=start_ms // 1000,
            endTime=max(start_ms // 1000, math.ceil(end_ms / 1000)),
            queryString=query_text,
            # Without a limit CloudWatch stops at 1,000 rows; the local engine has no cap.
            limit=INSIGHTS_ROW_LIMIT,
        )["queryId"]
        reply = self._wait(query_id, query_text)
        statistics = reply.get("statistics", {})
        self.stats.bytes_read += int(statistics.get("bytesScanned", 0))
        self.stats.records += int(statistics.get("recordsScanned", 0))
        rows = list(reply.get("results", []))
        token = reply.get("nextToken")
        while token:
            page = self._call("get_query_results", queryId=query_id, nextToken=token,
                              maxItems=INSIGHTS_PAGE_ROWS)  # fmt: skip
            rows += page.get("results", [])
            token = None if page.get("nextToken") == token else page.get("nextToken")
        if len(rows) >= INSIGHTS_ROW_LIMIT:
            self.stats.warnings.append(
                f"Logs Insights returned its first {INSIGHTS_ROW_LIMIT:,} rows, the most its "
                "API gives: narrow --since/--until, or aggregate with stats, for the rest"
            )
        out = [
            {
                f["field"]: insights_value(f["field"], f.get("value", ""))
                for f in row
                if f["field"] != "@ptr"
            }
            for row in rows
        ]
        return with_requested_fields(out, query_text, self.stats.warnings)

    def _wait(self, query_id: str, query_text: str) -> Mapping[str, Any]:
        """Poll until the query ends; its final reply (the first page of results)."""
        waited, delay = 0.0, self.backoff
        while True:
            reply = self._call("get_query_results", queryId=query_id, maxItems=INSIGHTS_PAGE_ROWS)
            status = str(reply.get("status", "Unknown"))
            if self.progress is not None:
                self.progress(status, reply.get("statistics", {}))
            if status in _DONE:
                break
            if waited >= self.query_timeout:
                # Best effort (the query also ends at CloudWatch's own limit): a failure here
                # must not hide the timeout the user needs to hear about.
                with contextlib.suppress(Exception):
                    self._call("stop_query", queryId=query_id)
                raise SourceError(
                    f"Logs Insights query still {status.lower()} after {waited:.0f} s; "
                    "stopped it: narrow --since/--until"
                )
            self._sleep(delay)
            waited += delay
            delay = min(delay * 1.5, 5.0)
        if status == "Timeout":
            raise SourceError(
                "Logs Insights query timed out (CloudWatch stops queries after 60 minutes): "
                "narrow --since/--until"
            )
        if status != "Complete":
            raise SourceError(f"Logs Insights query {status.lower()}: {query_text}")
        final: Mapping[str, Any] = reply
        return final
