"""The ``bellwatch`` command, through click's CliRunner on real files."""

from __future__ import annotations

import http.server
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.cli import cli, format_record
from bellwatch.demo._defaults import DURATION as DEMO_DURATION
from bellwatch.reports._insights import saved_query
from fresh_python import run_python
from loopback import moto_server

ROOT = Path(__file__).resolve().parents[1]
REGION = "ca-central-1"
GROUP = "/ecs/bella-prod"


def line(**fields: object) -> bytes:
    return orjson.dumps(fields) + b"\n"


LINES = [
    b"INFO:     Uvicorn running on http://0.0.0.0:8000",
    line(
        ts=1758918599000,
        level="INFO",
        event="request_complete",
        cid="3f9a1c7e2b4d",
        method="GET",
        path="/health",
        status=200,
        duration=0.004,
    ),
    line(
        ts=1758918600000,
        level="INFO",
        event="twilio_webhook_start",
        cid="aaa111aaa111",
        method="POST",
        path="/twilio/voice",
        sid="CA1",
    ),
    line(
        ts=1758918600184,
        level="INFO",
        event="request_complete",
        cid="aaa111aaa111",
        method="POST",
        path="/twilio/voice",
        status=200,
        duration=0.184,
        sid="CA1",
    ),
    line(
        ts=1758918601000,
        level="ERROR",
        event="error",
        cid="bbb222bbb222",
        type="ValidationError",
        msg="Invalid phone number format",
        sev="low",
        hash="9c1e5a7b",
        n=1,
        path="/api/assistant/book",
    ),
    line(
        ts=1758918601012,
        level="INFO",
        event="request_complete",
        cid="bbb222bbb222",
        method="POST",
        path="/api/assistant/book",
        status=422,
        duration=0.012,
    ),
    line(
        ts=1758918602000,
        level="WARNING",
        event="request_complete",
        cid="ccc333ccc333",
        method="GET",
        path="/api/search",
        status=200,
        duration=3.5,
    ),
    line(
        ts="2025-09-26T20:30:03Z",
        level="WARNING",
        event="signature_validation_failed",
        cid="ddd444ddd444",
        path="/twilio/sms",
        sid="CA2",
    ),
    line(
        ts=1758918603500,
        level="ERROR",
        event="request_complete",
        cid="ddd444ddd444",
        method="POST",
        path="/twilio/sms",
        status=403,
        duration=0.002,
        sid="CA2",
    ),
    b'{"ts": 17589186',
]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "logs" / "app.jsonl"
    path.parent.mkdir()
    path.write_bytes(b"".join(x if x.endswith(b"\n") else x + b"\n" for x in LINES))
    return path


@pytest.fixture
def run(log: Path, tmp_path: Path) -> Iterator[object]:
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, files: bool = True) -> Result:
        extra = ["-l", str(log), "--cache-dir", str(tmp_path / "cache")] if files else []
        return runner.invoke(cli, [*args, *extra], input=input, catch_exceptions=False)

    yield invoke


class TestHelp:
    @pytest.mark.parametrize(
        "command",
        [
            "tail",
            "errors",
            "slow",
            "trace",
            "insights",
            "filter",
            "summary",
            "twilio",
            "metrics",
            "health",
            "endpoints",
            "demo",
            "cost",
        ],
    )
    def test_examples_in_help(self, command: str) -> None:
        """Every command's --help shows examples."""
        result = CliRunner().invoke(cli, [command, "--help"])
        assert result.exit_code == 0 and "Examples" in result.output

    def test_help_and_tail_stay_light(self, log: Path) -> None:
        """``bellwatch --help``, a command's ``--help`` and ``tail`` import no heavy module."""
        code = (
            "import sys\nfrom bellwatch.cli import main\n"
            "for args in (['--help'], ['health', '--help'], ['tail', '-l', sys.argv[1]]):\n"
            "    try:\n        main(args)\n    except SystemExit:\n        pass\n"
            "heavy = ('duckdb', 'boto3', 'botocore', 'structlog', 'moto')\n"
            "print(sorted(m for m in heavy if m in sys.modules))"
        )
        assert run_python(code, str(log)).strip().splitlines()[-1] == "[]"


class TestTail:
    def test_last_lines_readable(self, run: object) -> None:
        """Tail prints the last N events readably; a torn line is a text event, shown."""
        result = run("tail", "-n", "2", "--no-color")  # type: ignore[operator]
        lines = result.stdout.splitlines()
        assert len(lines) == 2
        assert lines[0].startswith("20:30:03.500 ERROR   request_complete ddd444ddd444")
        # a text event takes the time of the event before it
        assert lines[1] == '20:30:03.500 text    {"ts": 17589186'
        assert result.stderr == ""

    def test_filters(self, run: object) -> None:
        """--level, --cid, --event and a filter pattern all narrow the lines."""
        result = run("tail", "--level", "warning", "--event", "request_complete", "--json")  # type: ignore[operator]
        cids = [orjson.loads(x)["cid"] for x in result.stdout.splitlines()]
        assert cids == ["ccc333ccc333", "ddd444ddd444"]
        result = run("tail", "{ $.duration > 1 }", "--json")  # type: ignore[operator]
        assert [orjson.loads(x)["cid"] for x in result.stdout.splitlines()] == ["ccc333ccc333"]

    def test_stdin(self, log: Path) -> None:
        """``-l -`` reads the lines from standard input."""
        result = CliRunner().invoke(
            cli,
            ["tail", "-l", "-", "--cid", "bbb222bbb222", "--json"],
            input=log.read_text(errors="replace"),
        )
        assert len(result.stdout.splitlines()) == 2

    def test_follow_stdin_shows_lines_as_they_arrive(self) -> None:
        """``tail -f -l -`` on a live pipe prints each line when it comes, not at EOF."""
        import select

        with subprocess.Popen(
            [sys.executable, "-m", "bellwatch.cli", "tail", "-f", "-l", "-", "--no-color"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        ) as proc:  # fmt: skip
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(line(ts=1758918599000, event="first_line", cid="3f9a1c7e2b4d"))
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 60)  # the pipe is still open
            shown = proc.stdout.readline() if ready else b""
            proc.stdin.close()
            proc.wait(30)
        assert b"first_line" in shown, "nothing printed while the pipe stayed open"

    @given(st.text())
    def test_format_record_is_one_line(self, text: str) -> None:
        """Any value (a stdlib message ending in a newline, say) prints on one line."""
        record = {"@timestamp": 0, "level": "ERROR", "event": text, "cid": text, "x": text}
        assert len(format_record(record, color=False).splitlines()) == 1

    def test_format_record_colours(self) -> None:
        """Coloured output wraps the level in ANSI codes; --no-color does not."""
        record = {"@timestamp": 0, "level": "ERROR", "event": "x", "status": 500}
        assert "\x1b[" in format_record(record, color=True)
        assert format_record(record, color=False) == "00:00:00.000 ERROR   x status=500"


class TestTraceAndFilter:
    def test_trace_in_order(self, run: object) -> None:
        """Trace prints every line of one correlation id, oldest first."""
        result = run("trace", "aaa111aaa111", "--json")  # type: ignore[operator]
        events = [orjson.loads(x)["event"] for x in result.stdout.splitlines()]
        assert events == ["twilio_webhook_start", "request_complete"]

    def test_trace_unknown(self, run: object) -> None:
        """An id with no lines says so on stderr, prints nothing and exits 1."""
        result = run("trace", "ffffffffffff")  # type: ignore[operator]
        assert result.stdout == "" and "no lines" in result.stderr
        assert result.exit_code == 1

    def test_filter_pattern(self, run: object) -> None:
        """A CloudWatch JSON filter pattern selects matching lines."""
        result = run("filter", '{ $.event = "request_complete" && $.status >= 400 }', "--json")  # type: ignore[operator]
        assert [orjson.loads(x)["status"] for x in result.stdout.splitlines()] == [422, 403]

    def test_filter_terms(self, run: object) -> None:
        """Term patterns with ? alternatives work on the raw line."""
        result = run("filter", "?ValidationError ?signature_validation_failed", "--json")  # type: ignore[operator]
        assert len(result.stdout.splitlines()) == 2


class TestInsights:
    def test_query(self, run: object) -> None:
        """A Logs Insights query runs locally over the files."""
        result = run(
            "insights",
            "filter event = 'request_complete' | stats count(*) as n by path | sort path",
            "--json",
        )  # type: ignore[operator]
        rows = orjson.loads(result.stdout)
        assert {r["path"]: r["n"] for r in rows}["/twilio/voice"] == 1
        assert len(rows) == 5

    def test_saved_query_by_name(self, run: object) -> None:
        """``insights NAME`` runs the saved query of that name."""
        rows = orjson.loads(run("insights", "top-errors", "--json").stdout)  # type: ignore[operator]
        assert [(r["hash"], r["occurrences"]) for r in rows] == [("9c1e5a7b", 1)]

    def test_list(self, run: object) -> None:
        """--list prints the saved queries."""
        result = run("insights", "--list", files=False)  # type: ignore[operator]
        assert result.exit_code == 0 and "1." in result.stdout


class TestAggregates:
    def test_errors(self, run: object) -> None:
        """Errors are grouped by fingerprint with the request's endpoint."""
        (row,) = orjson.loads(run("errors", "--json").stdout)  # type: ignore[operator]
        assert (row["hash"], row["count"], row["endpoints"]) == (
            "9c1e5a7b",
            1,
            ["/api/assistant/book"],
        )

    def test_slow_threshold(self, run: object) -> None:
        """Slow lists only requests over the threshold."""
        rows = orjson.loads(run("slow", "--threshold", "0.1", "--json").stdout)  # type: ignore[operator]
        assert [r["cid"] for r in rows] == ["ccc333ccc333", "aaa111aaa111"]

    def test_twilio(self, run: object) -> None:
        """Twilio failures are grouped by CallSid."""
        rows = orjson.loads(run("twilio", "--json").stdout)  # type: ignore[operator]
        # the forged webhook failed its signature and was answered 403: one failure
        assert [(r["sid"], r["failures"], r["bad_signatures"]) for r in rows] == [("CA2", 1, 1)]

    def test_since_window(self, run: object) -> None:
        """--since drops older records (ISO timestamps included)."""
        rows = orjson.loads(run("endpoints", "--since", "2025-09-26T20:30:02Z", "--json").stdout)  # type: ignore[operator]
        assert sorted(r["path"] for r in rows) == ["/api/search", "/twilio/sms"]

    def test_table_output(self, run: object) -> None:
        """Without --json a table is printed and the text lines are counted once."""
        result = run("errors", "--no-color")  # type: ignore[operator]
        assert "9c1e5a7b" in result.stdout and "ValidationError" in result.stdout
        assert result.stderr.count("2 text lines") == 1

    def test_summary_fits_budget(self, run: object) -> None:
        """The summary names the top error with its correlation id and fits the budget."""
        from bellwatch.reports.digest import count_tokens

        text = run("summary", "--budget", "300").stdout  # type: ignore[operator]
        assert "ValidationError" in text and "bbb222bbb222" in text
        assert count_tokens(text) <= 300

    def test_stdin_aggregate(self, log: Path, tmp_path: Path) -> None:
        """Aggregates read stdin through a temporary spool."""
        result = CliRunner().invoke(cli, ["slow", "-l", "-", "--json"], input=log.read_bytes())
        assert [r["cid"] for r in orjson.loads(result.stdout)] == ["ccc333ccc333"]


class TestAnswerMemo:
    def test_a_large_answer_from_the_rollup_is_not_memoised(self, tmp_path: Path) -> None:
        """Re-reading ~1k+ rows from the rollup costs what storing them would: no memo file."""
        log = tmp_path / "app.jsonl"
        rows = [
            {"ts": 1_700_000_000_000 + i, "event": "request_complete", "method": "GET",
             "path": "/a", "status": 200, "duration": 2.5, "cid": f"c{i}"}
            for i in range(1500)
        ]  # fmt: skip
        log.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        args = ["slow", "-l", str(log), "--cache-dir", str(tmp_path / "c"), "--json"]
        first = CliRunner().invoke(cli, [*args, "--limit", "5000"])  # builds the cache
        answers = tmp_path / "c" / "answers"
        memos = set(answers.glob("*.json"))
        with log.open("ab") as f:
            f.write(orjson.dumps(rows[0]) + b"\n")
        second = CliRunner().invoke(cli, [*args, "--limit", "5000"])  # rollup + tail
        assert len(orjson.loads(first.stdout)) == 1500
        assert len(orjson.loads(second.stdout)) == 1501
        assert set(answers.glob("*.json")) == memos


class TestBadInput:
    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["errors", "-l", "/nonexistent/app.jsonl"], "no such file"),
            (["tail", "-l", "/nonexistent/*.jsonl"], "no files match"),
            (["errors", "--since", "yesterday"], "cannot read time"),
            (["errors", "--since", "1h", "--until", "2h"], "--until 2h is not after --since 1h"),
            (["filter", "{ $.a = }"], ""),
            (["insights", "stats nonsense((("], ""),
        ],
    )
    def test_clean_exit_2(self, run: object, args: list[str], message: str, tmp_path: Path) -> None:
        """Domain errors are one line on stderr with exit code 2, never a traceback."""
        result = CliRunner().invoke(cli, [*args, "--cache-dir", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "Traceback" not in result.output

    @pytest.mark.parametrize(
        "args",
        [
            *([command, "--limit", n] for command in ("errors", "slow", "endpoints", "twilio",
                                                      "users") for n in ("0", "-1")),
            ["tail", "-n", "-3"],
        ],
        ids=" ".join,
    )  # fmt: skip
    def test_counts_below_range_are_usage_errors(
        self, run: object, args: list[str], tmp_path: Path
    ) -> None:
        """--limit 0 or -1 and tail -n -3 are refused with the range, exit 2."""
        result = CliRunner().invoke(cli, [*args, "--cache-dir", str(tmp_path)])
        assert result.exit_code == 2, result.output
        assert "Invalid value for" in result.stderr and "Traceback" not in result.output
        assert "x>=1" in result.stderr or "x>=0" in result.stderr

    def test_tail_zero_lines_prints_none(self, log: Path) -> None:
        """tail -n 0 shows no line (what -f then follows from)."""
        result = CliRunner().invoke(cli, ["tail", "-n", "0", "-l", str(log)])
        assert result.exit_code == 0 and result.stdout == ""

    def test_default_dir_missing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With no files given and no log dir, the message says where it looked."""
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["tail"])
        assert result.exit_code == 2 and "logs/*.jsonl*" in result.stderr


class TestClosedPipe:
    @pytest.mark.parametrize("command", ["tail", "errors", "summary"])
    def test_a_reader_that_left_gets_exit_0_and_no_message(
        self, log: Path, tmp_path: Path, command: str
    ) -> None:
        """Output piped into a reader that has gone (`| head -1`) stops quietly with exit 0."""
        read, write = os.pipe()
        os.close(read)  # the reader is gone before the first write: every write fails
        try:
            done = subprocess.run(
                [sys.executable, "-m", "bellwatch.cli", command, "-l", str(log),
                 "--cache-dir", str(tmp_path / "cache")],
                stdout=write, stderr=subprocess.PIPE, check=False, timeout=120,
            )  # fmt: skip
        finally:
            os.close(write)
        assert (done.returncode, done.stderr.decode()) == (0, "")


class TestDemoCommand:
    def test_takes_the_options_the_readme_names(self) -> None:
        """The walkthrough's demo options exist on ``bellwatch demo`` as on python -m."""
        from bellwatch.cli.service import demo

        readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
        named = re.search(r"the same as `bellwatch demo`; (.*?) change", readme)
        assert named is not None
        options = re.findall(r"`(--[a-z-]+)`", named.group(1))
        assert options and set(options) <= {o for p in demo.params for o in p.opts}

    def test_passes_them_to_the_demo(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """--duration, --clients and --port reach the demo's runner as given."""
        import bellwatch.demo

        seen: dict[str, Any] = {}
        monkeypatch.setattr(bellwatch.demo, "cli_main", lambda **kw: seen.update(kw) or 0)
        args = ["demo", "--duration", "2", "--clients", "3", "--port", "8123"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert seen == {"serve": False, "duration": 2.0, "clients": 3, "port": 8123}

    @pytest.mark.parametrize("args", [["--clients", "0"], ["--duration", "0"]])
    def test_nonsense_is_a_usage_error(self, args: list[str]) -> None:
        """No clients or no time is refused before anything starts, exit 2."""
        assert CliRunner().invoke(cli, ["demo", *args]).exit_code == 2


class TestHealthHelp:
    @pytest.mark.parametrize("args", [["health"], ["aws", "health"]])
    def test_states_the_exit_codes(self, args: list[str]) -> None:
        """health --help says what exit codes 0, 1 and 2 mean."""
        out = CliRunner().invoke(cli, [*args, "--help"]).output
        assert "Exit codes" in out
        assert all(re.search(rf"\b{code}\b", out) for code in "012")


_WALK_MASKS = (
    # what changes from one demo run to the next: the verdict, ids, times, routes, counts,
    # and whether any Twilio call failed in the run
    (re.compile(r"^Health: \w+\."), "Health: V."),
    # which faults a three-second run hits depends on timing (the database lock may fall
    # between requests on a loaded machine): an error line's form, not its error
    (re.compile(r"\[\w+\] [^(]*\("), "[S] E ("),
    (re.compile(r"; [\d,]+ Twilio calls? with failures\."), "."),
    (re.compile(r"\b(request|error pattern)s\b"), r"\1"),  # one of them is singular
    # whether a pattern's requests had a bound uid depends on which requests failed
    (re.compile(r", [\d,]+ users?(?=, e\.g\.)"), ""),
    (re.compile(r"\b(hash|cid|first|last) [^,)]+"), r"\1 _"),
    (re.compile(r"\bon [^)]*?(?=, first|\))"), "on _"),
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "T"),
    (re.compile(r"\d[\d,.]*"), "N"),
)


def _walkthrough() -> str:
    text = (ROOT / "README.md").read_text()
    return text.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->")[0]


class TestReadmeWalkthrough:
    def test_hashes_are_the_demos(self, demo_logs: Path, tmp_path: Path) -> None:
        """Every error hash the walkthrough shows is a fingerprint of a demo run (they do
        not depend on the run: type, message and code)."""
        shown = set(re.findall(r"hash ([0-9a-f]{8})\b", _walkthrough()))
        shown |= set(re.findall(r"bellwatch filter ([0-9a-f]{8})\b", _walkthrough()))
        result = CliRunner().invoke(
            cli, ["errors", "-l", str(demo_logs), "--json", "--cache-dir", str(tmp_path)]
        )
        assert shown and shown <= {row["hash"] for row in orjson.loads(result.stdout)}

    def test_digest_lines_have_the_digests_form(self, demo_logs: Path, tmp_path: Path) -> None:
        """The digest lines the walkthrough quotes read as a demo run's digest does, with
        counts, times and ids aside."""

        def masked(line: str) -> str:
            for pattern, mask in _WALK_MASKS:
                line = pattern.sub(mask, line)
            return line

        quoted = [
            line.strip() for line in _walkthrough().splitlines()
            if line.strip().startswith("Health:") or (line.strip().startswith("- ") and "[" in line)
        ]  # fmt: skip
        result = CliRunner().invoke(
            cli, ["summary", "-l", str(demo_logs), "--cache-dir", str(tmp_path)]
        )
        actual = {masked(line) for line in result.stdout.splitlines()}
        assert quoted and all(masked(line) in actual for line in quoted), quoted


class TestMissingExtra:
    @pytest.mark.parametrize(
        "args",
        [
            ["aws", "setup", "--email", "ops@example.com", "--dry-run"],
            ["aws", "teardown", "--name", "bella-api"],
            ["aws", "cost", "--log-group", "/ecs/bella-prod"],
            ["errors", "--log-group", "/ecs/bella-prod"],
        ],
    )
    def test_one_line_with_the_pip_line(
        self, args: list[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without boto3, an AWS command says the exact pip line once and exits 2."""
        monkeypatch.setitem(sys.modules, "boto3", None)  # import boto3 raises ImportError
        monkeypatch.setenv("AWS_REGION", "us-east-1")
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert "pip install 'bellwatch[aws]'" in result.stderr
        assert "internal error" not in result.output
        assert len(result.stderr.strip().splitlines()) <= 2, result.stderr  # plus a scope note
        assert result.exception is None or isinstance(result.exception, SystemExit)


class _Service(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.headers.get("Authorization") != "Bearer tok":
            self.send_response(401)
            self.end_headers()
            return
        if self.path.startswith("/metrics/"):  # a --url that already ends in /metrics
            self.send_response(404)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"detail":"Not Found"}')
            return
        if self.path == "/redirect":  # to another host: the token must not follow
            self.send_response(302)
            self.send_header("location", f"http://localhost:{self.server.server_address[1]}/health")
            self.end_headers()
            return
        body = {"/health": b'{"status": "ok"}', "/broken": b"\xff not json {"}.get(
            self.path, b"# HELP x\nx 1\n"
        )
        self.send_response(200)
        self.send_header("content-type", "text/plain" if b"HELP" in body else "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def service() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Service)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class TestService:
    def test_health_with_token(self, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Health sends BELLWATCH_METRICS_TOKEN as a bearer token and shows the JSON."""
        monkeypatch.setenv("BELLWATCH_METRICS_TOKEN", "tok")
        result = CliRunner().invoke(cli, ["health", "--url", service, "--json"])
        assert result.exit_code == 0 and '"ok"' in result.stdout

    def test_metrics_text(self, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Prometheus text is shown as is."""
        monkeypatch.setenv("BELLWATCH_METRICS_TOKEN", "tok")
        result = CliRunner().invoke(cli, ["metrics", "--url", service])
        assert "x 1" in result.stdout

    def test_unauthorized(self, service: str) -> None:
        """A 401 explains which setting to set."""
        result = CliRunner().invoke(cli, ["metrics", "--url", service])
        assert result.exit_code == 2 and "BELLWATCH_METRICS_TOKEN" in result.stderr

    def test_a_404_says_what_url_to_give(
        self, service: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--url ending in /metrics (a 404 at /metrics/metrics) says --url is the base URL."""
        monkeypatch.setenv("BELLWATCH_METRICS_TOKEN", "tok")
        result = CliRunner().invoke(cli, ["metrics", "--url", service + "/metrics"])
        assert result.exit_code == 1
        assert "without /metrics" in result.stderr and "instrument(app)" in result.stderr

    def test_json_that_is_not_json(self, service: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """A JSON content type with a broken, non-UTF-8 body is shown as text, not a crash."""
        monkeypatch.setenv("BELLWATCH_METRICS_TOKEN", "tok")
        result = CliRunner().invoke(cli, ["metrics", "--url", service + "/broken#"])
        assert result.exit_code in (0, 1) and "not json" in result.stdout

    def test_token_is_not_sent_across_a_redirect(
        self, service: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A redirect to another host does not carry the bearer token along."""
        monkeypatch.setenv("BELLWATCH_METRICS_TOKEN", "tok")
        result = CliRunner().invoke(cli, ["health", "--url", service + "/redirect#"])
        assert "401 unauthorized" in result.stderr

    def test_service_down(self) -> None:
        """A service that is not running is a clear message, exit 2."""
        result = CliRunner().invoke(cli, ["health", "--url", "http://127.0.0.1:9"])
        assert result.exit_code == 2 and "is the service running" in result.stderr


class TestDebugScript:
    def test_forwards_guide_commands(self, log: Path, tmp_path: Path) -> None:
        """``debug-logs.sh slow`` runs ``bellwatch slow`` with the remaining arguments."""
        out = subprocess.run(
            [
                str(ROOT / "scripts" / "debug-logs.sh"),
                "slow",
                "-l",
                str(log),
                "--json",
                "--cache-dir",
                str(tmp_path / "c"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert orjson.loads(out.stdout)[0]["cid"] == "ccc333ccc333"

    @pytest.mark.parametrize("command", ["trace", "filter", "endpoints"])
    def test_forwards_every_command(self, command: str, log: Path, tmp_path: Path) -> None:
        """Commands beyond the guide's (trace, filter, endpoints...) are forwarded too."""
        args = {"trace": ["trace", "bbb222bbb222"], "filter": ["filter", "ERROR"]}
        out = subprocess.run(
            [
                str(ROOT / "scripts" / "debug-logs.sh"),
                *args.get(command, [command]),
                "-l",
                str(log),
                "--no-cache",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip()

    def test_help_lists_every_command(self) -> None:
        """The script's help names every bellwatch command, no more and no fewer."""
        import click

        out = subprocess.run(
            [str(ROOT / "scripts" / "debug-logs.sh"), "--help"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        listed = out.stdout.split("Commands:", 1)[1].split("(bellwatch --help")[0].split()
        assert sorted(listed) == cli.list_commands(click.Context(cli))

    def test_unknown_command(self) -> None:
        """An unknown sub-command exits 2 with bellwatch's own message."""
        out = subprocess.run(
            [str(ROOT / "scripts" / "debug-logs.sh"), "bogus"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert out.returncode == 2 and "No such command 'bogus'" in out.stderr

    def test_a_fresh_checkout_is_told_to_run_make_demo(self, tmp_path: Path) -> None:
        """In a checkout without .venv (and no bellwatch on PATH) it names `make demo`."""
        import shutil

        (tmp_path / "scripts").mkdir()
        script = tmp_path / "scripts" / "debug-logs.sh"
        shutil.copy2(ROOT / "scripts" / "debug-logs.sh", script)
        shutil.copy2(ROOT / "Makefile", tmp_path / "Makefile")
        out = subprocess.run(
            [str(script), "errors"], capture_output=True, text=True, check=False,
            env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert out.returncode == 2 and "make demo" in out.stderr

    def test_a_link_to_the_script_finds_the_checkouts_venv(self, tmp_path: Path) -> None:
        """Linked from elsewhere (~/bin, another project's scripts/), it still runs the
        checkout's .venv/bin/bellwatch rather than telling the user to pip install it."""
        import shutil

        checkout = tmp_path / "checkout"
        (checkout / "scripts").mkdir(parents=True)
        shutil.copy2(ROOT / "scripts" / "debug-logs.sh", checkout / "scripts" / "debug-logs.sh")
        venv_bin = checkout / ".venv" / "bin"
        venv_bin.mkdir(parents=True)
        (venv_bin / "bellwatch").write_text('#!/bin/sh\necho "checkout bellwatch: $*"\n')
        (venv_bin / "bellwatch").chmod(0o755)
        (tmp_path / "bin").mkdir()
        link = tmp_path / "bin" / "debug-logs"
        link.symlink_to(Path("..") / "checkout" / "scripts" / "debug-logs.sh")  # relative
        out = subprocess.run(
            [str(link), "errors", "--since", "1h"], capture_output=True, text=True,
            check=False, env={"PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout == "checkout bellwatch: errors --since 1h\n"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """One moto server on a free loopback port for the module; each test resets it."""
    with moto_server() as url:
        yield url


@pytest.fixture
def aws(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Dummy credentials, a region and AWS_ENDPOINT_URL pointing at a freshly reset moto."""
    for key in ("AWS_PROFILE", "BELLWATCH_REGION", "BELLWATCH_LOG_GROUP"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    request = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(request).close()
    return moto_endpoint


def logs_client(region: str = REGION) -> Any:
    from bellwatch.aws import session

    return session.client("logs", region=region)


@pytest.fixture
def group(aws: str) -> str:
    """A log group holding the same lines as the file fixture, stamped ten minutes ago."""
    now = (int(time.time()) - 600) * 1000
    client = logs_client()
    client.create_log_group(logGroupName=GROUP)
    client.create_log_stream(logGroupName=GROUP, logStreamName="app/1")
    events = []
    for i, raw in enumerate(LINES):
        try:
            event = orjson.loads(raw)
            event["ts"] = now + i
            message = orjson.dumps(event).decode()
        except orjson.JSONDecodeError:
            message = raw.decode(errors="replace")
        events.append({"timestamp": now + i, "message": message})
    client.put_log_events(logGroupName=GROUP, logStreamName="app/1", logEvents=events)
    return GROUP


def queries_sent() -> list[str]:
    """The Logs Insights query texts CloudWatch (moto) received, oldest first."""
    found = logs_client().describe_queries(logGroupName=GROUP)["queries"]
    return [q["queryString"] for q in sorted(found, key=lambda q: q["createTime"])]


def run_locally(text: str, log: Path) -> list[dict[str, Any]]:
    """What a query means: moto does not evaluate Insights, so run it on the same lines here."""
    from bellwatch.query import insights as engine
    from bellwatch.sources.files import FileSource

    return engine.parse(text).run(FileSource([str(log)]).records())


class TestCloudWatchSource:
    def test_slow_runs_the_saved_query_in_cloudwatch(self, group: str, log: Path) -> None:
        """``slow --log-group`` sends the saved slow query with the threshold applied."""
        args = ["slow", "--log-group", group, "--threshold", "1", "--json", "--since", "1h"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert isinstance(orjson.loads(result.stdout), list)
        (sent,) = queries_sent()
        assert sent == saved_query("slow", slow_threshold=1.0)
        assert "duration > 1\n" in sent
        assert [r["cid"] for r in run_locally(sent, log)] == ["ccc333ccc333"]

    def test_insights_slow_sends_the_configured_threshold(
        self, group: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``insights slow --log-group`` sends the saved query with BELLWATCH_SLOW_THRESHOLD's
        number, as the metric filter and ``slow`` use it."""
        monkeypatch.setenv("BELLWATCH_SLOW_THRESHOLD", "0.5")
        result = CliRunner().invoke(cli, ["insights", "slow", "--log-group", group])
        assert result.exit_code == 0, result.output
        (sent,) = queries_sent()
        assert sent == saved_query("slow", slow_threshold=0.5)
        assert "duration > 0.5\n" in sent

    def test_endpoints_over_moto_are_not_rows_of_nulls(self, group: str) -> None:
        """moto returns raw events for a stats query: endpoints shows no row of nulls and
        says how many rows it skipped."""
        result = CliRunner().invoke(cli, ["endpoints", "--log-group", group, "--since", "1h"])
        assert result.exit_code == 0, result.output
        assert "None" not in result.stdout
        assert "Logs Insights rows holding none of the query's fields" in result.stderr

    def test_errors_run_top_errors(self, group: str, log: Path) -> None:
        """``errors`` sends the saved top-errors query, which groups the one fingerprint."""
        result = CliRunner().invoke(cli, ["errors", "--log-group", group, "--since", "1h"])
        assert result.exit_code == 0, result.output
        sent, users = queries_sent()  # then the users each fingerprint affected
        assert sent == saved_query("top-errors", n=("| limit 20", "| limit 50"))
        assert [r["hash"] for r in run_locally(sent, log)] == ["9c1e5a7b"]
        assert "count_distinct(uid)" in users

    @pytest.mark.parametrize(
        ("command", "saved"),
        [("endpoints", ["latency", "error-rate"]), ("twilio", ["twilio-failures"])],
    )
    def test_reports_run_saved_queries(self, group: str, command: str, saved: list[str]) -> None:
        """``endpoints`` and ``twilio`` run their saved queries instead of reading every event."""
        from bellwatch.query.saved import by_name

        result = CliRunner().invoke(cli, [command, "--log-group", group, "--json"])
        assert result.exit_code == 0, result.output
        assert queries_sent() == [by_name(name).query for name in saved]

    def test_log_group_setting_selects_cloudwatch(
        self, group: str, log: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """BELLWATCH_LOG_GROUP reads CloudWatch without --log-group; --source files overrides."""
        monkeypatch.setenv("BELLWATCH_LOG_GROUP", group)
        result = CliRunner().invoke(cli, ["errors", "--json", "--since", "1h"])
        assert result.exit_code == 0, result.output
        assert len(queries_sent()) == 2  # top-errors, then the users per fingerprint
        files = ["--source", "files", "-l", str(log), "--cache-dir", str(tmp_path)]
        result = CliRunner().invoke(cli, ["errors", "--json", *files])
        assert [r["hash"] for r in orjson.loads(result.stdout)] == ["9c1e5a7b"]
        assert len(queries_sent()) == 2

    def test_summary_from_insights(self, group: str) -> None:
        """``summary`` builds its digest from Insights queries run in CloudWatch."""
        result = CliRunner().invoke(cli, ["summary", "--log-group", group, "--since", "1h"])
        assert result.exit_code == 0, result.output
        assert result.stdout.startswith("# Log summary")
        assert len(queries_sent()) == 5

    def test_insights_query_runs_remotely(self, group: str) -> None:
        """``insights`` with a log group sends the query text unchanged."""
        query = "stats count(*) as n by path | sort n desc"
        result = CliRunner().invoke(cli, ["insights", query, "--log-group", group, "--json"])
        assert result.exit_code == 0, result.output
        assert queries_sent() == [query]

    def test_filter_reads_the_group(self, group: str) -> None:
        """``filter`` reads the group and applies the pattern (moto returns every event)."""
        args = ["filter", "{ $.duration > 1 }", "--log-group", group, "--json", "--since", "1h"]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert [orjson.loads(x)["cid"] for x in result.stdout.splitlines()] == ["ccc333ccc333"]

    def test_tail_looks_back_ten_minutes(self, aws: str) -> None:
        """Without --since, tail reads only the last 10 minutes of a log group."""
        client = logs_client()
        client.create_log_group(logGroupName=GROUP)
        client.create_log_stream(logGroupName=GROUP, logStreamName="s")
        now = int(time.time() * 1000)
        events = [
            {"timestamp": now - age, "message": orjson.dumps({"event": name}).decode()}
            for age, name in ((3_600_000, "old"), (60_000, "recent"))
        ]
        client.put_log_events(logGroupName=GROUP, logStreamName="s", logEvents=events)
        result = CliRunner().invoke(cli, ["tail", "--log-group", GROUP, "--no-color"])
        assert result.exit_code == 0, result.output
        assert [line.split()[2] for line in result.stdout.splitlines()] == ["recent"]
        result = CliRunner().invoke(cli, ["tail", "--log-group", GROUP, "--since", "2h"])
        assert len(result.stdout.splitlines()) == 2

    def test_trace_from_log_group(self, group: str) -> None:
        """Trace finds one request's lines in a log group."""
        result = CliRunner().invoke(
            cli, ["trace", "aaa111aaa111", "--log-group", group, "--json", "--since", "1h"]
        )
        assert result.exit_code == 0, result.output
        assert len(result.stdout.splitlines()) == 2

    def test_source_gets_region_profile_and_progress(self, aws: str) -> None:
        """The source is built with the region, the profile and the spinner callback."""
        from bellwatch.cli.options import opts_from
        from bellwatch.cli.progress import InsightsSpinner
        from bellwatch.sources.cloudwatch import CloudWatchSource

        kw: dict[str, Any] = dict.fromkeys(("since", "until", "cache_dir", "source"))
        kw |= {"logs": (), "log_group": GROUP, "region": "eu-west-1", "profile": "ops"}
        kw |= {"as_json": False, "no_color": True, "no_cache": False}
        source = opts_from(kw).source()
        assert isinstance(source, CloudWatchSource)
        assert (source.region, source.profile) == ("eu-west-1", "ops")
        assert isinstance(source.progress, InsightsSpinner)

    def test_spinner_follows_polls(self) -> None:
        """The progress callback records each poll and stops when the query is done."""
        from bellwatch.cli.progress import InsightsSpinner, describe_statistics

        spinner = InsightsSpinner(enabled=False)
        spinner("Running", {"recordsScanned": 1200.0})
        spinner("Complete", {"recordsScanned": 2400.0, "bytesScanned": 3.2e6})
        assert spinner.polls == 2 and spinner.last == (
            "Complete",
            {"recordsScanned": 2400.0, "bytesScanned": 3.2e6},
        )
        assert describe_statistics({"recordsScanned": 2400.0, "bytesScanned": 3.2e6}) == (
            ", 2,400 records, 3.2 MB scanned"
        )

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["errors", "--source", "cloudwatch"], "--log-group"),
            (["errors", "--log-group", "/nope", "--since", "1h"], "/nope"),
            (["tail", "--log-group", GROUP, "-l", "x.jsonl"], "not both"),
            (["errors", "--log-group", GROUP, "--profile", "no-such-profile"], "profile"),
        ],
    )
    def test_clean_errors(self, aws: str, args: list[str], message: str) -> None:
        """Missing groups, conflicting options and bad profiles exit 2 with one line."""
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 2, result.output
        assert message in result.stderr and "Traceback" not in result.output


class TestHealthFromAws:
    def test_reports_the_ecs_service(self, aws: str) -> None:
        """``health --source aws --json`` reports the service; exit 1 while tasks are missing."""
        from bellwatch.aws.clients import Clients
        from test_aws_plan import build_world

        build_world(Clients(region=REGION))
        result = CliRunner().invoke(cli, ["health", "--source", "aws", "--json"])
        report = orjson.loads(result.stdout)
        assert (report["cluster"], report["service"]) == ("bella-prod", "bella-api")
        assert result.exit_code == (0 if report["ok"] else 1)

    def test_plain_lines(self, aws: str) -> None:
        """Without --json the report's lines are printed, the verdict first."""
        from bellwatch.aws.clients import Clients
        from test_aws_plan import build_world

        build_world(Clients(region=REGION))
        args = ["health", "--source", "aws", "--cluster", "bella-prod", "--service", "bella-api"]
        result = CliRunner().invoke(cli, args)
        assert result.stdout.split()[0] in ("OK", "DEGRADED")
        assert "tasks: desired 2" in result.stdout

    def test_no_service_is_a_clean_error(self, aws: str) -> None:
        """An account without ECS services is one line, exit 2."""
        result = CliRunner().invoke(cli, ["health", "--source", "aws"])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert result.stderr.strip()


def help_examples() -> list[str]:
    """Every ``bellwatch ...`` example line in the group's and each command's --help."""
    commands = [cli, *(c for _, c in sorted(cli.commands.items()))]
    return [
        line.strip()
        for command in commands
        for line in (command.help or "").splitlines()
        if line.strip().startswith("bellwatch ")
    ]


# Examples that cannot finish in a test, each with the reason.
_NOT_RUN = {
    "-f": "follows forever",
    "demo": f"runs the demo service for {DEMO_DURATION:g} s (tested in test_demo)",
}


class TestHelpExamples:
    @pytest.mark.parametrize("example", help_examples())
    def test_example_runs(
        self,
        example: str,
        log: Path,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest,
    ) -> None:
        """Every example printed in a --help runs as printed against a small log file."""
        words = shlex.split(example, comments=True)[1:]
        for word, why in _NOT_RUN.items():
            if word in words:
                pytest.skip(why)
        monkeypatch.chdir(log.parent.parent)  # logs/app.jsonl is the default log dir
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        stdin = None
        if "<" in words:
            at = words.index("<")
            stdin, words = Path(words[at + 1]).read_bytes(), words[:at]
        if ">" in words:
            words = words[: words.index(">")]
        if "--log-group" in words or "aws" in words:
            request.getfixturevalue("group")
            from bellwatch.aws.clients import Clients
            from test_aws_plan import build_world

            if "--region" in words:  # the same log group in the example's region
                logs_client(words[words.index("--region") + 1]).create_log_group(logGroupName=GROUP)
            if "health" in words:
                build_world(Clients(region=REGION))
        if words[0] in ("health", "metrics") and "aws" not in words:
            url = request.getfixturevalue("service")
            monkeypatch.setenv("BELLWATCH_METRICS_TOKEN", "tok")
            monkeypatch.setenv("BELLWATCH_URL", url)
            words = [url if w.startswith("http") else w for w in words]
        result = CliRunner().invoke(cli, words, input=stdin)
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert result.exit_code in ((0, 1) if "aws" in words else (0,)), result.output
        assert "Error" not in result.stderr and "Traceback" not in result.output
        sort = re.search(r"\|\s*sort\s+([\w@.]+)", example)
        if sort:  # a sort on a field the rows lack runs, silently unsorted: not an example
            rows = orjson.loads(CliRunner().invoke(cli, [*words, "--json"]).stdout)
            assert rows and all(sort.group(1) in row for row in rows), example


class TestTableCells:
    def test_query_rates_are_not_rescaled(self, run: object) -> None:
        """A query's own percentage named *rate is shown as computed, not multiplied by 100."""
        query = "filter event = 'request_complete' | stats avg(duration) * 100 as error_rate"
        result = run("insights", query, "--no-color")  # type: ignore[operator]
        assert "%" not in result.stdout

    def test_computed_fractions_are_percentages(self) -> None:
        """Fractions the reports computed are shown as percentages; other floats are not."""
        from bellwatch.cli.output import cell

        assert cell("error_rate", 0.0617, fraction=True) == "6.2%"
        assert cell("error_rate_pct", 6.17) == "6.170"

    def test_rows_without_columns_say_so(self, capsys: pytest.CaptureFixture[str]) -> None:
        """Rows that carry no field at all print the no-records note, not an empty table."""
        from bellwatch.cli.options import Opts
        from bellwatch.cli.output import table

        opts = Opts.__new__(Opts)
        opts.json, opts.color = False, False
        table([{}, {}], opts, title=None)
        assert capsys.readouterr().out.strip() == "(no matching records)"


class TestInsightsList:
    def test_every_line_of_a_query_is_indented(self, run: object) -> None:
        """Multi-line saved queries are indented on every line, not just the first."""
        from bellwatch.query.saved import saved_queries

        out = run("insights", "--list", files=False).stdout  # type: ignore[operator]
        for saved in saved_queries():
            for query_line in saved.query.splitlines():
                assert f"\n    {query_line}\n" in out

    def test_json_lists_them_as_json(self, run: object) -> None:
        """insights --list --json prints the saved queries as a JSON array, as --json promises."""
        from bellwatch.query.saved import saved_queries

        result = run("insights", "--list", "--json", files=False)  # type: ignore[operator]
        assert result.exit_code == 0
        listed = orjson.loads(result.stdout)
        assert listed == [
            {"name": q.name, "description": q.description, "query": q.query}
            for q in saved_queries()
        ]


class TestInsightsColumns:
    def test_passes_fields_needed_when_the_source_offers_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A source whose records() takes ``columns`` is asked only for the query's fields."""
        from bellwatch.cli import options as _cli_options
        from bellwatch.sources.base import ScanStats

        asked: list[object] = []

        class Narrow:
            stats = ScanStats()

            def run_insights(self, *_: object) -> None:
                return None

            def records(self, since: object, until: object, *, columns: object = None) -> Any:
                asked.append(columns)
                return iter([{"path": "/a", "status": 200, "@message": "{}"}])

        monkeypatch.setattr(_cli_options.Opts, "source", lambda self: Narrow())
        result = CliRunner().invoke(cli, ["insights", "stats count(*) as n by path", "--json"])
        assert orjson.loads(result.stdout) == [{"path": "/a", "n": 1}]
        assert asked == [["@timestamp", "path"]]  # the engine always keeps @timestamp


class TestUnusableCache:
    def test_a_cache_dir_that_is_a_file_falls_back_to_reading(
        self, log: Path, tmp_path: Path
    ) -> None:
        """The answer still comes, from the files, with one line saying why it is slower."""
        blocker = tmp_path / "cache"
        blocker.write_text("")
        result = CliRunner().invoke(
            cli, ["errors", "-l", str(log), "--cache-dir", str(blocker), "--json"]
        )
        assert result.exit_code == 0
        assert orjson.loads(result.stdout)
        assert "cache not used" in result.stderr
