"""Write a deterministic 1,000,000-line log corpus (~170 MB) of bellwatch's schema.

Mostly ``request_complete`` lines, with Twilio webhooks, first-occurrence ``error``
lines and every-10th ``aggregated_error`` lines (carrying ``path``, the running
``count`` and ``n``, the occurrences each line accounts for, as ``bellwatch.errors``
writes them), app events, and 5 % of lines that are not JSON (banners, traceback lines,
truncated and binary lines), like a container log with uvicorn's own output in it.
Same seed, same bytes.

    python bench/gen_corpus.py [--lines 1000000] [--text 0.05] [--out bench/corpus/app.jsonl]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import orjson

from bellwatch.schema import Ev, F, Sev

START_MS = 1_758_900_000_000
ENDPOINTS = [
    ("POST", "/twilio/voice", 0.18, 12),
    ("POST", "/twilio/sms", 0.09, 8),
    ("POST", "/twilio/status", 0.03, 6),
    ("POST", "/api/assistant/book", 0.42, 10),
    ("GET", "/api/appointments", 0.06, 14),
    ("GET", "/api/appointments/{appointment_id}", 0.04, 10),
    ("PUT", "/api/appointments/{appointment_id}", 0.12, 4),
    ("GET", "/api/users/{user_id}", 0.03, 12),
    ("POST", "/api/users", 0.15, 3),
    ("GET", "/health", 0.004, 15),
    ("GET", "/api/search", 0.8, 5),
    ("POST", "/api/payments", 0.6, 2),
]
ERRORS = [
    (
        f"{i:02x}" + "9c1e5a",
        typ,
        msg,
        sev,
    )
    for i, (typ, msg, sev) in enumerate(
        [
            ("ValidationError", "Invalid phone number format", Sev.LOW),
            ("TimeoutError", "upstream calendar timed out after 5s", Sev.HIGH),
            ("KeyError", "'appointment_id'", Sev.MEDIUM),
            ("ConnectionError", "redis at 10.0.3.7:6379 refused connection", Sev.CRITICAL),
            ("ValueError", "date must be in the future", Sev.LOW),
            ("PermissionError", "user may not cancel this booking", Sev.MEDIUM),
            ("TwilioRestException", "HTTP 429 too many requests", Sev.HIGH),
            ("IntegrityError", "duplicate key value violates unique constraint", Sev.MEDIUM),
        ]
    )
]
JUNK = [
    b"INFO:     Started server process [4127]",
    b"INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",
    b"Traceback (most recent call last):",
    b'  File "/app/main.py", line 88, in book',
    b"    raise ValidationError(msg)",
    b"\x00\x17\xff\xfe binary \x80\x81",
]


TEXT_SHARE = 0.05


def generate(lines: int, seed: int = 42, text: float = TEXT_SHARE) -> bytes:
    """The corpus as bytes: ``lines`` lines, about ``text`` of them not JSON."""
    rng = random.Random(seed)
    weights = [e[3] for e in ENDPOINTS]
    err_counts = [0] * len(ERRORS)
    out: list[bytes] = []
    ts = START_MS
    sid = "CA" + rng.randbytes(16).hex()
    while len(out) < lines:
        ts += rng.randint(5, 35)
        if rng.random() < text:
            out.append(rng.choice(JUNK))
            continue
        roll = rng.random()
        cid = rng.randbytes(6).hex()
        method, path, base, _ = rng.choices(ENDPOINTS, weights)[0]
        duration = round(rng.lognormvariate(0, 0.9) * base, 4)
        if rng.random() < 0.004:
            duration = round(2 + rng.random() * 6, 4)
        status = 200
        line: dict[str, object] = {F.TS: ts, F.LEVEL: "INFO", F.EVENT: Ev.REQUEST, F.CID: cid}
        if path.startswith("/twilio"):
            if rng.random() < 0.2:
                sid = "CA" + rng.randbytes(16).hex()
            out.append(
                orjson.dumps(
                    {
                        F.TS: ts,
                        F.LEVEL: "INFO",
                        F.EVENT: Ev.TWILIO_WEBHOOK,
                        F.CID: cid,
                        F.METHOD: method,
                        F.PATH: path,
                        F.SESSION_ID: sid,
                    }
                )
            )
            if rng.random() < 0.01:
                status = 403
                out.append(
                    orjson.dumps(
                        {
                            F.TS: ts,
                            F.LEVEL: "WARNING",
                            F.EVENT: Ev.SIGNATURE_FAILED,
                            F.CID: cid,
                            F.PATH: path,
                            F.SESSION_ID: sid,
                        }
                    )
                )
        if roll < 0.03:
            k = min(int(rng.expovariate(0.6)), len(ERRORS) - 1)
            ehash, etype, emsg, sev = ERRORS[k]
            err_counts[k] += 1
            status = rng.choice([500, 500, 502, 503]) if sev in (Sev.HIGH, Sev.CRITICAL) else 422
            if err_counts[k] == 1:
                out.append(
                    orjson.dumps(
                        {
                            F.TS: ts,
                            F.LEVEL: "ERROR",
                            F.EVENT: Ev.ERROR,
                            F.CID: cid,
                            F.PATH: path,
                            F.ERROR_TYPE: etype,
                            F.MESSAGE: emsg,
                            F.SEVERITY: sev,
                            F.ERROR_HASH: ehash,
                            F.OCCURRENCES: 1,
                        }
                    )
                )
            elif err_counts[k] % 10 == 0:
                out.append(
                    orjson.dumps(
                        {
                            F.TS: ts,
                            F.LEVEL: "ERROR",
                            F.EVENT: Ev.AGGREGATED_ERROR,
                            F.CID: cid,
                            F.PATH: path,
                            F.ERROR_TYPE: etype,
                            F.MESSAGE: emsg,
                            F.SEVERITY: sev,
                            F.ERROR_HASH: ehash,
                            F.COUNT: err_counts[k],
                            F.OCCURRENCES: 9 if err_counts[k] == 10 else 10,
                        }
                    )
                )
        elif rng.random() < 0.01:
            status = rng.choice([400, 404, 401])
        if status >= 500:
            line[F.LEVEL] = "ERROR"
        elif duration >= 2:
            line[F.LEVEL] = "WARNING"
        line.update({F.METHOD: method, F.PATH: path, F.STATUS: status, F.DURATION: duration})
        if path.startswith("/twilio"):
            line[F.SESSION_ID] = sid
        elif rng.random() < 0.5:
            line[F.USER_ID] = f"u{rng.randint(1, 5000)}"
        if rng.random() < 0.08:
            out.append(
                orjson.dumps(
                    {
                        F.TS: ts,
                        F.LEVEL: "INFO",
                        F.EVENT: Ev.BOOKING_CREATED,
                        F.CID: cid,
                        "appointment": rng.randint(1, 99999),
                        "note": "slot confirmed by assistant after availability lookup",
                    }
                )
            )
        out.append(orjson.dumps(line))
        if rng.random() < 0.0005:
            out.append(orjson.dumps(line)[: rng.randint(5, 40)])  # a line cut by a crash
    return b"\n".join(out[:lines]) + b"\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--text", type=float, default=TEXT_SHARE, help="share of non-JSON lines")
    parser.add_argument("--out", default=str(Path(__file__).parent / "corpus" / "app.jsonl"))
    args = parser.parse_args()
    data = generate(args.lines, text=args.text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    print(f"wrote {args.lines:,} lines, {len(data) / 1e6:.0f} MB to {out}")


if __name__ == "__main__":
    main()
