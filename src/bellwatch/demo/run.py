"""``bellwatch demo`` / ``make demo``: start Bella, drive traffic, then show what the kit sees.

One command on a fresh machine, no AWS account: the service runs on a free
127.0.0.1 port in this process, logs to stdout and to ``logs/bella.jsonl`` (where
the CLI looks by default), takes ~20 s of mixed traffic, and the CLI's ``summary``
digest and the next commands to try are printed at the end.
"""

from __future__ import annotations

import asyncio
import io
import logging
import secrets
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, Any, cast

import bellwatch
from bellwatch.dashboard import timeline_for
from bellwatch.monitor import Monitor, set_monitor

from .app import create_app
from .server import start_server
from .traffic import Plan, Tally, run_traffic

__all__ = ["cli_main", "next_commands"]

SERVICE = "bella"
# Short enough that finished calls visibly leave "active sessions" during the demo.
SESSION_WINDOW = 60.0


class _CurrentStdout(io.TextIOBase):
    """Writes to whatever ``sys.stdout`` is *now*, so the progress bar can redirect lines."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def next_commands(url: str, token: str | None = None) -> list[tuple[str, str]]:
    """The commands printed at the end: (command, what it shows)."""
    dashboard = f"{url}/dashboard" + (f"?token={token}" if token else "")
    return [
        ("./scripts/debug-logs.sh errors", "error patterns, grouped by fingerprint"),
        ("./scripts/debug-logs.sh slow", "the requests over 2 s, with correlation ids"),
        ("./scripts/debug-logs.sh twilio", "webhook and signature failures by CallSid"),
        ("./scripts/debug-logs.sh insights", "Logs Insights queries, run on the local files"),
        (dashboard, "the live dashboard (with --serve, while the service runs)"),
    ]


def _fresh_log(log_dir: Path) -> Path:
    """The demo's log file, emptied: the digest should describe this run only."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / f"{SERVICE}.jsonl"
    for old in [path, *log_dir.glob(f"{SERVICE}.jsonl.*")]:
        old.unlink(missing_ok=True)
    return path


def _print_summary(log_path: Path) -> None:
    """Print the CLI's ``summary`` digest of this run's log file (the ``summary`` command)."""
    try:
        import click

        from bellwatch.cli import cli
    except ImportError as exc:
        print(f"(no summary: {exc}; pip install 'bellwatch[cli]')")
        return
    try:
        cli.main(["summary", "--no-color", "--logs", str(log_path)], standalone_mode=False)
    except click.ClickException as exc:
        print(f"(no summary: {exc.format_message()})")


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


def cli_main(serve: bool = False, duration: float = 20.0, **options: Any) -> int:
    """Run the demo; return the exit code.

    Args:
        serve: keep the service running after the traffic, until Ctrl-C.
        duration: seconds of traffic.
        **options: ``port`` (0 = a free one), ``log_dir`` (``logs``), ``clients`` (4),
            ``stdout`` (``True``: the service's lines also go to the terminal).
    """
    log_dir = Path(options.get("log_dir") or "logs")
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
    timeline_for(set_monitor(Monitor(session_window=SESSION_WINDOW)))
    twilio_token = secrets.token_hex(16)
    workdir = Path(tempfile.mkdtemp(prefix="bella-"))
    db = workdir / "bella.db"
    app = create_app(db, twilio_token=twilio_token)
    server = start_server(app, port=int(options.get("port", 0)))
    token = bellwatch.pipeline.current().settings.metrics_token
    print(f"\nBella is listening on {server.url}  (logs: {log_path}, database: {db})\n")
    try:
        plan = Plan(duration=duration, clients=int(options.get("clients", 4)))
        tally = _run_with_progress(server.url, twilio_token, db, plan)
        _report(tally)
        print()
        _print_summary(log_path)
        print()
        print("Next, try:")
        for command, meaning in next_commands(server.url, token):
            print(f"  {command:<44} # {meaning}")
        if serve:
            print(f"\nServing {server.url} until Ctrl-C.")
            _wait_forever()
    finally:
        server.stop()
    return 0


def _report(tally: Tally) -> None:
    sent = ", ".join(f"{n} {kind}" for kind, n in sorted(tally.sent.items()))
    statuses = ", ".join(f"{n}x {status}" for status, n in sorted(tally.statuses.items()))
    print(f"\nsent {tally.total} requests: {sent}")
    print(f"answers: {statuses}" + (f", {tally.failed} without answer" if tally.failed else ""))


def _wait_forever() -> None:
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        print("\nstopping")
