"""The ``bellwatch`` click group and the console entry point :func:`main`.

Light commands (``--help``, ``tail``, ``trace``) import neither boto3 nor Rich; the
commands that need them import them when they run. Domain errors (bad input,
missing files, bad queries, AWS refusals) print one line and exit with code 2.
"""

from __future__ import annotations

import contextlib
import errno
import importlib
import os
import sys
import warnings
from collections.abc import Sequence
from importlib.util import find_spec
from typing import Any

import click

from .. import __version__, _settings
from . import cost, mcp, records, reports, service
from .options import UsageProblem

__all__ = ["cli", "main"]

_EXTRA_HINT = "pip install 'bellwatch["
"""What every missing-extra message carries (``bellwatch.aws.session.MissingExtra`` and
the others name the exact line to type)."""


class _LazyGroup(click.Group):
    """Loads ``aws`` (:mod:`bellwatch.cli.aws`) only when asked for: ``--help`` stays light."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        if find_spec("bellwatch.cli.aws") is not None:
            names = sorted([*names, "aws"])
        return names

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Like click's, but the aws group is described without importing it.
        rows = []
        for name in self.list_commands(ctx):
            if name == "aws":
                rows.append((name, "Provision and check CloudWatch monitoring (aws --help)."))
                continue
            command = self.commands.get(name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "aws":
            try:
                from .aws import aws_group
            except ImportError:
                return None
            return aws_group
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> object:
        # An optional extra that is not installed is the user's setup, not our bug: its
        # message already names the pip line, so it is one clean line and exit code 2.
        try:
            return super().invoke(ctx)
        except ImportError as exc:
            if _EXTRA_HINT not in str(exc):
                raise
            raise UsageProblem(str(exc)) from None
        except OSError as exc:
            # Piped into a reader that left (`| head -1`). Caught here because click's
            # own handler would exit 1, and `set -o pipefail` scripts would fail on it.
            if exc.errno != errno.EPIPE:
                raise
            _quiet_stdout()
            raise click.exceptions.Exit(0) from None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bellwatch")
def cli() -> None:
    """Read bellwatch logs: local JSONL files (default) or a CloudWatch log group.

    A log group is read with --log-group NAME or BELLWATCH_LOG_GROUP (then
    --source files reads the local files again).

    \b
    Examples:
      bellwatch tail -f --level WARNING
      bellwatch errors --since 1h
      bellwatch slow --threshold 2 -l 'logs/*.jsonl*'
      bellwatch trace 3f9a1c7e2b4d
      bellwatch insights 'stats count(*) as n by path | sort n desc'
      bellwatch summary --budget 1500
      bellwatch errors --log-group /ecs/bella-prod --region eu-west-1 --since 1h
    """


for _command in (*records.COMMANDS, *reports.COMMANDS, *cost.COMMANDS, *service.COMMANDS,
                 *mcp.COMMANDS):  # fmt: skip
    cli.add_command(_command)
cli.add_command(importlib.import_module("bellwatch.cli.users").users)


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's last flush must not fail again."""
    with contextlib.suppress(OSError):
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - interpreter closes it at exit


def _show_warning(message: Any, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Our own configuration warnings as one line, like the CLI's other messages."""
    if issubclass(category, _settings.ConfigWarning):
        click.echo(f"bellwatch: warning: {message}", err=True)
        return
    _python_show_warning(message, category, *args, **kwargs)


_python_show_warning = warnings.showwarning


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: never a traceback for our own failures."""
    warnings.showwarning = _show_warning
    try:
        try:
            cli.main(args=list(argv) if argv is not None else None, prog_name="bellwatch")
        finally:
            # What is still buffered goes out now, where a reader that left is caught,
            # rather than at exit (a "BrokenPipeError ignored" message and exit 120).
            sys.stdout.flush()
    except BrokenPipeError:
        # piped into head: stop quietly with 0, as the reader asked for no more
        _quiet_stdout()
        raise SystemExit(0) from None
    except _settings.ConfigError as exc:
        # A bad BELLWATCH_* value met by a command that resolves settings itself (the aws
        # ones): the user's to fix, said as every command's option error is, exit 2.
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(2) from None
    except Exception as exc:
        click.echo(f"bellwatch: internal error: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(1) from None
