"""``python -m bellwatch.demo [--serve] [--duration 20]``: what ``make demo`` runs."""

from __future__ import annotations

import argparse

from . import cli_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bellwatch.demo",
        description="Start the Bella demo service, drive traffic, show what bellwatch sees.",
    )
    parser.add_argument("--serve", action="store_true", help="keep serving until Ctrl-C")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of traffic")
    parser.add_argument(
        "--port", type=int, help="port on 127.0.0.1 (default: 8000 with --serve, else a free one)"
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients")
    args = parser.parse_args(argv)
    return cli_main(serve=args.serve, duration=args.duration, port=args.port, clients=args.clients)


if __name__ == "__main__":
    raise SystemExit(main())
