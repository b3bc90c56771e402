"""CPU per `request_complete` event: bellwatch's whole pipeline vs the peers, like for like.

The event: `request_complete` with a correlation id and a `uid` bound in context, and
method, a 19-character route, status, duration and a session id as call fields.

Every peer runs twice:

- (a) its documented default JSON setup (its own keys, its timestamp, its handler's
  flush policy), the line a user gets without tuning;
- (b) its fastest setup that writes **the same line as bellwatch**: epoch-ms integer
  `ts`, the same keys in the same order, orjson, into a 64 KiB buffered file with no
  flush per line (bellwatch buffers INFO lines and writes them in 64 KiB appends).
  The parent checks that every (b) line equals bellwatch's, `ts` aside.

bellwatch also runs the case of issue 14 item 10: the same event whose session id is a
34-character Twilio CallSid, which makes the line longer than 200 characters and
sends it down the budget's cutting path.

Each variant runs in its own process (no configuration leaks between libraries),
rounds are interleaved with the order rotated, and the table shows medians and
ratios. bench/profile_event.py profiles bellwatch's children with py-spy.

Run: .venv/bin/python bench/logging_hotpath.py [--rounds 7] [--events 20000]
"""

from __future__ import annotations

import argparse
import contextvars
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    figures,
    interleaved,
    machine_md,
    median,
    paired,
    quick,
    run_child,
    samples_line,
    write_result,
)

CID = "3f9a1c7e2b4d"
UID = "user_123"
CALL = {"method": "POST", "path": "/api/assistant/book", "status": 200, "duration": 0.1234}
SID = "s_48151623"
CALL_SID = "CA" + "9fcf2f0361420a8a2a724f0483ff7c6f"  # 34 characters, as Twilio's
BUF = 64 * 1024
LEVELS = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR"}

# What the peers without a context mechanism of their own read cid and uid from: one
# ContextVar holding a dict, as bellwatch does (the cheapest way to have context).
CTX: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("bench_ctx")

# key -> (label, group). Groups: "floor", "bellwatch", "a" (default), "b" (same line).
VARIANTS: dict[str, tuple[str, str]] = {
    "floor": ("floor: `orjson.dumps` of the finished dict + 64 KiB buffered write", "floor"),
    "bellwatch": ("bellwatch: context, redaction, budget (line fits in 200)", "bellwatch"),
    "bellwatch_cut": ("bellwatch, sid a 34-char CallSid: line over 200, cut", "bellwatch"),
    "structlog_b": ("structlog, same line: one context processor, orjson, buffered", "b"),
    "structlog_cv_b": ("structlog, same line, context from `structlog.contextvars`", "b"),
    "picologging_b": ("picologging, same line: Handler + orjson Formatter, buffered", "b"),
    "stdlib_b": ("stdlib logging, same line: HOWTO optimisations, orjson, buffered", "b"),
    "pjl_b": ("python-json-logger `OrjsonFormatter`, same line, buffered", "b"),
    "loguru_b": ("loguru, same line: a sink writing orjson, buffered", "b"),
    "structlog_a": ("structlog, docs' performance setup: ISO time, flush per line", "a"),
    "picologging_a": ("picologging `FileHandler` + orjson Formatter, ISO time", "a"),
    "stdlib_a": ("stdlib logging, plain text `FileHandler`", "a"),
    "pjl_a": ("python-json-logger `JsonFormatter`, `FileHandler`", "a"),
    "powertools_a": ("AWS Lambda Powertools `Logger`, default", "a"),
    "loguru_a": ("loguru `serialize=True`", "a"),
}
# Powertools has no (b): its formatter always writes `timestamp` as a string and adds
# `location`, `service` and `xray_trace_id`; replacing it would no longer be Powertools.
LIKE = [k for k, (_, g) in VARIANTS.items() if g == "b"]
FASTEST_PEERS = ("structlog_b", "structlog_cv_b", "picologging_b")


# ---------------------------------------------------------------- the setups


def _same_line(level: str, event: str, fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ts": time.time_ns() // 1_000_000, "level": level, "event": event}
    out.update(CTX.get())
    out.update(fields)
    return out


_FILES: list[Any] = []


def _open(path: str) -> Any:
    """A 64 KiB buffered binary file that lives as long as the process."""
    fh = open(path, "wb", buffering=BUF)  # noqa: SIM115 - flushed by _flush_all
    _FILES.append(fh)
    return fh


def _flush_all() -> None:
    for fh in _FILES:
        if hasattr(fh, "flush"):
            fh.flush()


class _BufferedBytesLogger:
    """structlog's `BytesLogger` without its lock and per-line flush."""

    __slots__ = ("_write",)

    def __init__(self, fh: Any) -> None:
        self._write = fh.write

    def msg(self, message: bytes) -> None:
        self._write(message + b"\n")

    debug = info = warning = error = critical = exception = msg


def _structlog(variant: str, path: str) -> Callable[..., None]:
    import orjson
    import structlog

    fh = _open(path)
    if variant == "structlog_a":
        # The "Performance" page of structlog's docs.
        processors: list[Any] = [
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ]
        factory: Any = structlog.BytesLoggerFactory(fh)
    else:

        def stamp_ctx(_: object, method: str, ed: dict[str, Any]) -> dict[str, Any]:
            out = {"ts": time.time_ns() // 1_000_000, "level": LEVELS[method]}
            out["event"] = ed.pop("event")
            out.update(CTX.get())
            out.update(ed)
            return out

        def stamp_cv(_: object, method: str, ed: dict[str, Any]) -> dict[str, Any]:
            out = {"ts": time.time_ns() // 1_000_000, "level": LEVELS[method]}
            out["event"] = ed.pop("event")
            out["cid"] = ed.pop("cid")  # merge_contextvars appended them last
            out["uid"] = ed.pop("uid")
            out.update(ed)
            return out

        if variant == "structlog_b":
            processors = [stamp_ctx]
        else:
            processors = [structlog.contextvars.merge_contextvars, stamp_cv]
        processors.append(structlog.processors.JSONRenderer(serializer=orjson.dumps))
        factory = lambda *a: _BufferedBytesLogger(fh)  # noqa: E731
    structlog.configure(
        cache_logger_on_first_use=True,
        wrapper_class=structlog.make_filtering_bound_logger(20),
        processors=processors,
        logger_factory=factory,
    )
    structlog.contextvars.bind_contextvars(cid=CID, uid=UID)
    return structlog.get_logger().info


def _picologging(variant: str, path: str) -> Callable[..., None]:
    import orjson
    import picologging

    log = picologging.getLogger("bench")
    log.setLevel(picologging.INFO)
    if variant == "picologging_a":
        iso = "%Y-%m-%dT%H:%M:%S"

        class IsoJson(picologging.Formatter):
            def format(self, record: Any) -> str:
                stamp = time.strftime(iso, time.gmtime(record.created))
                line = {"timestamp": f"{stamp}.{int(record.created * 1000) % 1000:03d}Z"}
                line["level"] = record.levelname
                line["message"] = record.msg
                line.update(CTX.get())
                line.update(record.args)
                return orjson.dumps(line).decode()

        handler: Any = picologging.FileHandler(path)
        handler.setFormatter(IsoJson())
    else:

        class SameLine(picologging.Formatter):
            def format(self, record: Any) -> bytes:  # type: ignore[override]
                return orjson.dumps(_same_line(record.levelname, record.msg, record.args))

        class Buffered(picologging.Handler):
            def __init__(self) -> None:
                super().__init__()
                self.write = _open(path).write

            def emit(self, record: Any) -> None:
                self.write(self.format(record) + b"\n")

        handler = Buffered()
        handler.setFormatter(SameLine())
    log.addHandler(handler)
    info = log.info
    return lambda event, **fields: info(event, fields)


def _stdlib(variant: str, path: str) -> Callable[..., None]:
    import logging

    log = logging.getLogger("bench")
    log.setLevel(logging.INFO)
    log.propagate = False
    if variant == "stdlib_a":
        handler: logging.Handler = logging.FileHandler(path)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        log.addHandler(handler)

        def text(event: str, **fields: Any) -> None:
            ctx = CTX.get()
            log.info(
                "%s cid=%s uid=%s method=%s path=%s status=%s duration=%s sid=%s",
                event, ctx["cid"], ctx["uid"], *fields.values(),
            )  # fmt: skip

        return text
    if variant == "pjl_a":
        from pythonjsonlogger.json import JsonFormatter

        handler = logging.FileHandler(path)
        handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(message)s"))
        log.addHandler(handler)
        return lambda event, **fields: log.info(event, extra={**CTX.get(), **fields})
    if variant == "powertools_a":
        from aws_lambda_powertools import Logger

        pt = Logger(service="bench", logger_handler=logging.FileHandler(path))
        pt.append_keys(cid=CID, uid=UID)
        return lambda event, **fields: pt.info(event, extra=fields)  # noqa: PLW0108 - fields go in extra
    # (b): the logging HOWTO's "Optimization" switches: no caller lookup, no thread,
    # process or task names.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]
    write = _open(path).write

    class Buffered(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            write(self.format(record) + b"\n")  # type: ignore[operator]

    handler = Buffered()
    log.addHandler(handler)
    import orjson

    if variant == "stdlib_b":

        class SameLine(logging.Formatter):
            def format(self, record: logging.LogRecord) -> bytes:  # type: ignore[override]
                return orjson.dumps(_same_line(record.levelname, record.msg, record.args))  # type: ignore[arg-type]

        handler.setFormatter(SameLine())
        info = log.info
        return lambda event, **fields: info(event, fields)
    from pythonjsonlogger.orjson import OrjsonFormatter

    class EpochMs(OrjsonFormatter):
        def add_fields(self, log_data: dict[str, Any], record: Any, message: Any) -> None:
            log_data["ts"] = time.time_ns() // 1_000_000
            super().add_fields(log_data, record, message)

        def serialize_log_record(self, log_data: dict[str, Any]) -> bytes:  # type: ignore[override]
            return orjson.dumps(log_data)

    handler.setFormatter(
        EpochMs(
            "%(levelname)s %(message)s", rename_fields={"levelname": "level", "message": "event"}
        )
    )
    return lambda event, **fields: log.info(event, extra={**CTX.get(), **fields})


def _loguru(variant: str, path: str) -> Callable[..., None]:
    from loguru import logger

    logger.remove()
    if variant == "loguru_a":
        logger.add(path, serialize=True, enqueue=False)
    else:
        import orjson

        write = _open(path).write

        def sink(message: Any) -> None:
            r = message.record
            line = {"ts": time.time_ns() // 1_000_000, "level": r["level"].name}
            line["event"] = r["message"]
            line.update(r["extra"])  # loguru's context (cid, uid), then the call's fields
            write(orjson.dumps(line) + b"\n")

        logger.add(sink, format="{message}", colorize=False, catch=False)
    # loguru's own context (contextvars); `contextualize` is a context manager that
    # stays entered for the life of this process.
    ctx = logger.contextualize(cid=CID, uid=UID)
    ctx.__enter__()
    _FILES.append(ctx)  # keep it referenced: loguru drops a collected one's context
    return logger.info


def setup(variant: str, path: str) -> tuple[Callable[..., None], Callable[[], None]]:
    """A `log(event, **fields)` for the variant, and what writes its buffer out."""
    CTX.set({"cid": CID, "uid": UID})
    if variant == "floor":
        import orjson

        fh = _open(path)
        line = {"level": "INFO", "event": "", "cid": CID, "uid": UID}

        def floor(event: str, **fields: Any) -> None:
            fh.write(orjson.dumps({"ts": time.time_ns() // 1_000_000, **line, **fields}) + b"\n")

        line["event"] = "request_complete"
        return floor, _flush_all
    if variant.startswith("bellwatch"):
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
        bellwatch.bind(uid=UID)
        return bellwatch.get_logger().info, bellwatch.flush
    if variant.startswith("structlog"):
        return _structlog(variant, path), _flush_all
    if variant.startswith("picologging"):
        return _picologging(variant, path), _flush_all
    if variant.startswith("loguru"):
        from loguru import logger

        return _loguru(variant, path), lambda: (logger.remove(), _flush_all())
    return _stdlib(variant, path), _flush_all


# ---------------------------------------------------------------- children


def filtered_call_costs(n: int, repeats: int = 5) -> dict[str, float]:
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
                log.debug("request_complete", method="POST", path="/x", status=200,
                          duration=0.1, uid="u", sid="s")  # fmt: skip
            times.append((time.perf_counter() - t0) / n * 1e9)
        best[name] = min(times)
    return best


def child(variant: str, events: int, filtered: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.jsonl")
        log, flush = setup(variant, path)
        sid = CALL_SID if variant == "bellwatch_cut" else SID
        for _ in range(2000):
            log("request_complete", **CALL, sid=sid)
        t0 = time.process_time()
        for _ in range(events):
            log("request_complete", **CALL, sid=sid)
        per_event = (time.process_time() - t0) / events * 1e6
        flush()
        extra: dict[str, Any] = {}
        if variant == "bellwatch":
            extra = filtered_call_costs(filtered)
        last = _last_line(tmp)
    print(json.dumps({"us": per_event, "line": last, **extra}))


def _last_line(tmp: str) -> str:
    for name in os.listdir(tmp):
        with open(os.path.join(tmp, name), "rb") as f:
            lines = f.read().splitlines()
        if lines:
            return lines[-1].decode()
    return ""


# ---------------------------------------------------------------- parent


def _normal(line: str) -> str:
    return re.sub(r'^\{"ts":\d+,', '{"ts":0,', line)


def main() -> None:
    q = quick()
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2 if q else 7)
    ap.add_argument("--events", type=int, default=5000 if q else 20000)
    ap.add_argument("--filtered", type=int, default=50_000 if q else 200_000)
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.events, args.filtered)
        return
    names = list(VARIANTS)
    results: dict[str, list[dict[str, Any]]] = {v: [] for v in names}

    def measure(variant: str) -> float:
        res = run_child([__file__, "--child", variant, "--events", str(args.events),
                         "--filtered", str(args.filtered)])  # fmt: skip
        results[variant].append(res)
        return float(res["us"])

    samples = interleaved(names, args.rounds, measure, label="logging_hotpath")
    ours_line = _normal(results["bellwatch"][0]["line"])
    mismatched = [v for v in LIKE if _normal(results[v][0]["line"]) != ours_line]
    if mismatched:
        raise SystemExit(
            f"not the same line as bellwatch: {mismatched}\n{ours_line}\n"
            + "\n".join(_normal(results[v][0]["line"]) for v in mismatched)
        )
    md = {v: median(samples[v]) for v in names}
    ours = md["bellwatch"]
    fastest = min(FASTEST_PEERS, key=lambda v: md[v])
    vs_fastest = paired(samples["bellwatch"], samples[fastest])
    cut_ratio = paired(samples["bellwatch_cut"], samples["bellwatch"])
    out = [
        "## Logging one event (bench/logging_hotpath.py)",
        "",
        f"CPU per `request_complete` event (`cid` and `uid` in context; method, a 19-character "
        f"route, status, duration, `sid`), each variant in its own process, {args.rounds} "
        f"interleaved rounds of {args.events} events, median. (b) rows write **the same line as "
        "bellwatch** (epoch-ms `ts`, same keys and order, orjson) into a 64 KiB buffered file with "
        "no flush per line, as bellwatch's file does; the run checks each (b) line against "
        "bellwatch's. (a) rows are each library's documented default JSON setup (its keys, its "
        "timestamp, its handler's flush policy).",
        "",
        machine_md(
            [
                "structlog",
                "picologging",
                "orjson",
                "loguru",
                "python-json-logger",
                "aws-lambda-powertools",
            ]
        ),
        "",
        "| variant | setup | us/event | ratio to floor | ratio to bellwatch (paired) |",
        "|---|---|---:|---:|---:|",
    ]
    kind = {"floor": "floor", "bellwatch": "bellwatch", "a": "(a) default", "b": "(b) same line"}
    for v in names:
        label, group = VARIANTS[v]
        out.append(
            f"| {label} | {kind[group]} | {md[v]:.2f} | {md[v] / md['floor']:.1f}x | "
            f"{paired(samples[v], samples['bellwatch']):.2f}x |"
        )
    extras = [r for r in results["bellwatch"] if "filtered_ns" in r]
    f_ns = median([e["filtered_ns"] for e in extras])
    e_ns = median([e["empty_call_ns"] for e in extras])
    s_ns = median([e["structlog_filtered_ns"] for e in extras])
    cut_line = results["bellwatch_cut"][0]["line"]
    out += [
        "",
        "The (b) peers neither redact nor check a budget; bellwatch does both (the goal asks "
        "it to cost no more all the same). Powertools has no (b) row: its formatter always "
        "writes `timestamp` as a string and adds `location`, `service` and `xray_trace_id`, and "
        "a formatter of one's own would no longer be Powertools.",
        "",
        "The line every (b) row and bellwatch wrote (`ts` aside):",
        "",
        f"    {results['bellwatch'][0]['line']}",
        "",
        f"With a 34-character CallSid as `sid`, bellwatch's line ({len(cut_line)} characters) is "
        "cut to fit 200:",
        "",
        f"    {cut_line}",
        "",
        f"**bellwatch / the fastest like-for-like peer ({VARIANTS[fastest][0]}) = "
        f"{vs_fastest:.2f}x** (paired by round; goal <= 1.0x). A line that must be cut costs "
        f"{cut_ratio:.2f}x one that fits (goal <= 2x).",
        "",
        f"A filtered-out `debug()` with six keyword arguments (method looked up on the logger "
        f"each call, best of 5): bellwatch {f_ns:.0f} ns, structlog {s_ns:.0f} ns, an empty "
        f"method with the same arguments {e_ns:.0f} ns (bellwatch / empty = {f_ns / e_ns:.2f}).",
        "",
        *figures(
            [
                (
                    "vs_fastest_peer",
                    f"{vs_fastest:.2f}x",
                    f"bellwatch's CPU / {VARIANTS[fastest][0]}",
                ),
                (
                    "fastest_peer",
                    VARIANTS[fastest][0].split(",")[0],
                    "the faster like-for-like peer",
                ),
                (
                    "vs_structlog_default",
                    f"{paired(samples['bellwatch'], samples['structlog_a']):.2f}x",
                    "bellwatch's CPU / structlog's documented performance setup",
                ),
                ("cut_vs_fit", f"{cut_ratio:.2f}x", "a line cut to 200 / a line that fits"),
                (
                    "peers_default_range",
                    _range(md[v] / ours for v in names if VARIANTS[v][1] == "a"),
                    "the (a) defaults' CPU / bellwatch's",
                ),
                ("filtered_vs_empty", f"{f_ns / e_ns:.2f}x", "filtered debug() / an empty call"),
                (
                    "structlog_filtered_vs_empty",
                    f"{s_ns / e_ns:.1f}x",
                    "structlog's filtered debug() / an empty call",
                ),
            ]
        ),
        "",
        samples_line("us/event", samples, "{:.2f}"),
    ]
    path = write_result("logging_hotpath", "\n".join(out))
    print("\n".join(out))
    print(f"\nwrote {path}")


def _range(xs: Any) -> str:
    xs = sorted(xs)
    return f"{xs[0]:.1f}-{xs[-1]:.1f}x"


if __name__ == "__main__":
    main()
