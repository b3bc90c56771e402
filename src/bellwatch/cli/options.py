"""The options every ``bellwatch`` reading command shares, and where they lead: a source.

Which source a command reads, most explicit first: ``--source``; then ``--log-group``
(CloudWatch) or ``--logs`` (files) given on the command line; then the setting
``BELLWATCH_LOG_GROUP`` (CloudWatch); else the local log directory.

Domain errors (bad times, missing files, bad patterns or queries, AWS refusals) become
:class:`UsageProblem`: one line on stderr, exit code 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import click

from .. import _settings
from ..sources.base import Source, SourceError
from ..timeparse import TimeParseError, parse_instant
from . import _redact
from .progress import InsightsSpinner

__all__ = [
    "FC",
    "Opts",
    "UsageProblem",
    "domain_errors",
    "opts_from",
    "shared_options",
    "width_option",
]

FC = TypeVar("FC", bound=Callable[..., Any])
FILES, CLOUDWATCH = "files", "cloudwatch"
_KEYS = ("logs", "source", "log_group", "region", "profile", "since", "until", "as_json",
         "no_color", "cache_dir", "no_cache")  # fmt: skip


class UsageProblem(click.ClickException):
    """A domain error shown as one clean line, exit code 2."""

    exit_code = 2


class Opts:
    """The options every reading command shares, resolved once."""

    def __init__(self, **kw: Any) -> None:
        self.logs: tuple[str, ...] = kw["logs"]
        self.region: str | None = kw["region"]
        self.profile: str | None = kw["profile"]
        self.json: bool = kw["as_json"]
        self.color: bool = not kw["no_color"] and "NO_COLOR" not in os.environ
        self.cache_dir: str | None = kw["cache_dir"]
        self.no_cache: bool = kw["no_cache"]
        self.spinner: InsightsSpinner | None = None
        self.width: int | None = kw.get("width")  # --width, on the commands printing tables
        try:
            self.settings = _settings.resolve(log_group=kw["log_group"], region=self.region)
            self.since = parse_instant(kw["since"]) if kw["since"] else None
            self.until = parse_instant(kw["until"]) if kw["until"] else None
        except (TimeParseError, _settings.ConfigError) as exc:
            raise UsageProblem(str(exc)) from None
        if self.since is not None and self.until is not None and self.until <= self.since:
            # an empty window is a swapped pair, not a question: say so, as CloudWatch does
            raise UsageProblem(
                f"--until {kw['until']} is not after --since {kw['since']}: the window is empty"
            )
        _redact.use_settings(self.settings)  # what this command prints is masked as they say
        self.kind = _pick_source(kw["source"], kw["log_group"], self.logs, self.settings.log_group)
        self._source: Source | None = None

    @property
    def log_group(self) -> str | None:
        """The CloudWatch log group read, or ``None`` when reading files."""
        return self.settings.log_group if self.kind == CLOUDWATCH else None

    def source(self) -> Source:
        """The one source this command reads (built on first use)."""
        if self._source is None:
            self._source = self._build()
        return self._source

    def _build(self) -> Source:
        if self.kind == CLOUDWATCH:
            group = self.settings.log_group
            if not group:
                raise UsageProblem(
                    "--source cloudwatch needs --log-group NAME (or BELLWATCH_LOG_GROUP)"
                )
            try:
                from ..sources.cloudwatch import CloudWatchSource
            except ImportError as exc:
                raise UsageProblem(f"{exc} (pip install 'bellwatch[aws]')") from None
            self.spinner = InsightsSpinner(enabled=not self.json)
            return CloudWatchSource(
                group, region=self.settings.region, profile=self.profile, progress=self.spinner
            )
        from ..sources.files import FileSource

        return FileSource(
            self.logs,
            self.settings.log_dir,
            cache_dir=self.cache_dir,
            use_cache=not self.no_cache,
        )

    def close(self) -> None:
        """Stop the progress indicator, if one is running."""
        if self.spinner is not None:
            self.spinner.stop()


def _pick_source(
    choice: str | None, log_group: str | None, logs: tuple[str, ...], setting: str | None
) -> str:
    if choice:
        if choice == FILES and log_group:
            raise UsageProblem("--source files reads files: drop --log-group")
        if choice == CLOUDWATCH and logs:
            raise UsageProblem("--source cloudwatch reads a log group: drop --logs")
        return choice
    if log_group and logs:
        raise UsageProblem("pass --logs or --log-group, not both")
    if log_group:
        return CLOUDWATCH
    if logs:
        return FILES
    return CLOUDWATCH if setting else FILES


def shared_options(func: FC) -> FC:
    """Source, time window and output options, on every reading command."""
    options = [
        click.option(
            "--logs",
            "-l",
            multiple=True,
            metavar="PATH",
            help="File, directory or glob (repeatable); '-' reads stdin. "
            "Default: <BELLWATCH_LOG_DIR>/*.jsonl*",
        ),
        click.option(
            "--source",
            type=click.Choice([FILES, CLOUDWATCH]),
            help="Where to read (default: cloudwatch when a log group is set, else files).",
        ),
        click.option(
            "--log-group", metavar="NAME", help="CloudWatch log group (BELLWATCH_LOG_GROUP)."
        ),
        click.option("--region", metavar="REGION", help="AWS region (BELLWATCH_REGION)."),
        click.option("--profile", metavar="NAME", help="AWS profile (default: the AWS chain)."),
        click.option("--since", metavar="WHEN", help="Start: 1h, 30m, 2d, 5h30m or ISO 8601."),
        click.option("--until", metavar="WHEN", help="End (exclusive), same forms as --since."),
        click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output."),
        click.option("--no-color", is_flag=True, help="Plain text (also: NO_COLOR set)."),
        click.option("--cache-dir", metavar="DIR", help="Report cache (~/.cache/bellwatch)."),
        click.option("--no-cache", is_flag=True, help="Read the JSON directly; write no cache."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def width_option(func: FC) -> FC:
    """``--width N``, on the commands that print tables."""
    return click.option(
        "--width",
        type=click.IntRange(min=20),
        metavar="N",
        help="Table width in columns (default: COLUMNS, else the terminal's, else 80).",
    )(func)


def opts_from(kw: dict[str, Any]) -> Opts:
    """Pop the shared options (and ``--width``, where a command has it) out of a
    command's keyword arguments."""
    return Opts(**{k: kw.pop(k) for k in _KEYS}, width=kw.pop("width", None))


@contextlib.contextmanager
def domain_errors(opts: Opts | None = None) -> Iterator[None]:
    """Turn the library's input errors into clean exit-2 messages; stop any spinner."""
    try:
        yield
    except (SourceError, TimeParseError, ImportError) as exc:
        raise UsageProblem(str(exc)) from None
    except ValueError as exc:
        # the engines' PatternError / QueryError; checked without importing them here
        if type(exc).__name__ in {"PatternError", "QueryError"}:
            raise UsageProblem(str(exc)) from None
        raise
    finally:
        if opts is not None:
            opts.close()
