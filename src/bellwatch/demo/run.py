"""``bellwatch demo`` / ``make demo``: start Bella, drive traffic, then show what the kit sees.

One command on a fresh machine, no AWS account: the service runs on a free
127.0.0.1 port in this process, logs to stdout and to ``logs/bella.jsonl`` (where
the CLI looks by default), takes :data:`~bellwatch.demo.DURATION` seconds of mixed
traffic, and the ``summary`` digest (:func:`bellwatch.reports.summary`, what
``bellwatch summary`` prints) and the next commands to try are printed at the end,
each runnable as printed from where the demo ran.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit

import bellwatch
from bellwatch import _settings
from bellwatch._runtime import runtime

from ._defaults import CLIENTS, DURATION
from .app import create_app
from .server import RunningServer, start_server
from .traffic import Plan, Tally, run_traffic

__all__ = ["activation", "cli_main", "next_commands"]

SERVICE = "bella"
# With --serve, the URL the CLI's metrics/health commands use by default (setting ``url``),
# so they need no --url.
DEFAULT_URL = _settings.Settings().url
DEFAULT_PORT = urlsplit(DEFAULT_URL).port or 80


class _CurrentStdout(io.TextIOBase):
    """Writes to whatever ``sys.stdout`` is *now*, so the progress bar can redirect lines."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def _cli() -> str:
    """How to call the CLI from here, as a person would type it."""
    if Path("scripts/debug-logs.sh").is_file():  # a checkout: the guide's own script
        return "./scripts/debug-logs.sh"
    script = Path(sys.executable).parent / "bellwatch"
    return _here(script) if script.exists() else "bellwatch"


def next_commands(
    url: str, *, serve: bool, token: str | None = None, logs: str | None = None
) -> list[tuple[str, str]]:
    """The commands printed at the end, as (command, what it shows); each runs as printed.

    Args:
        url: where the service listens.
        serve: whether it keeps listening after the demo (else the dashboard needs --serve).
        token: the metrics token, when one is set.
        logs: a log directory other than the CLI's default one.
    """
    cli = _cli()
    where = f" --logs '{logs}/*.jsonl*'" if logs else ""
    out = [
        (f"{cli} errors{where}", "error patterns, grouped by fingerprint"),
        (f"{cli} slow{where}", "the requests over 2 s, with correlation ids"),
        (f"{cli} twilio{where}", "webhook and signature failures by CallSid"),
        (f"{cli} insights{where}", "Logs Insights queries, run on the local files"),
    ]
    dashboard = f"{url}/dashboard" + (f"?token={token}" if token else "")
    if serve:
        at = "" if url == DEFAULT_URL else f" --url {url}"
        out += [
            (f"{cli} metrics{at}", "the live /metrics document"),
            (dashboard, "the live dashboard, in a browser"),
        ]
    else:
        python = _python()
        out.append(
            (f"{python} -m bellwatch.demo --serve", f"keep Bella running: {DEFAULT_URL}/dashboard")
        )
    return out


def activation() -> tuple[str, str] | None:
    """How to put ``bellwatch`` on PATH, as (command, note); None when it already is.

    ``make demo`` installs into ``.venv`` without activating it, so the README's
    ``bellwatch ...`` commands need the environment activated first.
    """
    bindir = Path(sys.executable).parent
    script = bindir / "bellwatch"
    activate = bindir / "activate"
    if not script.exists() or not activate.exists():
        return None
    found = shutil.which("bellwatch")
    if found and Path(found).resolve() == script.resolve():
        return None
    note = "or: make shell" if Path("Makefile").is_file() else f"or type {_here(script)} ..."
    return f"source {_here(activate)}", note


def _python() -> str:
    """This interpreter, relative to here when inside (``.venv/bin/python``)."""
    return _here(Path(sys.executable))


def _here(path: Path) -> str:
    """``path`` as typed from the current directory: relative when inside it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _fresh_log(log_dir: Path) -> Path:
    """The demo's log file, emptied: the digest should describe this run only."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{SERVICE}.jsonl"
    for old in [path, *log_dir.glob(f"{SERVICE}.jsonl.*")]:
        old.unlink(missing_ok=True)
    return path


def _print_summary(log_path: Path) -> None:
    """Print the ``summary`` digest of this run's log file (what ``bellwatch summary`` shows)."""
    try:
        from bellwatch import reports
    except ImportError as exc:  # the digest counts tokens: the cli extra
        print(f"(no summary: it needs {exc.name or 'the CLI'}: pip install 'bellwatch[cli]')")
        return
    from bellwatch.sources.base import SourceError
    from bellwatch.sources.files import FileSource

    try:
        digest = reports.summary(FileSource([str(log_path)]))
    except SourceError as exc:  # no readable log file
        print(f"(no summary: {exc})")
        return
    print(digest.text)


def _run_with_progress(url: str, token: str, db: Path, plan: Plan) -> Tally:
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn("[bold]traffic[/]"),
        BarColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
    )
    with Progress(*columns, redirect_stdout=True, transient=False) as progress:
        task = progress.add_task("starting", total=plan.duration)

        def tick(elapsed: float, tally: Tally) -> None:
            text = f"{tally.total} requests, {tally.server_errors} 5xx"
            progress.update(task, completed=elapsed, description=text)

        tally = asyncio.run(
            run_traffic(url, twilio_token=token, db_path=db, plan=plan, on_tick=tick)
        )
        progress.update(task, completed=plan.duration)
    return tally


def cli_main(serve: bool = False, duration: float = DURATION, **options: Any) -> int:
    """Run the demo; return the exit code.

    Args:
        serve: keep the service running after the traffic, until Ctrl-C.
        duration: seconds of traffic.
        **options: ``port`` (default: 8000 with ``serve`` when free, else a free one),
            ``log_dir`` (the ``log_dir`` setting, ``logs``), ``clients``
            (:data:`~bellwatch.demo.CLIENTS`),
            ``stdout`` (``True``: the service's lines also go to the terminal).
    """
    default_dir = _settings.resolve().log_dir
    log_dir = Path(options.get("log_dir") or default_dir)
    log_path = _fresh_log(log_dir)
    bellwatch.configure(
        service=SERVICE,
        log_file=True,
        log_dir=str(log_dir),
        stdout=options.get("stdout", True),
        stream=cast(IO[Any], _CurrentStdout()),
    )
    # Our own client's records would double every request line.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # The dashboard charts this run from its first request, not from its first view.
    runtime.timeline()
    twilio_token = secrets.token_hex(16)
    db = Path(tempfile.mkdtemp(prefix="bella-")) / "bella.db"
    app = create_app(db, twilio_token=twilio_token)
    server = _start(app, options.get("port"), serve)
    token = runtime.settings.metrics_token
    print(f"\nBella is listening on {server.url}  (logs: {log_path}, database: {db})\n")
    try:
        plan = Plan(duration=duration, clients=int(options.get("clients") or CLIENTS))
        tally = _run_with_progress(server.url, twilio_token, db, plan)
        if not serve:
            server.stop()  # its last lines come before the digest, not after it
        # Counts not yet on a line (every 10th is logged) are summarised now, so the
        # digest below reads exact numbers.
        runtime.aggregator().flush(final=True)
        bellwatch.flush()  # the file's buffered lines too, before the CLI reads it
        _report(tally)
        print()
        _print_summary(log_path)
        print("\nNext, try:")
        logs = None if str(log_dir) == default_dir else str(log_dir)
        for command, meaning in next_commands(server.url, serve=serve, token=token, logs=logs):
            print(f"  {command:<46} # {meaning}")
        if (activate := activation()) is not None:
            print("\nTo type `bellwatch ...` as the README does, put it on PATH first:")
            print(f"  {activate[0]:<46} # {activate[1]}")
        if serve:
            print(f"\nServing {server.url} until Ctrl-C.")
            _wait_forever()
    finally:
        server.stop()
    return 0


def _start(app: Any, port: int | None, serve: bool) -> RunningServer:
    """On --serve, the CLI's default URL (port 8000) when it is free; else a free port."""
    if port is None and serve:
        try:
            return start_server(app, port=DEFAULT_PORT)
        except OSError:
            print(f"port {DEFAULT_PORT} is busy; using a free one")
    return start_server(app, port=port or 0)


def _report(tally: Tally) -> None:
    sent = ", ".join(f"{n} {kind}" for kind, n in sorted(tally.sent.items()))
    statuses = ", ".join(f"{n}x {status}" for status, n in sorted(tally.statuses.items()))
    print(f"\nsent {tally.total} requests: {sent}")
    missing = ", ".join(f"{n}x {why}" for why, n in sorted(tally.reasons.items()))
    print(f"answers: {statuses}" + (f"; without answer: {missing}" if tally.failed else ""))
    if tally.retried:
        print(f"({tally.retried} sent twice: uvicorn closed the connection after a 500)")


def _wait_forever() -> None:
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping")
