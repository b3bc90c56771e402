"""The ``digest`` tool: the CLI's ``summary`` digest, with log text quoted, within budget.

The facts come from :func:`bellwatch.reports.summary` and the text from
:func:`bellwatch.reports.digest.render`, as ``bellwatch summary`` prints it, after the
facts are redacted and their free text (types, messages, routes, ids) quoted as data.
``cost=true`` adds what ``bellwatch cost`` says: the month's CloudWatch bill the logs
imply and its three biggest savings (:func:`bellwatch.cost.cost_report`).
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from .. import reports
from ..log.redact import scrub
from ..reports import digest as render
from ..verdict import verdict
from . import _text, reply
from ._metered import Metered, scan_of
from .reply import Reply

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["digest"]

_LEFT_OUT = re.compile(r"; left out: (.*)\)\s*$")
# the footer of a digest whose headline alone fills its size (sections all left out)
_CUT = re.compile(r"^\(truncated to \d+ tokens\)$")
# Free text in the facts: quoted as data in the digest (ids and routes stay bare).
_SECTIONS = {
    "errors": ("hash", "type", "msg", "endpoints", "cid", "sev"),
    "endpoints": ("method", "path"),
    "twilio": ("sid", "cid"),
}


def _quoted(facts: dict[str, Any]) -> dict[str, Any]:
    out = dict(facts)
    for section, keys in _SECTIONS.items():
        rows = []
        for row in facts.get(section) or []:
            shown = dict(row)
            for key in keys:
                value = row.get(key)
                if isinstance(value, str):
                    shown[key] = _text.cell(value, 200)
                elif isinstance(value, list):
                    shown[key] = [_text.cell(v) for v in value]
            rows.append(shown)
        out[section] = rows
    return out


def _head(facts: dict[str, Any], threshold: float) -> dict[str, Any]:
    t = facts["totals"]
    return {
        "verdict": verdict(100.0 * t["error_rate"], t["p95"], threshold),
        "requests": t["requests"],
        "rate_5xx": round(t["error_rate"], 4),
        "n_5xx": t["s5xx"],
        "n_4xx": t["s4xx"],
        "p50_s": t["p50"],
        "p95_s": t["p95"],
        "from": _text.stamp(t["first_ts"]),
        "to": _text.stamp(t["last_ts"]),
        "error_patterns": len(facts["errors"]),
    }


def digest(ctx: Context, args: dict[str, Any]) -> Reply:
    source = Metered.open(ctx)
    since, until, budget = args.get("since"), args.get("until"), args["budget"]
    threshold = ctx.settings.slow_threshold
    found = reports.summary(source, since, until, budget=reply.MIN_BUDGET, slow_threshold=threshold)
    facts = scrub(found.facts, ctx.settings)
    head = _head(facts, threshold)
    shown = _quoted(facts)
    cost_data, cost_lines = _cost(ctx, since, until) if args.get("cost") else (None, [])
    scan = scan_of(source)
    room = budget - reply.tokens(head) - reply.tokens(scan.as_dict()) - 40
    answer = None
    for _ in range(4):
        size = max(room, 60)
        text = render.render(shown, size, slow_threshold=threshold)
        # the footer names the reply's budget (the digest was made smaller to leave room)
        text = text.replace(f"(budget {size} tokens,", f"(budget {budget} tokens,", 1)
        footer = text.rsplit("\n", 1)[-1]
        left = _LEFT_OUT.search(footer)
        # a list of what was left out, as a document reply's omitted is
        omitted = left.group(1).split(", ") if left else []
        if _CUT.match(footer):  # only the headline fitted: every section is left out
            text = text[: -len(footer)] + f"(truncated to budget {budget}: raise it for the rest)"
            omitted = ["every section after the headline"]
        data: dict[str, Any] = {
            **_text.value(head),
            "truncated": bool(omitted),
            "omitted": omitted,
            "next_cursor": None,
            **scan.as_dict(),
            "digest": _text.value(text, len(text)),
        }
        lines = [text, *cost_lines, scan.line()]
        if cost_data is not None:
            data["cost"] = _text.value(cost_data)
        answer = Reply("\n".join(lines), data)
        over = max(answer.tokens()) - budget
        if over <= 0:
            return answer
        room -= over + 20  # JSON's escapes and the cost lines: render smaller and retry
    assert answer is not None
    return reply.within(answer, budget)


def _cost(ctx: Context, since: int | None, until: int | None) -> tuple[dict[str, Any], list[str]]:
    """The month's bill the logs imply and the top savings, as ``bellwatch cost`` says."""
    from ..cost import LOG_GROUP_LOOKBACK_MS, CostError, CostOptions, PriceError, cost_report
    from ..sources.files import FileSource

    options = CostOptions(region=ctx.settings.region, slow_threshold=ctx.settings.slow_threshold)
    source = ctx.open_source()
    read = "the window read"
    if since is None and not isinstance(source, FileSource):
        # as bellwatch cost: a day projects a month, and the group can hold years
        since = int(time.time() * 1000) - LOG_GROUP_LOOKBACK_MS
        read = "the log group's last 24 hours"
    try:
        found = cost_report(source.records(since, until), options)
    except (CostError, PriceError) as exc:
        return {"error": str(exc)}, [f"## Cost\n- not available: {_text.cell(str(exc))}"]
    bill = found.bill
    data = {
        "read": read,
        "usd_per_month": round(bill.total, 2),
        "logs_usd_per_month": round(found.logs_usd, 2),
        "region": bill.prices.region,
        "prices_date": bill.prices.date,
        "events": found.usage.total.events,
        "savings": [[round(s.usd_per_month, 2), s.text] for s in found.suggestions[:3]],
    }
    lines = [
        "## Cost (CloudWatch, a month, estimated from the span read)",
        f"- ${bill.total:,.2f} in {bill.prices.region} (logs ${found.logs_usd:,.2f}), "
        f"prices of {bill.prices.date}, from {found.usage.total.events:,} events of {read}",
    ]
    lines += [
        f"- save ${s.usd_per_month:,.2f}/month: {_text.cell(s.text)}" for s in found.suggestions[:3]
    ]
    return data, lines
