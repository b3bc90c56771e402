"""The apps bench/middleware.py measures: bare FastAPI, the peer stacks, bellwatch.

Every peer stack runs twice:

- (a) its documented default setup: its own keys, its own timestamp, its handler's
  flush policy (what a user gets without tuning);
- (b) its fastest setup that writes **the same request line as bellwatch**: the same
  keys in the same order (``ts`` as epoch-ms integer, ``level``, ``event``, ``cid`` a
  12-hex id, ``method``, the route template as ``path``, ``status``, ``duration`` in
  seconds rounded to the ms), rendered by orjson, to the same sink with the same
  policy as bellwatch's: to a file, a 64 KiB buffer opened once and written out by a
  timer thread every 0.2 s (bellwatch's file batches lines and its flusher thread
  writes them on a 0.2 s tick, ``log_flush``); to stdout, one ``write(2)`` per line
  (bellwatch's stdout has no buffer: several processes may share the pipe).

starlette-exporter writes no line of its own: its (b) logs with structlog. picologging
(the other fastest Python logger) keeps the frame of every function that logs alive
(microsoft/picologging#223), which in a request pins the whole coroutine chain; it runs
as an in-process diagnostic, and the bench counts the objects it leaves.

:func:`line_shape` is the check that keeps (b) like for like: bench/middleware.py
refuses to run when a (b) line's shape differs from bellwatch's, and
tests/test_bench_middleware.py runs the same check.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from typing import Any

# key -> (label, setup). setup: "bare", "a" (documented default), "b" (like for like),
# "bellwatch", or "diagnostic" (in-process only).
VARIANTS: dict[str, tuple[str, str]] = {
    "bare": ("bare FastAPI", "bare"),
    "http_middleware": (
        '`@app.middleware("http")` timing + stdlib JSON log to a file',
        "a",
    ),
    "cid_instrumentator_structlog": (
        "asgi-correlation-id + prometheus-fastapi-instrumentator + structlog line to a file",
        "a",
    ),
    "exporter_cid": ("starlette-exporter + asgi-correlation-id (no log line)", "a"),
    "http_middleware_b": (
        '`@app.middleware("http")` + stdlib logging (HOWTO optimisations, orjson formatter),'
        " line to a file",
        "b",
    ),
    "cid_instrumentator_structlog_b": (
        "asgi-correlation-id + prometheus-fastapi-instrumentator + structlog (one processor,"
        " orjson), line to a file",
        "b",
    ),
    "exporter_cid_b": (
        "starlette-exporter + asgi-correlation-id + structlog (one processor, orjson), line to a"
        " file",
        "b",
    ),
    "http_middleware_b_stdout": (
        '`@app.middleware("http")` + stdlib logging, line to stdout',
        "b",
    ),
    "cid_instrumentator_structlog_b_stdout": (
        "asgi-correlation-id + prometheus-fastapi-instrumentator + structlog, line to stdout",
        "b",
    ),
    "exporter_cid_b_stdout": (
        "starlette-exporter + asgi-correlation-id + structlog, line to stdout",
        "b",
    ),
    "bellwatch": ("bellwatch `instrument(app)`, line to a local file, metrics on", "bellwatch"),
    "bellwatch_stdout": (
        "bellwatch `instrument(app)`, line to stdout, metrics on",
        "bellwatch",
    ),
    "bellwatch_noline": (
        "bellwatch with level=ERROR: ids, context and metrics, no line written",
        "diagnostic",
    ),
    "bellwatch_nosink": (
        "bellwatch with the line built and rendered but no file or stdout",
        "diagnostic",
    ),
    "exporter_cid_picologging": (
        "starlette-exporter + asgi-correlation-id + picologging (orjson formatter), line to a"
        " file (leaks: see below)",
        "diagnostic",
    ),
    "header_floor": (
        "a pure-ASGI layer that only appends one response header (the floor of any"
        " middleware that returns the correlation id)",
        "diagnostic",
    ),
}
SETUP = {
    "bare": "baseline",
    "a": "(a) documented default",
    "b": "(b) like for like",
    "bellwatch": "bellwatch",
    "diagnostic": "diagnostic",
}
PEERS_A = [v for v, (_, s) in VARIANTS.items() if s == "a"]
PEERS_B = [v for v, (_, s) in VARIANTS.items() if s == "b" and not v.endswith("_stdout")]
PEERS_B_STDOUT = [v for v, (_, s) in VARIANTS.items() if s == "b" and v.endswith("_stdout")]
ROUTE = "/api/users/{user_id}"
PATH = "/api/users/42"
# bellwatch's file: lines wait in a buffer written out at 64 KiB or on the flusher's
# tick, every ``log_flush`` seconds (0.2 by default). tests/test_bench_middleware.py
# checks both against bellwatch's own values.
BUF = 64 * 1024
FLUSH_EVERY = 0.2


# ---------------------------------------------------------------- sinks of the (b) peers

_FILES: list[Any] = []


def buffered_file(path: str) -> Any:
    """A 64 KiB buffered binary file, written out every FLUSH_EVERY s by a timer thread."""
    fh = open(path, "ab", buffering=BUF)  # noqa: SIM115 - lives as long as the process
    _FILES.append(fh)
    if len(_FILES) == 1:
        threading.Thread(target=_tick, name="bench-flush", daemon=True).start()
    return fh


def _tick() -> None:
    while True:
        time.sleep(FLUSH_EVERY)
        flush_files()


def flush_files() -> None:
    """Write out every (b) peer's buffer now (the end of a measurement counts it)."""
    for fh in _FILES:
        fh.flush()  # a BufferedWriter has its own lock: safe beside the timer thread


def line_writer(variant: str, path: str) -> Any:
    """``write(line_with_newline)`` for a (b) variant: the buffered file, or stdout."""
    if variant.endswith("_stdout"):
        return lambda data: os.write(1, data)  # one write per line, as bellwatch's stdout
    return buffered_file(path).write


def new_cid() -> str:
    """A fresh 12-hex id, the shape of bellwatch's (6 random bytes)."""
    return os.urandom(6).hex()


def same_line(level: str, event: str, fields: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"ts": time.time_ns() // 1_000_000, "level": level, "event": event}
    out.update(fields)
    return out


# ---------------------------------------------------------------- the apps


def build_app(variant: str, logdir: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get(ROUTE)
    async def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    log_path = os.path.join(logdir, f"{variant}.jsonl")
    base = variant.removesuffix("_stdout")
    if base == "http_middleware":
        _http_middleware_a(app, log_path)
    elif base == "http_middleware_b":
        _http_middleware_b(app, line_writer(variant, log_path))
    elif base == "cid_instrumentator_structlog":
        _structlog_a(app, log_path)
    elif base == "cid_instrumentator_structlog_b":
        _cid_instrumentator(app, _structlog_b(line_writer(variant, log_path)))
    elif base == "exporter_cid":
        _exporter_cid(app, None)
    elif base == "exporter_cid_b":
        _exporter_cid(app, _structlog_b(line_writer(variant, log_path)))
    elif base == "exporter_cid_picologging":
        _exporter_cid(app, _picologging_b(line_writer(variant, log_path)))
    elif variant.startswith("bellwatch"):
        _bellwatch(app, variant, logdir)
    elif variant == "header_floor":
        return _header_floor(app)
    elif variant != "bare":
        raise SystemExit(f"unknown variant {variant}")
    return app


def _http_middleware_a(app: Any, log_path: str) -> None:
    import logging

    logger = logging.getLogger("bench.http")
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    @app.middleware("http")
    async def timing(request: Any, call_next: Any) -> Any:
        start = time.perf_counter()
        response = await call_next(request)
        line = {
            "timestamp": time.time(),
            "level": "INFO",
            "event": "request_complete",
            "method": request.method,
            "path": request.url.path,
            "status": response.status_code,
            "duration": round(time.perf_counter() - start, 3),
        }
        logger.info(json.dumps(line))
        return response


def _http_middleware_b(app: Any, write: Any) -> None:
    import logging

    import orjson

    # The logging HOWTO's "Optimization" switches: no caller lookup, no thread,
    # process or task names.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging.logAsyncioTasks = False  # type: ignore[attr-defined]

    class SameLine(logging.Formatter):
        def format(self, record: logging.LogRecord) -> bytes:  # type: ignore[override]
            return orjson.dumps(same_line(record.levelname, record.msg, record.args))  # type: ignore[arg-type]

    class Write(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            write(self.format(record) + b"\n")  # type: ignore[operator]

    logger = logging.getLogger("bench.http")
    handler = Write()
    handler.setFormatter(SameLine())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    info = logger.info

    @app.middleware("http")
    async def timing(request: Any, call_next: Any) -> Any:
        start = time.perf_counter()
        cid = request.headers.get("x-request-id") or new_cid()
        response = await call_next(request)
        response.headers["x-request-id"] = cid
        route = request.scope.get("route")
        info(
            "request_complete",
            {
                "cid": cid,
                "method": request.method,
                "path": getattr(route, "path", request.url.path),
                "status": response.status_code,
                "duration": round(time.perf_counter() - start, 3),
            },
        )
        return response


class AccessLine:
    """A pure-ASGI layer that calls ``log(method, path, status, duration)`` per request."""

    def __init__(self, inner: Any, log: Any) -> None:
        self.app = inner
        self.log = log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_status(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, send_status)
        route = scope.get("route")
        self.log(scope["method"], getattr(route, "path", scope["path"]), status,
                 round(time.perf_counter() - start, 3))  # fmt: skip


def _structlog_a(app: Any, log_path: str) -> None:
    import structlog
    from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
    from prometheus_fastapi_instrumentator import Instrumentator

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        logger_factory=structlog.WriteLoggerFactory(open(log_path, "a")),  # noqa: SIM115
        cache_logger_on_first_use=True,
    )
    slog = structlog.get_logger()

    def log(method: str, path: str, status: int, duration: float) -> None:
        slog.info("request_complete", correlation_id=correlation_id.get(), method=method,
                  path=path, status=status, duration=duration)  # fmt: skip

    app.add_middleware(AccessLine, log=log)
    Instrumentator().instrument(app)
    app.add_middleware(CorrelationIdMiddleware)


class _Writer:
    """A structlog logger that hands each rendered line to ``write``: no lock, no flush."""

    __slots__ = ("_write",)

    def __init__(self, write: Any) -> None:
        self._write = write

    def msg(self, message: bytes) -> None:
        self._write(message + b"\n")

    debug = info = warning = error = critical = exception = msg


def _structlog_b(write: Any) -> Any:
    """``log(method, path, status, duration)`` writing bellwatch's line through structlog."""
    import orjson
    import structlog
    from asgi_correlation_id import correlation_id

    def stamp(_: object, method: str, ed: dict[str, Any]) -> dict[str, Any]:
        return same_line(method.upper(), ed.pop("event"), ed)

    writer = _Writer(write)
    structlog.configure(
        processors=[stamp, structlog.processors.JSONRenderer(serializer=orjson.dumps)],
        wrapper_class=structlog.make_filtering_bound_logger(20),
        logger_factory=lambda *a: writer,
        cache_logger_on_first_use=True,
    )
    info = structlog.get_logger().info

    def log(method: str, path: str, status: int, duration: float) -> None:
        info("request_complete", cid=correlation_id.get(), method=method, path=path,
             status=status, duration=duration)  # fmt: skip

    return log


def _cid_instrumentator(app: Any, log: Any) -> None:
    """asgi-correlation-id (12-hex ids, as bellwatch's) + the instrumentator + ``log``."""
    from asgi_correlation_id import CorrelationIdMiddleware
    from prometheus_fastapi_instrumentator import Instrumentator

    app.add_middleware(AccessLine, log=log)
    Instrumentator().instrument(app)
    app.add_middleware(CorrelationIdMiddleware, generator=new_cid, validator=None)


def _picologging_b(write: Any) -> Any:
    import orjson
    import picologging
    from asgi_correlation_id import correlation_id

    class SameLine(picologging.Formatter):
        def format(self, record: Any) -> bytes:  # type: ignore[override]
            return orjson.dumps(same_line(record.levelname, record.msg, record.args))

    class Write(picologging.Handler):
        def emit(self, record: Any) -> None:
            write(self.format(record) + b"\n")

    logger = picologging.getLogger("bench.access")
    logger.setLevel(picologging.INFO)
    handler = Write()
    handler.setFormatter(SameLine())
    logger.addHandler(handler)
    info = logger.info

    def log(method: str, path: str, status: int, duration: float) -> None:
        info("request_complete", {"cid": correlation_id.get(), "method": method, "path": path,
                                  "status": status, "duration": duration})  # fmt: skip

    return log


def _exporter_cid(app: Any, log: Any) -> None:
    from asgi_correlation_id import CorrelationIdMiddleware
    from starlette_exporter import PrometheusMiddleware

    if log is not None:
        app.add_middleware(AccessLine, log=log)
    app.add_middleware(PrometheusMiddleware)
    if log is None:
        app.add_middleware(CorrelationIdMiddleware)
    else:
        app.add_middleware(CorrelationIdMiddleware, generator=new_cid, validator=None)


def _bellwatch(app: Any, variant: str, logdir: str) -> None:
    import bellwatch
    from bellwatch import instrument

    if variant == "bellwatch":
        bellwatch.configure(stdout=False, log_file=True, log_dir=logdir, service=variant)
    elif variant == "bellwatch_stdout":
        bellwatch.configure(stdout=True, log_file=False)
    elif variant == "bellwatch_nosink":
        bellwatch.configure(stdout=False, log_file=False)
    elif variant == "bellwatch_noline":
        bellwatch.configure(stdout=False, log_file=True, log_dir=logdir, level="ERROR")
    else:
        raise SystemExit(f"unknown variant {variant}")
    instrument(app)


def _header_floor(inner: Any) -> Any:
    async def header_only(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return

        async def send_with_header(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    *message.get("headers", ()),
                    (b"x-request-id", b"0123456789ab"),
                ]
            await send(message)

        await inner(scope, receive, send_with_header)

    return header_only


def flush(variant: str) -> None:
    """Write out whatever the variant buffered (part of its measured cost)."""
    if variant.startswith("bellwatch"):
        import bellwatch

        bellwatch.flush()  # queued requests and buffered lines
    flush_files()


# ---------------------------------------------------------------- like for like


_HEX12 = re.compile(r"[0-9a-f]{12}")


def line_shape(line: str) -> dict[str, Any]:
    """What must be equal between a (b) line and bellwatch's: keys, order, formats, values.

    The values that differ from request to request (``ts``, ``cid``, ``duration``) are
    reduced to their format: epoch milliseconds as an integer, 12 lowercase hex, a
    number of seconds.
    """
    record = json.loads(line)
    shape: dict[str, Any] = {"keys": list(record)}
    for key, value in record.items():
        if key == "ts":
            shape[key] = (
                "epoch ms int"
                if type(value) is int and abs(value - time.time() * 1000) < 86_400_000
                else repr(value)
            )
        elif key == "cid":
            shape[key] = "12 hex" if isinstance(value, str) and _HEX12.fullmatch(value) else value
        elif key == "duration":
            shape[key] = "seconds" if type(value) in (int, float) and 0 <= value < 60 else value
        else:
            shape[key] = value
    return shape
