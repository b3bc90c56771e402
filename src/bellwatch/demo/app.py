"""Bella, the guide's reference service: bookings, users and Twilio voice webhooks.

A small FastAPI + SQLite app instrumented with :func:`bellwatch.instrument`,
so every part of the kit has something real to watch: validation failures
(aggregated, low severity), a slow calendar sync, a locked database (unhandled,
critical), forged Twilio signatures, business counters and active calls.

    from bellwatch.demo.app import create_app
    app = create_app("bella.db", twilio_token="...")
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import closing, contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from bellwatch import Ev, F, bind, end_session, get_logger, instrument, metrics
from bellwatch.monitor import SessionKey, form_field

from ._defaults import INSTALL

try:
    from fastapi import APIRouter, FastAPI, HTTPException, Request, Response
    from pydantic import BaseModel
    from twilio.request_validator import RequestValidator
    from twilio.twiml.voice_response import VoiceResponse
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"the Bella demo needs {exc.name}: {INSTALL}", name=exc.name) from exc

__all__ = [
    "CALENDAR_LATENCY",
    "Database",
    "ValidationError",
    "create_app",
    "public_url",
]

log = get_logger("bella")

_BOOK = "/api/assistant/book"
_USER_ID = re.compile(r"user_(\d{1,18})")
# E.164: a plus, a non-zero country digit, at most 15 digits in all.
_E164 = re.compile(r"\+[1-9]\d{1,14}")

# Simulated latency of the calendar each booking is synced to. The legacy one is
# how the demo produces real slow requests (over the 2 s threshold).
CALENDAR_LATENCY: Mapping[str, float] = {"local": 0.0, "google": 0.03, "legacy-exchange": 2.2}

# How long a request waits for a write lock before sqlite3 gives up with
# "database is locked": short on purpose, so a maintenance job holding the lock
# shows up as unhandled 500s instead of a hung request.
DB_TIMEOUT = 0.2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    num INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, phone TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS bookings (
    id INTEGER PRIMARY KEY AUTOINCREMENT, user_id TEXT, name TEXT NOT NULL,
    phone TEXT NOT NULL, day TEXT NOT NULL, calendar TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    sid TEXT PRIMARY KEY, caller TEXT, status TEXT NOT NULL, started REAL NOT NULL, ended REAL);
"""


class ValidationError(ValueError):
    """A request failed validation: answered 422, aggregated as a low-severity pattern."""


class BookingIn(BaseModel):
    name: str
    phone: str
    date: str
    user_id: str | None = None
    calendar: str = "local"


class UserIn(BaseModel):
    name: str
    phone: str


class Database:
    """The service's SQLite file; one short-lived connection per unit of work."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as db:
            db.executescript(_SCHEMA)

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in a transaction: committed on success, rolled back on error."""
        with closing(sqlite3.connect(self.path, timeout=DB_TIMEOUT)) as conn:
            conn.row_factory = sqlite3.Row
            with conn:
                yield conn

    def add_booking(self, body: BookingIn, day: date) -> int:
        with self.connect() as conn:
            cur = conn.execute(
                "INSERT INTO bookings (user_id, name, phone, day, calendar, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (body.user_id, body.name, body.phone, day.isoformat(), body.calendar, time.time()),
            )
        return int(cur.lastrowid or 0)

    def user(self, num: int) -> dict[str, Any] | None:
        with self.connect() as conn:
            row = conn.execute(
                "SELECT name, phone, created FROM users WHERE num = ?", (num,)
            ).fetchone()
        return None if row is None else dict(row)

    def add_user(self, body: UserIn) -> int:
        with self.connect() as conn:
            cur = conn.execute(
                "INSERT INTO users (name, phone, created) VALUES (?, ?, ?)",
                (body.name, body.phone, time.time()),
            )
        return int(cur.lastrowid or 0)

    def start_call(self, sid: str, caller: str | None, status: str) -> bool:
        """Record a call; False when the CallSid was already known (a later webhook)."""
        with self.connect() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO calls (sid, caller, status, started) VALUES (?, ?, ?, ?)",
                (sid, caller, status, time.time()),
            )
        return cur.rowcount > 0

    def end_call(self, sid: str, status: str) -> bool:
        """Mark a live call ended; False when it was unknown or already ended."""
        with self.connect() as conn:
            cur = conn.execute(
                "UPDATE calls SET status = ?, ended = ? WHERE sid = ? AND ended IS NULL",
                (status, time.time(), sid),
            )
        return cur.rowcount > 0


def _validate_booking(body: BookingIn) -> date:
    if not _E164.fullmatch(body.phone):
        raise ValidationError("Invalid phone number format")
    try:
        day = date.fromisoformat(body.date)
    except ValueError:
        raise ValidationError("Invalid date format (expected YYYY-MM-DD)") from None
    if day <= datetime.now(UTC).date():
        raise ValidationError("Booking date must be in the future")
    if body.calendar not in CALENDAR_LATENCY:
        raise ValidationError("Unknown calendar")
    return day


def public_url(request: Request) -> str:
    """The URL Twilio signed: behind a proxy, rebuilt from ``X-Forwarded-Proto/-Host``.

    A load balancer terminates TLS and forwards plain HTTP, so the URL the app sees
    (``http://10.0.1.5:8000/twilio/voice``) is not the one Twilio signed
    (``https://bella.example.com/twilio/voice``); every signature would fail.
    """
    headers = request.headers
    proto = headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = headers.get("x-forwarded-host", headers.get("host", request.url.netloc))
    url = f"{proto}://{host.split(',')[0].strip()}{request.url.path}"
    if request.url.query:
        url += "?" + request.url.query
    return url


class _CallSessions(SessionKey):
    """Active sessions are live calls: the CallSid of Twilio's signed voice webhooks.

    A forged webhook is no call; the status callback does not count as activity
    (it ends the call); API requests are not sessions (their line carries ``uid``).
    """

    needs_body = True
    loggable = True

    def __init__(self) -> None:
        self._call_sid = form_field("CallSid")

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        verified = scope.get("state", {}).get("twilio_verified", False)  # request.state
        if scope.get("path") != "/twilio/voice" or not verified:
            return None
        return self._call_sid(scope, fields, body)


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


router = APIRouter()


@router.post(_BOOK, status_code=201)
def book(body: BookingIn, request: Request) -> dict[str, Any]:
    """Validate and store a booking; count its outcome as a business metric."""
    if body.user_id:
        bind(**{F.USER_ID: body.user_id})
    try:
        day = _validate_booking(body)
    except ValidationError as exc:
        metrics.outcome("booking", ok=False)
        log.info(Ev.BOOKING_FAILED, exc_info=exc, **{F.PATH: _BOOK})
        raise HTTPException(422, str(exc)) from None
    time.sleep(CALENDAR_LATENCY[body.calendar])  # the calendar sync
    booking_id = _db(request).add_booking(body, day)
    metrics.outcome("booking", ok=True)
    log.info(Ev.BOOKING_CREATED, booking=booking_id, day=day.isoformat())
    return {"id": booking_id, "date": day.isoformat(), "status": "confirmed"}


@router.get("/api/users/{user_id}")
def get_user(user_id: str, request: Request) -> dict[str, Any]:
    """One user, or 404."""
    bind(**{F.USER_ID: user_id})
    num = _USER_ID.fullmatch(user_id)
    row = _db(request).user(int(num[1])) if num is not None else None
    if row is None:
        raise HTTPException(404, "User not found")
    return {"id": user_id, **row}


@router.post("/api/users", status_code=201)
def create_user(body: UserIn, request: Request) -> dict[str, Any]:
    """Create a user; the phone number must be E.164."""
    if not _E164.fullmatch(body.phone):
        raise HTTPException(422, "Invalid phone number format")
    user_id = f"user_{_db(request).add_user(body)}"
    bind(**{F.USER_ID: user_id})
    metrics.incr("users_created")
    return {"id": user_id, "name": body.name}


async def _signed_form(request: Request) -> dict[str, str]:
    """The webhook's form fields, once ``X-Twilio-Signature`` has validated (else 403)."""
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str)}
    sid = params.get("CallSid", "")
    if sid:
        bind(**{F.SESSION_ID: sid})
    log.info(Ev.TWILIO_WEBHOOK, **{F.METHOD: request.method, F.PATH: request.url.path})
    signature = request.headers.get("x-twilio-signature", "")
    validator: RequestValidator = request.app.state.validator
    if not validator.validate(public_url(request), params, signature):
        metrics.incr("twilio_signature_failures")
        log.warning(
            Ev.SIGNATURE_FAILED, has_signature=bool(signature), **{F.PATH: request.url.path}
        )
        raise HTTPException(403, "Invalid Twilio signature")
    request.state.twilio_verified = True
    return params


@router.post("/twilio/voice")
async def voice(request: Request) -> Response:
    """Twilio's voice webhook: answers TwiML; the CallSid is the session key."""
    params = await _signed_form(request)
    sid = params.get("CallSid", "")
    if not sid:
        raise HTTPException(400, "CallSid missing")
    caller, call_status = params.get("From"), params.get("CallStatus", "ringing")
    if await asyncio.to_thread(_db(request).start_call, sid, caller, call_status):
        metrics.incr("calls_started")
    twiml = VoiceResponse()
    gather = twiml.gather(input="speech", action="/twilio/voice", timeout=3)
    gather.say("Hi, this is Bella. What day would you like to book?")
    return Response(str(twiml), media_type="application/xml")


@router.post("/twilio/status", status_code=204)
async def call_status(request: Request) -> Response:
    """Twilio's status callback: a finished call ends its session."""
    params = await _signed_form(request)
    sid = params.get("CallSid", "")
    status = params.get("CallStatus", "completed")
    if await asyncio.to_thread(_db(request).end_call, sid, status):
        metrics.incr("calls_completed")
        end_session(sid)  # a finished call is not active, on every worker
    return Response(status_code=204)


def create_app(
    db_path: str | Path = "logs/bella.db",
    *,
    twilio_token: str,
    instrument_options: Mapping[str, Any] | None = None,
) -> FastAPI:
    """Build the Bella service on the SQLite file ``db_path``, instrumented by bellwatch.

    Args:
        db_path: the SQLite file (created with its tables when missing).
        twilio_token: the Twilio auth token webhook signatures are checked against.
        instrument_options: extra keyword arguments for ``instrument()``.
    """
    app = FastAPI(title="Bella", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.db = Database(db_path)
    app.state.validator = RequestValidator(twilio_token)
    app.include_router(router)
    options = dict(instrument_options or {})
    options.setdefault("session_key", _CallSessions())
    instrument(app, **options)
    return app
