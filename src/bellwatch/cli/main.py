"""The ``bellwatch`` click group and the console entry point :func:`main`.

Light commands (``--help``, ``tail``, ``trace``) import neither boto3 nor Rich; the
commands that need them import them when they run. Domain errors (bad input,
missing files, bad queries, AWS refusals) print one line and exit with code 2.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Sequence
from importlib.util import find_spec

import click

from .. import __version__
from . import cost, mcp, records, reports, service

__all__ = ["cli", "main"]


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


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: never a traceback for our own failures."""
    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="bellwatch")
    except BrokenPipeError:
        # piped into head: stop quietly, like coreutils
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - interpreter closes it at exit
        raise SystemExit(0) from None
    except Exception as exc:
        click.echo(f"bellwatch: internal error: {type(exc).__name__}: {exc}", err=True)
        raise SystemExit(1) from None
