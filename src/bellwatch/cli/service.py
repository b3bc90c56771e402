"""The commands that ask a running service: ``metrics``, ``health`` (and ``demo``).

``health --source aws`` asks ECS and the load balancer instead of the service
(:func:`bellwatch.cli._aws_readonly.health`); boto3 is imported only then.
"""

from __future__ import annotations

import contextlib

import click
import orjson

from .. import _settings
from ..demo import CLIENTS as DEMO_CLIENTS
from ..demo import DURATION as DEMO_DURATION
from . import _redact
from ._safe import echo_json
from .options import FC, UsageProblem
from .output import echo_lines, scrub_json, use_settings

__all__ = ["COMMANDS"]


def _fetch(url: str, token: str | None) -> tuple[int, str, str]:
    from ..reports.service import fetch
    from ..sources.base import SourceError

    try:
        answer = fetch(url, token)
    except SourceError as exc:
        raise UsageProblem(str(exc)) from None
    return answer.status, answer.content_type, answer.body


def _service(path: str, url: str | None, as_json: bool, no_color: bool) -> int:
    try:
        settings = _settings.resolve()
    except _settings.ConfigError as exc:
        raise UsageProblem(str(exc)) from None
    use_settings(settings)
    base = (url or settings.url).rstrip("/")
    status, ctype, body = _fetch(base + path, settings.metrics_token)
    if status == 401:
        raise UsageProblem(f"{base + path}: 401 unauthorized (set BELLWATCH_METRICS_TOKEN)")
    if status == 404:
        # Most often --url already ends in /metrics or /health; else the app is not instrumented.
        click.echo(
            f"bellwatch: {base + path}: 404 not found: --url is the service's base URL "
            f"(http://host:port, without {path}), and bellwatch.instrument(app) mounts {path}",
            err=True,
        )
    if as_json:
        click.echo(_masked_body(body.rstrip()))  # exact, unless a secret had to be masked
        return status
    del no_color  # readable output here is uncoloured: the body quotes log text
    if "json" in ctype:
        with contextlib.suppress(ValueError):  # not JSON after all: shown as text
            masked = scrub_json(orjson.loads(body))  # by key too, at any depth
            body = orjson.dumps(masked, option=orjson.OPT_INDENT_2).decode()
    echo_lines(body.rstrip())  # line by line through safe_text: error messages are log text
    return status


def _masked_body(body: str) -> str:
    """A reply as received, secrets masked: an older service, or another one, may not.

    JSON is masked by key and by value and written again only when something was
    masked; other text (Prometheus) line by line by value.
    """
    try:
        parsed = orjson.loads(body)
    except ValueError:
        return "\n".join(_redact.text(line) for line in body.split("\n"))
    masked = scrub_json(parsed)
    return body if masked == parsed else orjson.dumps(masked).decode()


def _url_options(func: FC) -> FC:
    func = click.option("--no-color", is_flag=True, help="Plain text.")(func)
    func = click.option("--json", "as_json", is_flag=True, help="Raw response body.")(func)
    return click.option("--url", metavar="URL", help="Service base URL (BELLWATCH_URL).")(func)


@click.command()
@_url_options
def metrics(url: str | None, as_json: bool, no_color: bool) -> None:
    """Fetch the running service's /metrics (bearer BELLWATCH_METRICS_TOKEN when set).

    Exit codes: 0 the metrics were printed, 1 the service answered an error status,
    2 it could not be asked (unreachable, 401 without the token, a bad option).

    \b
    Examples:
      bellwatch metrics --url http://127.0.0.1:8000
    """
    status = _service("/metrics", url, as_json, no_color)
    if status >= 400:
        raise SystemExit(1)


@click.command()
@_url_options
@click.option(
    "--source",
    type=click.Choice(["service", "aws"]),
    default="service",
    show_default=True,
    help="Ask the service's /health, or ECS and the load balancer.",
)
@click.option("--cluster", help="ECS cluster, with --source aws (default: the only one).")
@click.option("--service", help="ECS service, with --source aws (default: the only one).")
@click.option("--target-group", help="Target group, with --source aws (default: the service's).")
@click.option("--region", metavar="REGION", help="AWS region (BELLWATCH_REGION).")
@click.option("--profile", metavar="NAME", help="AWS profile (default: the AWS chain).")
def health(  # click passes every option by keyword
    *,
    url: str | None,
    as_json: bool,
    no_color: bool,
    source: str,
    cluster: str | None,
    service: str | None,
    target_group: str | None,
    region: str | None,
    profile: str | None,
) -> None:
    """The service's health; exit 1 when it is not healthy.

    By default fetches the running service's /health. With --source aws: the ECS
    service's task counts, deployments and recent events, and each target's health.

    \b
    Exit codes:
      0  healthy (/health answered 200; or ECS and the targets are healthy)
      1  not healthy (/health answered 503 or another 4xx/5xx; or degraded in ECS)
      2  could not ask (service unreachable, 401 without the token, AWS refused,
         a bad option)

    \b
    Examples:
      bellwatch health
      bellwatch health --url https://api.example.com --json
      bellwatch health --source aws --cluster bella-prod --service bella-api
    """
    if source == "aws":
        try:
            from ._aws_readonly import health as aws_health
        except ImportError as exc:
            raise UsageProblem(f"{exc} (pip install 'bellwatch[aws]')") from None
        try:
            report = aws_health(
                cluster=cluster,
                service=service,
                target_group=target_group,
                region=region,
                profile=profile,
            )
        except click.ClickException as exc:
            raise UsageProblem(exc.format_message()) from None
        except ImportError as exc:  # boto3 missing: the message names the extra
            raise UsageProblem(str(exc)) from None
        if as_json:
            echo_json(report.as_dict())
        else:
            echo_lines("\n".join(report.lines()))
        raise SystemExit(0 if report.ok else 1)
    status = _service("/health", url, as_json, no_color)
    if status >= 400:
        raise SystemExit(1)


@click.command()
@click.option("--serve", is_flag=True, help="Run the reference service with traffic.")
@click.option(
    "--duration", type=click.FloatRange(min=0, min_open=True), default=DEMO_DURATION,
    show_default=True, help="Seconds of traffic.",
)  # fmt: skip
@click.option(
    "--clients", type=click.IntRange(min=1), default=DEMO_CLIENTS, show_default=True,
    help="Concurrent clients sending the traffic.",
)  # fmt: skip
@click.option(
    "--port", type=click.IntRange(1, 65535),
    help="Port on 127.0.0.1 (default: the --url port with --serve, else a free one).",
)  # fmt: skip
def demo(serve: bool, duration: float, clients: int, port: int | None) -> None:
    """Run the bellwatch demo (the reference service and its traffic when available).

    The same as ``python -m bellwatch.demo`` (what ``make demo`` runs), with the same
    options.

    \b
    Examples:
      bellwatch demo                   # traffic, then the summary digest
      bellwatch demo --duration 5 --clients 2
      bellwatch demo --serve           # keep serving; try bellwatch tail -f
    """
    from .. import demo as demo_pkg

    cli_main = getattr(demo_pkg, "cli_main", None)
    if cli_main is not None:
        raise SystemExit(cli_main(serve=serve, duration=duration, port=port, clients=clients))
    from ..demo import scenario

    raise SystemExit(scenario.main())


COMMANDS = (metrics, health, demo)
