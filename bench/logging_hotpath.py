"""CPU per `request_complete` event, bellwatch's full pipeline vs the peers.

Each library runs in its own process (so no import or configuration leaks into
another), rounds are interleaved, and each variant's median over the rounds is
divided by the floor: `orjson.dumps` of the same dict + a buffered write.
Every variant writes to its own file in a temp dir, one line per event.

Run: .venv/bin/python bench/logging_hotpath.py [--rounds 7] [--events 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import interleaved, machine, median, run_child, write_result

FIELDS = {
    "method": "POST",
    "path": "/api/assistant/book",
    "status": 200,
    "duration": 0.1234,
    "uid": "user_123",
    "sid": "s_48151623",
}
CID = "3f9a1c7e2b4d"


def _setup(variant: str, path: str):
    """Return a zero-argument callable that logs one event."""
    if variant == "floor: orjson.dumps + buffered write":
        import orjson

        fh = open(path, "wb")  # noqa: SIM115 - closed by process exit

        def emit() -> None:
            fh.write(
                orjson.dumps(
                    {
                        "ts": time.time_ns() // 1_000_000,
                        "level": "INFO",
                        "event": "request_complete",
                        "cid": CID,
                        **FIELDS,
                    }
                )
                + b"\n"
            )

        return emit
    if variant == "bellwatch (context, redaction, budget)":
        import bellwatch
        from bellwatch.log import context

        bellwatch.configure(
            stdout=False,
            log_file=True,
            log_dir=os.path.dirname(path),
            service=Path(path).stem,
            capture_stdlib=False,
        )
        context.set_cid(CID)
        log = bellwatch.get_logger()
        return lambda: log.info("request_complete", **FIELDS)
    if variant == "structlog fastest (filtering, bytes, orjson, cached)":
        import orjson
        import structlog

        structlog.configure(
            cache_logger_on_first_use=True,
            wrapper_class=structlog.make_filtering_bound_logger(20),
            processors=[
                structlog.contextvars.merge_contextvars,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.processors.JSONRenderer(serializer=orjson.dumps),
            ],
            logger_factory=structlog.BytesLoggerFactory(open(path, "wb")),  # noqa: SIM115 - lives for the process
        )
        structlog.contextvars.bind_contextvars(cid=CID)
        log = structlog.get_logger()
        return lambda: log.info("request_complete", **FIELDS)
    import logging

    handler = logging.FileHandler(path)
    root = logging.getLogger("bench")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    if variant == "stdlib plain text":
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        return lambda: root.info(
            "request_complete cid=%s method=%s path=%s status=%s duration=%s uid=%s sid=%s",
            CID,
            *FIELDS.values(),
        )
    if variant == "python-json-logger":
        try:
            from pythonjsonlogger.json import JsonFormatter
        except ImportError:  # older releases
            from pythonjsonlogger.jsonlogger import JsonFormatter
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(message)s"))
        extra = {"cid": CID, **FIELDS}
        return lambda: root.info("request_complete", extra=extra)
    if variant == "Powertools Logger":
        from aws_lambda_powertools import Logger

        log = Logger(service="bench", logger_handler=logging.FileHandler(path))
        extra = {"cid": CID, **FIELDS}
        return lambda: log.info("request_complete", extra=extra)
    if variant == "loguru serialize=True":
        from loguru import logger

        logger.remove()
        logger.add(path, serialize=True, enqueue=False)
        bound = logger.bind(cid=CID)
        return lambda: bound.info("request_complete", **FIELDS)
    raise SystemExit(f"unknown variant {variant}")


VARIANTS = [
    "floor: orjson.dumps + buffered write",
    "bellwatch (context, redaction, budget)",
    "structlog fastest (filtering, bytes, orjson, cached)",
    "stdlib plain text",
    "python-json-logger",
    "Powertools Logger",
    "loguru serialize=True",
]


def filtered_call_costs(n: int = 200_000, repeats: int = 5) -> dict[str, float]:
    """ns per filtered-out debug() call; every variant looks the method up on an object."""
    import structlog

    import bellwatch

    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(20), cache_logger_on_first_use=True
    )

    class Empty:
        def debug(self, event: str, **kw: object) -> None:
            return None

    loggers = {
        "empty_call_ns": Empty(),
        "structlog_filtered_ns": structlog.get_logger(),
        "filtered_ns": bellwatch.get_logger(),
    }
    best = {}
    for name, log in loggers.items():
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            for _ in range(n):
                log.debug(
                    "request_complete",
                    method="POST",
                    path="/x",
                    status=200,
                    duration=0.1,
                    uid="u",
                    sid="s",
                )
            times.append((time.perf_counter() - t0) / n * 1e9)
        best[name] = min(times)
    return best


def child(variant: str, events: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        emit = _setup(variant, os.path.join(tmp, "bench.jsonl"))
        for _ in range(2000):
            emit()
        t0 = time.process_time()
        for _ in range(events):
            emit()
        per_event = (time.process_time() - t0) / events * 1e6
        extra = {}
        if variant.startswith("bellwatch"):
            extra = filtered_call_costs()
    print(json.dumps({"us": per_event, **extra}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--events", type=int, default=20000)
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.events)
        return
    extras: list[dict] = []

    def measure(variant: str) -> float:
        res = run_child([__file__, "--child", variant, "--events", str(args.events)])
        if "filtered_ns" in res:
            extras.append(res)
        return res["us"]

    samples = interleaved(VARIANTS, args.rounds, measure)
    floor = median(samples[VARIANTS[0]])
    ours = median(samples[VARIANTS[1]])
    out = [
        "## Logging one event (bench/logging_hotpath.py)",
        "",
        f"CPU per `request_complete` event with 6 fields, each library in its own process, {args.rounds} interleaved rounds of {args.events} events, median. Ratio to the floor (`orjson.dumps` + buffered write). {machine()}.",
        "",
        "| variant | us/event (median) | ratio to floor | ratio to bellwatch |",
        "|---|---:|---:|---:|",
    ]
    for v in VARIANTS:
        m = median(samples[v])
        out.append(f"| {v} | {m:.1f} | {m / floor:.1f}x | {m / ours:.2f}x |")
    f_ns = median([e["filtered_ns"] for e in extras])
    e_ns = median([e["empty_call_ns"] for e in extras])
    s_ns = median([e["structlog_filtered_ns"] for e in extras])
    sl = median(samples[VARIANTS[2]])
    out += [
        "",
        f"bellwatch / structlog fastest = {ours / sl:.2f} (goal <= 1.0).",
        f"A filtered-out `debug()` with six keyword arguments (method looked up on the logger each call, best of 5): bellwatch {f_ns:.0f} ns, structlog {s_ns:.0f} ns, an empty method with the same arguments {e_ns:.0f} ns (bellwatch / empty = {f_ns / e_ns:.2f}).",
    ]
    path = write_result("logging_hotpath", "\n".join(out))
    print("\n".join(out))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
