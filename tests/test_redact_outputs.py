"""The same secrets table through every way out: nothing shows anywhere.

The runtime: one instrumented app, real components: log lines to a stream and the local file,
``/metrics`` (JSON, Prometheus, ``?series=1``), ``/dashboard``, alerts to the log, a
webhook on a loopback HTTP server and SNS on moto (read back through a subscribed SQS
queue), and EMF lines. Each case runs inside a request; exception cases are
unhandled, so they become error patterns and HIGH alerts. A custom ``route_of``
returning raw URLs puts the URL cases into metric names, labels and EMF dimensions.

The CLI: logs written by other programs or older versions can hold secrets, so the same
cases are written to a log file as such a writer would (keyed, nested, headers as a map
and as pairs, raw URLs as routes, free text as events and as text lines, exception
messages as error lines), then read through every command, readable and ``--json``,
with a service whose ``/metrics`` and ``/health`` mask nothing.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import bellwatch
from bellwatch._runtime import runtime
from bellwatch.cli import cli
from secrets_table import CASES, KEEP, KEYED, TEXTS, URLS, Case, act

SERVICE = "svc"
# /metrics lists the top 10 error patterns: each batch raises fewer than that.
BATCHES = 3


class _Hook(BaseHTTPRequestHandler):
    bodies: list[bytes]

    def do_POST(self) -> None:
        self.bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[bytes]]]:
    """A webhook receiver on a loopback port: its URL and the bodies it got."""
    bodies: list[bytes] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Hook,), {"bodies": bodies}))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", bodies
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _route_of(scope: dict[str, Any]) -> str:
    # Raw URLs as route names: what a careless route_of would hand the monitor.
    query = scope.get("query_string", b"").decode("latin-1")
    return scope["path"] + ("?" + query if query else "")


def make_app() -> Starlette:
    log = bellwatch.get_logger("app")

    async def case(request: Request) -> PlainTextResponse:
        this = CASES[int(request.path_params["i"])]
        if this.context == "exception":
            raise RuntimeError(this.value)  # unhandled: a 500, a HIGH pattern, an alert
        act(this, log)
        return PlainTextResponse("ok")

    async def keep(request: Request) -> PlainTextResponse:
        log.info("keep", **{k: v for k, v in KEEP if k is not None})
        for k, v in KEEP:
            if k is None:
                log.info(v)
        return PlainTextResponse("ok")

    async def raw(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/case/{i:int}", case),
            Route("/keep", keep),
            Route("/raw/{rest:path}", raw),
        ]
    )
    return bellwatch.instrument(app, route_of=_route_of)


async def _requests(app: Any, paths: list[str]) -> dict[str, str]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        await client.get("/dashboard")  # the page attaches the timeline: charts start now
        for path in paths:
            await client.get(path)
        runtime.flush()
        return {
            "metrics": (await client.get("/metrics")).text,
            "prometheus": (await client.get("/metrics?format=prometheus")).text,
            "dashboard": (await client.get("/dashboard")).text,
            "series": (await client.get("/metrics?series=1")).text,
        }


def _sqs_bodies(sqs: Any, queue: str) -> list[str]:
    bodies = []
    while True:
        got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            return bodies
        for message in got:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])


def _without_ts_and_cid(lines: list[str]) -> str:
    events = [orjson.loads(line) for line in lines if line.startswith("{")]
    return "\n".join(
        orjson.dumps({k: v for k, v in e.items() if k not in ("ts", "cid")}).decode()
        for e in events
    )


def _run_batch(
    batch: list[int],
    tmp_path: Path,
    webhook: tuple[str, list[bytes]],
    sns_inbox: tuple[str, Any, str],
    capsys: pytest.CaptureFixture[str],
) -> dict[str, str]:
    """Every output of one runtime that served the given cases, as text by output name."""
    runtime.reset()
    stream = io.StringIO()
    url, bodies = webhook
    bodies.clear()
    topic, sqs, queue = sns_inbox
    log_dir = tmp_path / f"logs{batch[0]}"
    bellwatch.configure(
        stream=stream,
        service=SERVICE,
        log_file=True,
        log_dir=str(log_dir),
        max_line=100_000,  # masked, not merely cut off
        slow_threshold=0.0,  # every request is slow: its route reaches the dashboard's list
        alert_webhook=url,
        alert_sns_topic=topic,
        emf=True,
    )
    app = make_app()
    paths = [f"/case/{i}" for i in batch]
    paths += ["/raw" + urlsplit(u).path + "?" + urlsplit(u).query for u, _ in URLS]
    paths.append("/keep")
    capsys.readouterr()  # from here on, standard output holds EMF lines only
    outputs = asyncio.run(_requests(app, paths))
    assert runtime.aggregator().alerter.flush(20.0)
    runtime.shutdown(final=False)  # EMF's minute is written to stdout now
    # (and a minute that ended during the batch was written when the next one began)
    outputs["emf"] = capsys.readouterr().out
    runtime.flush()
    outputs["stdout"] = stream.getvalue()
    outputs["file"] = (log_dir / f"{SERVICE}.jsonl").read_text()
    outputs["webhook"] = "\n".join(body.decode() for body in bodies)
    outputs["sns"] = "\n".join(_sqs_bodies(sqs, queue))
    outputs["lines"] = _without_ts_and_cid(
        outputs["stdout"].splitlines() + outputs["file"].splitlines()
    )
    return outputs


def _check(outputs: dict[str, str], cases: list[Case]) -> None:
    for case in cases:
        for hidden in case.hidden:
            if len(hidden) < 8:  # short digits could match a timestamp: lines only, ts cut
                assert hidden not in outputs["lines"], (case.id, "lines")
                continue
            for name, text in outputs.items():
                assert hidden not in text, (case.id, name)


def test_no_secret_reaches_any_runtime_output(
    tmp_path: Path,
    webhook: tuple[str, list[bytes]],
    sns_inbox: tuple[str, Any, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Log lines, /metrics, Prometheus, dashboard, series, alerts and EMF show no secret."""
    for b in range(BATCHES):
        batch = [i for i in range(len(CASES)) if i % BATCHES == b]
        exceptions = [i for i in batch if CASES[i].context == "exception"]
        assert len(exceptions) < 10  # each must fit /metrics' top_errors
        outputs = _run_batch(batch, tmp_path, webhook, sns_inbox, capsys)
        # Each output was really reached, so that "no secret in it" means something.
        metrics = orjson.loads(outputs["metrics"])
        assert len(metrics["errors"]["top_errors"]) == len(exceptions)
        assert "bellwatch_requests_total" in outputs["prometheus"]
        assert "<!doctype html>" in outputs["dashboard"].lower()
        assert orjson.loads(outputs["series"])["series"]["slow_recent"]
        assert outputs["webhook"].count('"alert"') == len(exceptions)
        assert outputs["sns"].count("TopicArn") == len(exceptions)
        assert outputs["emf"].count('"Path"') > len(URLS)
        assert outputs["stdout"].count('"alert_fired"') == len(exceptions)
        _check(outputs, [CASES[i] for i in batch] + [Case("url", "", u, h) for u, h in URLS])
        # And the values the tools need are still there, in the stream and the file.
        for text in (outputs["stdout"], outputs["file"]):
            (kept,) = [orjson.loads(x) for x in text.splitlines() if '"keep"' in x]
            for key, value in KEEP:
                if key is not None:
                    assert kept[key] == value, key


# ---------------------------------------------------------------- the CLI

CID = "c0ffee000001"
T0 = 1795742449915
_FRAMES = "app.case:boom:12 < app.api:case:40"


def _case_lines(i: int, case: Case) -> list[bytes]:
    """The lines another program or an older version could have written for ``case``."""
    ts = T0 + i * 1000
    line: dict[str, Any] = {"ts": ts, "level": "INFO", "event": "case", "cid": CID}
    key, value = case.key, case.value
    out: list[bytes] = []
    if case.context in ("kwargs", "bound"):
        line[key] = value
    elif case.context == "extra":
        line.update({"logger": "app.case", key: value})
    elif case.context == "nested":
        line["data"] = {"outer": {"items": [{key: value}]}}
    elif case.context == "header":
        line["headers"] = {key: value, "accept": "*/*"}
    elif case.context == "pairs":
        line["headers"] = [[key.lower(), value], ["accept", "*/*"]]
    elif case.context == "url":
        line["url"] = value
        raw = urlsplit(value)  # a raw URL where a route template belongs
        out.append(orjson.dumps({**line, "event": "request_complete", "method": "GET",
                                 "path": f"{raw.path}?{raw.query}", "status": 503,
                                 "duration": 3.5}))  # fmt: skip
    elif case.context == "text":
        line["event"] = value
        if "\n" not in value:  # a text line: what a print() or a traceback leaves
            out.append(value.encode())
    elif case.context == "exception":
        line.update({"level": "ERROR", "event": "error", "type": "RuntimeError", "msg": value,
                     "sev": "high", "hash": f"{i:08x}", "n": 1, "exc": _FRAMES,
                     "path": f"/case/{i}"})  # fmt: skip
    else:
        raise AssertionError(case.context)
    return [orjson.dumps(line), *out]


def _secrets_log(path: Path) -> list[tuple[int, int]]:
    """Write every case, the values to keep and a failed Twilio webhook to ``path``; return
    time windows that each hold fewer error patterns than the digest lists."""
    lines: list[bytes] = []
    windows: list[tuple[int, int]] = []
    start, errors = T0, 0
    for i, case in enumerate(CASES):
        lines += _case_lines(i, case)
        if case.context == "exception":
            errors += 1
            if errors == 9:
                windows.append((start, T0 + i * 1000 + 1))
                start, errors = T0 + i * 1000 + 1, 0
    end = T0 + len(CASES) * 1000
    keep = {"ts": end, "level": "INFO", "event": "keep", "cid": CID}
    lines.append(orjson.dumps({**keep, **{k: v for k, v in KEEP if k is not None}}))
    lines += [orjson.dumps({**keep, "event": v}) for k, v in KEEP if k is None]
    twilio = "/twilio/voice?" + urlsplit(URLS[1][0]).query  # a raw URL with a token
    lines.append(orjson.dumps({"ts": end, "level": "ERROR", "event": "request_complete",
                               "cid": CID, "method": "POST", "path": twilio, "status": 500,
                               "duration": 0.2, "sid": "CA" + "0" * 32}))  # fmt: skip
    windows.append((start, end + 1))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return windows


def _reply() -> dict[str, Any]:
    """A /metrics document from a service that masked nothing, secrets deep inside."""
    deep: dict[str, Any] = {}
    for key, value, _ in KEYED:
        deep[key] = value
    return {
        "errors": {"top_errors": [{"msg": t, "endpoints": [u for u, _ in URLS]} for t, _ in TEXTS]},
        "a": {"b": {"c": {"d": {"e": deep}}}},
        "headers": [[k.lower(), v] for k, v, _ in KEYED],
    }


class _Reply(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":  # plain text, one secret a line
            body, kind = "\n".join(t for t, _ in TEXTS if "\n" not in t).encode(), "text/plain"
        else:
            body, kind = orjson.dumps(_reply()), "application/json"
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture
def careless_service() -> Iterator[str]:
    """A service on a loopback port whose /metrics and /health hold unmasked secrets."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Reply)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _cli_runs(log: Path, windows: list[tuple[int, int]], url: str) -> dict[str, list[str]]:
    """Every CLI command (readable and --json) over the log and the careless service."""
    from bellwatch.timeparse import format_ms

    reads = [
        ["tail", "-n", "10000"],
        ["trace", CID],
        ["filter", ""],
        ["insights", "fields @timestamp, @message | limit 10000"],
        ["insights", "stats count(*) as n by event, url, msg, path"],
        ["insights", "fields password, clientSecret, headers.Authorization, data | limit 10000"],
        ["errors", "--limit", "1000"],
        ["slow", "--threshold", "1", "--limit", "1000"],
        ["endpoints", "--limit", "1000"],
        ["twilio", "--limit", "1000"],
        ["cost", "--what-if", "verbose"],
        *(
            ["summary", "--budget", "20000", "--since", format_ms(a), "--until", format_ms(b)]
            for a, b in windows
        ),
        *(
            ["errors", "--explain", f"{i:08x}"]
            for i, case in enumerate(CASES)
            if case.context == "exception"
        ),
    ]
    runs = [[*r, "-l", str(log), "--cache-dir", str(log.parent / "cache")] for r in reads]
    runs += [["metrics", "--url", url], ["health", "--url", url]]
    runner = CliRunner()
    out: dict[str, list[str]] = {}
    for args in runs:
        for extra in ([], ["--json"]):
            result = runner.invoke(cli, [*args, *extra], catch_exceptions=False)
            name = " ".join(a for a in [*args, *extra] if a != str(log) and "cache" not in a)
            assert result.exit_code == 0, (name, result.output)
            assert result.stdout.strip(), name  # each output was really reached
            out[name] = [result.stdout, result.stderr]
    return out


def test_no_secret_reaches_any_cli_output(tmp_path: Path, careless_service: str) -> None:
    """Every CLI command, readable and --json, over logs and a service that masked nothing,
    shows no secret of the table, and keeps the values the tools need."""
    log = tmp_path / "logs" / "old.jsonl"
    log.parent.mkdir()
    windows = _secrets_log(log)
    outputs = _cli_runs(log, windows, careless_service)
    for case in [*CASES, *(Case("url", "", u, h) for u, h in URLS)]:
        for hidden in case.hidden:
            if len(hidden) < 8:  # short digits could match a time or a count
                continue
            for name, texts in outputs.items():
                assert all(hidden not in text for text in texts), (case.id, name)
    # The values the tools need are still there: the keep line, whole, in --json.
    tail = outputs["tail -n 10000 -l --json"][0].splitlines()
    (kept,) = [orjson.loads(x) for x in tail if '"keep"' in x and "request_id" in x]
    for key, value in KEEP:
        if key is not None:
            assert kept[key] == value, key
    assert all(orjson.dumps({"event": v}).decode()[1:-1] in "\n".join(tail)
               for k, v in KEEP if k is None)  # fmt: skip


def test_no_secret_in_any_report(tmp_path: Path) -> None:
    """The report functions themselves (what the MCP server calls) return masked rows,
    facts, digests and explanations, whoever renders them."""
    from bellwatch import reports
    from bellwatch.sources.files import FileSource

    log = tmp_path / "old.jsonl"
    _secrets_log(log)
    hashes = [f"{i:08x}" for i, case in enumerate(CASES) if case.context == "exception"]

    def source() -> FileSource:
        return FileSource([str(log)], use_cache=False)

    answers = [
        reports.errors(source(), limit=1000).rows,
        reports.slow(source(), threshold=1, limit=1000).rows,
        reports.endpoints(source(), limit=1000).rows,
        reports.twilio(source(), limit=1000).rows,
    ]
    digest = reports.summary(source(), budget=20000)
    explained = [reports.explain(source(), h) for h in hashes]
    text = "\n".join(
        [orjson.dumps(answers).decode(), digest.text, orjson.dumps(digest.facts).decode()]
        + ["\n".join(e.lines()) + orjson.dumps(e.as_dict()).decode() for e in explained]
    )
    assert all(e.line is not None for e in explained) and len(answers[0]) == len(hashes)
    for case in [*CASES, *(Case("url", "", u, h) for u, h in URLS)]:
        for hidden in case.hidden:
            assert len(hidden) < 8 or hidden not in text, case.id
