"""``python -m bellwatch.demo [--serve] [--duration SECONDS]``: what ``make demo`` runs."""

from __future__ import annotations

import argparse

from . import cli_main
from ._defaults import CLIENTS, DURATION


def parser() -> argparse.ArgumentParser:
    """The command line: its defaults are the package's (:data:`~bellwatch.demo.DURATION`)."""
    parser = argparse.ArgumentParser(
        prog="python -m bellwatch.demo",
        description="Start the Bella demo service, drive traffic, show what bellwatch sees.",
    )
    parser.add_argument("--serve", action="store_true", help="keep serving until Ctrl-C")
    parser.add_argument(
        "--duration",
        type=float,
        default=DURATION,
        help=f"seconds of traffic (default: {DURATION:g})",
    )
    parser.add_argument(
        "--port",
        type=int,
        help="port on 127.0.0.1 (default: the CLI's --url port with --serve, else a free one)",
    )
    parser.add_argument(
        "--clients", type=int, default=CLIENTS, help=f"concurrent clients (default: {CLIENTS})"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return cli_main(serve=args.serve, duration=args.duration, port=args.port, clients=args.clients)


if __name__ == "__main__":
    raise SystemExit(main())
