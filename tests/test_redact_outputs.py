"""The same secrets table through every way out of the runtime: nothing shows anywhere.

One instrumented app, real components: log lines to a stream and the local file,
``/metrics`` (JSON, Prometheus, ``?series=1``), ``/dashboard``, alerts to the log, a
webhook on a loopback HTTP server and SNS on moto (read back through a subscribed SQS
queue), and EMF lines. Each case runs inside a request; exception cases are
unhandled, so they become error patterns and HIGH alerts. A custom ``route_of``
returning raw URLs puts the URL cases into metric names, labels and EMF dimensions.
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
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import bellwatch
from bellwatch._runtime import runtime
from secrets_table import CASES, KEEP, URLS, Case, act

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


@pytest.fixture
def sns(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any, str]]:
    """An SNS topic on moto with an SQS queue subscribed: (topic ARN, sqs client, queue URL)."""
    boto3 = pytest.importorskip("boto3")
    moto = pytest.importorskip("moto")
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with moto.mock_aws():
        client = boto3.client("sns", region_name="eu-west-1")
        sqs = boto3.client("sqs", region_name="eu-west-1")
        topic = client.create_topic(Name="alerts")["TopicArn"]
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
        client.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn["Attributes"]["QueueArn"])
        yield topic, sqs, queue


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
    sns: tuple[str, Any, str],
    capsys: pytest.CaptureFixture[str],
) -> dict[str, str]:
    """Every output of one runtime that served the given cases, as text by output name."""
    runtime.reset()
    stream = io.StringIO()
    url, bodies = webhook
    bodies.clear()
    topic, sqs, queue = sns
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
    sns: tuple[str, Any, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Log lines, /metrics, Prometheus, dashboard, series, alerts and EMF show no secret."""
    for b in range(BATCHES):
        batch = [i for i in range(len(CASES)) if i % BATCHES == b]
        exceptions = [i for i in batch if CASES[i].context == "exception"]
        assert len(exceptions) < 10  # each must fit /metrics' top_errors
        outputs = _run_batch(batch, tmp_path, webhook, sns, capsys)
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
