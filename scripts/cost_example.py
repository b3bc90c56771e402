"""The README's "What it costs" figures: ``bellwatch cost`` over an hour of Bella-like traffic.

One request a second for an hour, in the demo service's proportions (bookings with
some validation failures and a few 500s, Twilio voice webhooks with their CallSid,
user lookups), written as bellwatch writes them: ``request_complete`` per request,
``twilio_webhook_start`` per webhook, ``booking_created``/``booking_failed``, an
``error`` line for a new fingerprint and ``aggregated_error`` every 10th. Seeded, so
the figures are the same on every run: ``scripts/update_readme.py`` writes them into
the README and ``tests/test_docs.py`` fails when they are stale.

Run: .venv/bin/python scripts/cost_example.py   (prints the Markdown block)
"""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from bellwatch.cost import CostOptions, cost_report  # noqa: E402 - after the path tweak
from bellwatch.cost.aws_bill import setup_cost  # noqa: E402
from bellwatch.cost.monitoring import setup_resources  # noqa: E402
from bellwatch.cost.prices import shipped_prices  # noqa: E402
from bellwatch.cost.report import human_bytes  # noqa: E402
from bellwatch.sources.base import LOG, LOG_STREAM, MESSAGE, TIMESTAMP  # noqa: E402

START_MS = 1_796_601_600_000  # 2026-12-07T00:00:00Z
REQUESTS = 3600  # one a second for an hour
# CloudWatch's default retention (what the awslogs driver's own log group gets).
OPTIONS = CostOptions(region="us-east-1", queries_per_day=10, sample_size=100_000)


def _hex(r: random.Random, n: int) -> str:
    return "".join(r.choice("0123456789abcdef") for _ in range(n))


def lines() -> list[dict[str, Any]]:
    """The hour's events, in order, as bellwatch's compact JSON lines would carry them."""
    r = random.Random(20)
    out: list[dict[str, Any]] = []
    failures = 0
    for i in range(REQUESTS):
        ts = START_MS + i * 1000 + r.randrange(1000)
        cid = _hex(r, 12)
        kind = r.choices(["book", "voice", "user", "new_user", "bookings"], [30, 25, 20, 10, 15])[0]
        duration = round(r.lognormvariate(-3.2, 0.8), 3)
        extra: dict[str, Any] = {}
        if kind == "book":
            method, path, status = "POST", "/api/assistant/book", 201
            roll = r.random()
            if roll < 0.12:
                status = 422
                failures += 1
                head = {"ts": ts, "level": "INFO", "event": "booking_failed", "cid": cid}
                out.append({**head, "path": path})
                if failures == 1 or failures % 10 == 0:
                    event = "error" if failures == 1 else "aggregated_error"
                    out.append(
                        {
                            "ts": ts,
                            "level": "ERROR",
                            "event": event,
                            "cid": cid,
                            "hash": "cf96925c",
                            "n": 1 if failures == 1 else 10,
                            "type": "ValidationError",
                            "msg": "Invalid phone number format",
                            "sev": "low",
                            "path": path,
                            **({"count": failures} if failures > 1 else {}),
                        }
                    )
            elif roll < 0.15:
                status = 500
            else:
                out.append(
                    {
                        "ts": ts,
                        "level": "INFO",
                        "event": "booking_created",
                        "cid": cid,
                        "booking": i,
                        "day": "2026-12-09",
                    }
                )
        elif kind == "voice":
            method, path, status = "POST", "/twilio/voice", 200
            extra["sid"] = "CA" + _hex(r, 32)
            out.append(
                {
                    "ts": ts,
                    "level": "INFO",
                    "event": "twilio_webhook_start",
                    "cid": cid,
                    "method": method,
                    "path": path,
                }
            )
        elif kind == "user":
            method, path = "GET", "/api/users/{user_id}"
            status = 200 if r.random() < 0.9 else 404
            extra["uid"] = str(r.randrange(1, 5000))
        elif kind == "new_user":
            method, path, status = "POST", "/api/users", 201
        else:
            method, path, status = "GET", "/api/bookings", 200
        level = "ERROR" if status >= 500 else "WARNING" if duration > 2 else "INFO"
        out.append(
            {
                "ts": ts,
                "level": level,
                "event": "request_complete",
                "cid": cid,
                "method": method,
                "path": path,
                "status": status,
                "duration": duration,
                **extra,
            }
        )
    return out


def records() -> list[dict[str, Any]]:
    """The lines as the record reader gives them."""
    out = []
    for event in lines():
        message = orjson.dumps(event).decode()
        out.append(
            {
                **event,
                TIMESTAMP: event["ts"],
                MESSAGE: message,
                LOG_STREAM: "bella.jsonl",
                LOG: "logs",
            }
        )
    return out


def _usd(value: float) -> str:
    return f"${value:,.2f}"


def _qty(value: float) -> str:
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def markdown() -> str:
    """The generated part of the README's "What it costs" section."""
    report = cost_report(records(), OPTIONS)
    usage, bill, extra = report.usage, report.bill, report.what_if
    assert extra is not None
    prices = shipped_prices()
    out = [
        f"Prices: `bellwatch/cost/prices.csv`, us-east-1, read on {bill.prices.date} "
        "from the AWS pricing page:",
        "",
        "| item | unit | USD |",
        "|---|---|---:|",
    ]
    out += [f"| `{p.item}` | {p.unit} | {p.usd:g} |" for p in prices if p.region == "us-east-1"]
    setup = setup_cost(setup_resources(), bill.prices)
    out += [
        "",
        f"What `bellwatch aws setup` creates for an ECS service behind an ALB costs "
        f"{_usd(setup.managed.total)} a month before any log is written:",
        "",
        "| resource | quantity | USD a month |",
        "|---|---:|---:|",
    ]
    out += [
        f"| {ln.item} | {_qty(ln.quantity)} {ln.units} | {_usd(ln.usd)} |"
        for ln in setup.managed.lines
    ]
    per_day = usage.per_day(usage.total.events) or 0.0
    out += [
        "",
        f"An hour of Bella-like traffic, one request a second ({usage.total.events:,} "
        f"lines, {per_day:,.0f} a day), priced by `bellwatch cost` with CloudWatch's default "
        "retention and 10 Logs Insights queries a day over a day of logs:",
        "",
        "| monthly | quantity | USD | basis |",
        "|---|---:|---:|---|",
    ]
    out += [
        f"| {ln.item} | {_qty(ln.quantity)} {ln.units} | "
        f"{_usd(ln.usd) if ln.in_total else '(' + _usd(ln.usd) + ')'} | {ln.basis} |"
        for ln in bill.lines
    ]
    out += [f"| **total** | | **{_usd(bill.total)}** | |"]
    ours = extra.styles[0]
    out += [
        "",
        "The same events written two other ways (`what_if`), every event rendered:",
        "",
        "| written as | lines a day | bytes a month | cl100k tokens a day | logs USD a month "
        "| bytes vs bellwatch |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    days = usage.span_ms / 86_400_000
    for style in extra.styles:
        month = style.billed_bytes / days * 730 / 24
        out.append(
            f"| {style.style} | {style.lines / days:,.0f} | {human_bytes(month)} | "
            f"{style.tokens / days:,.0f} | {_usd(style.usd_per_month)} | "
            f"{style.billed_bytes / ours.billed_bytes:.2f}x |"
        )
    before, default = extra.styles[2], extra.styles[1]

    def fewer(ours_: float, theirs: float) -> str:
        return f"{1 - ours_ / theirs:.0%}"

    out += [
        "",
        f"bellwatch's lines take {fewer(ours.billed_bytes, before.billed_bytes)} fewer "
        f"bytes and {fewer(ours.tokens, before.tokens)} fewer tokens than the guide's BEFORE "
        f"style, {fewer(ours.billed_bytes, default.billed_bytes)} and "
        f"{fewer(ours.tokens, default.tokens)} fewer than structlog's default JSON: the "
        'guide\'s "60-80%" holds against its own BEFORE text only.',
    ]
    out += ["", "Savings it suggests for this traffic:", ""]
    out += [
        f"{i}. {_usd(s.usd_per_month)} a month: {s.text}"
        for i, s in enumerate(report.suggestions, 1)
    ]
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown())
