"""Traffic for the Bella service: real HTTP on 127.0.0.1, bounded in time, a few clients.

The mix is what the kit is for: bookings (some with invalid phone numbers or past
dates), user lookups (some missing), Twilio calls with CallSids (some forged),
a few bookings synced to a slow calendar (over 2 s), and a maintenance job that
locks the SQLite file so some requests fail with an unhandled ``database is
locked``. Every loop stops by itself when ``duration`` has passed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ._defaults import CLIENTS, DURATION, INSTALL

try:
    import httpx
    from twilio.request_validator import RequestValidator
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(f"the demo traffic needs {exc.name}: {INSTALL}", name=exc.name) from exc

__all__ = ["Plan", "Tally", "run_traffic"]

# What one request is: a kind name and a coroutine that sends it.
_NAMES = ["Ann", "Bob", "Chen", "Dana", "Eve", "Farid", "Gita", "Hugo"]
# A proxy in front of the service: Twilio signs the public https URL.
_PUBLIC_HOST = "bella.example.com"


@dataclass(frozen=True)
class Plan:
    """How much traffic of which kind.

    Attributes:
        duration: seconds of traffic.
        clients: concurrent clients.
        slow: bookings synced to the slow calendar (each over 2 s).
        locks: times a maintenance job holds the database lock.
        lock_seconds: how long it holds it.
        pause: think time between one client's requests, in seconds.
        seed: for a reproducible mix.
    """

    duration: float = DURATION
    clients: int = CLIENTS
    slow: int = 3
    locks: int = 2
    lock_seconds: float = 0.6
    pause: float = 0.03
    seed: int | None = None


@dataclass
class Tally:
    """What was sent and how it was answered."""

    sent: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failed: int = 0  # no answer at all (connection refused, timeout)
    reasons: Counter[str] = field(default_factory=Counter)  # why, by exception class
    retried: int = 0  # sent again after the server closed a kept-alive connection

    def add(self, kind: str, status: int | None, reason: str = "") -> None:
        self.sent[kind] += 1
        if status is None:
            self.failed += 1
            self.reasons[reason or "no answer"] += 1
        else:
            self.statuses[status] += 1

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)


class _Driver:
    """Sends one request of a kind and counts its answer; never raises."""

    def __init__(
        self, client: httpx.AsyncClient, base_url: str, token: str, rng: random.Random
    ) -> None:
        self.client = client
        self.base_url = base_url
        self.signer = RequestValidator(token)
        self.forger = RequestValidator("not-the-" + token)
        self.rng = rng
        self.tally = Tally()
        self.users: list[str] = []
        self.calls: list[str] = []

    async def send(self, kind: str, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        try:
            try:
                response = await self.client.request(method, path, **kwargs)
            except (httpx.ReadError, httpx.RemoteProtocolError):
                # uvicorn closes a kept-alive connection after an unhandled exception;
                # a request already sent on it is lost. Send it once more, as browsers do.
                self.tally.retried += 1
                response = await self.client.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            self.tally.add(kind, None, f"{kind}: {type(exc).__name__}")
            return None
        self.tally.add(kind, response.status_code)
        return response

    def _day(self, days: int) -> str:
        return (datetime.now(UTC).date() + timedelta(days=days)).isoformat()

    def _phone(self) -> str:
        return "+1555" + "".join(self.rng.choice("0123456789") for _ in range(7))

    async def book(self, calendar: str = "google") -> None:
        body = {"name": self.rng.choice(_NAMES), "phone": self._phone(),
                "date": self._day(self.rng.randint(1, 60)), "calendar": calendar}  # fmt: skip
        if self.users:
            body["user_id"] = self.rng.choice(self.users)
        await self.send("booking", "POST", "/api/assistant/book", json=body)

    async def book_invalid(self) -> None:
        if self.rng.random() < 0.75:
            body = {"name": "Ann", "phone": self.rng.choice(["555-1234", "0044 20", "+0123"]),
                    "date": self._day(3)}  # fmt: skip
        else:
            body = {"name": "Bob", "phone": self._phone(), "date": self._day(-2)}
        await self.send("booking (invalid)", "POST", "/api/assistant/book", json=body)

    async def create_user(self) -> None:
        body = {"name": self.rng.choice(_NAMES), "phone": self._phone()}
        response = await self.send("user create", "POST", "/api/users", json=body)
        if response is not None and response.status_code == 201:
            self.users.append(response.json()["id"])

    async def lookup(self) -> None:
        if self.users and self.rng.random() < 0.8:
            await self.send("user lookup", "GET", f"/api/users/{self.rng.choice(self.users)}")
        else:
            missing = f"user_{self.rng.randint(900_000, 999_999)}"
            await self.send("user lookup (missing)", "GET", f"/api/users/{missing}")

    async def twilio(self, path: str, params: dict[str, str], forged: bool = False) -> None:
        # Half the calls come through the proxy: Twilio signed the public https URL
        # and the service must rebuild it from X-Forwarded-Proto/-Host.
        headers: dict[str, str] = {}
        url = self.base_url + path
        if self.rng.random() < 0.5:
            headers = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": _PUBLIC_HOST}
            url = f"https://{_PUBLIC_HOST}{path}"
        signer = self.forger if forged else self.signer
        headers["X-Twilio-Signature"] = signer.compute_signature(url, params)
        kind = "twilio (forged)" if forged else "twilio"
        await self.send(kind, "POST", path, data=params, headers=headers)

    def _call_params(self, sid: str, status: str) -> dict[str, str]:
        return {"CallSid": sid, "AccountSid": "AC" + "0" * 32, "From": self._phone(),
                "To": "+15550000000", "CallStatus": status}  # fmt: skip

    async def call(self) -> None:
        """A call's first webhook; an earlier call of this client may end meanwhile."""
        sid = "CA" + self.rng.randbytes(16).hex()
        await self.twilio("/twilio/voice", self._call_params(sid, "ringing"))
        self.calls.append(sid)
        if len(self.calls) > 2 or self.rng.random() < 0.3:
            ended = self.calls.pop(0)
            await self.twilio("/twilio/status", self._call_params(ended, "completed"))

    async def forged_call(self) -> None:
        sid = "CA" + self.rng.randbytes(16).hex()
        await self.twilio("/twilio/voice", self._call_params(sid, "ringing"), forged=True)


_MIX: list[tuple[str, int]] = [
    ("book", 30),
    ("book_invalid", 9),
    ("create_user", 10),
    ("lookup", 21),
    ("call", 15),
    ("forged_call", 3),
]


async def _client_loop(driver: _Driver, deadline: float, pause: float) -> None:
    actions: list[Callable[[], Any]] = [getattr(driver, name) for name, _ in _MIX]
    weights = [w for _, w in _MIX]
    while time.monotonic() < deadline:
        await driver.rng.choices(actions, weights)[0]()
        await asyncio.sleep(pause * (0.5 + driver.rng.random()))


async def _at(offsets: list[float], start: float, job: Callable[[], Any]) -> None:
    for offset in offsets:
        delay = start + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        await job()


def _spread(count: int, duration: float, first: float, last: float) -> list[float]:
    if count <= 0:
        return []
    if count == 1:
        return [duration * first]
    step = (last - first) / (count - 1)
    return [duration * (first + i * step) for i in range(count)]


def _hold_lock(db_path: Path, seconds: float, held: threading.Event) -> None:
    """What a maintenance job (a backup, a VACUUM) does: hold the write lock a while."""
    try:
        with contextlib.closing(sqlite3.connect(db_path, timeout=5)) as conn:
            conn.execute("BEGIN EXCLUSIVE")
            held.set()
            time.sleep(seconds)
            conn.rollback()
    finally:
        held.set()  # never leave the writers waiting


async def run_traffic(
    base_url: str,
    *,
    twilio_token: str,
    db_path: str | Path | None = None,
    plan: Plan | None = None,
    on_tick: Callable[[float, Tally], None] | None = None,
) -> Tally:
    """Drive the service at ``base_url`` for ``plan.duration`` seconds; return the tally.

    ``db_path`` enables the locked-database failures (the file the service uses);
    ``on_tick(elapsed, tally)`` is called about four times a second (progress bars).
    """
    plan = plan or Plan()
    rng = random.Random(plan.seed)
    start = time.monotonic()
    deadline = start + plan.duration
    limits = httpx.Limits(max_connections=plan.clients + plan.slow + 4)
    async with httpx.AsyncClient(base_url=base_url, timeout=15.0, limits=limits) as client:
        drivers = [
            _Driver(client, base_url, twilio_token, random.Random(rng.random()))
            for _ in range(plan.clients + 1)
        ]
        side = drivers[-1]  # the scheduled jobs' own driver
        await side.create_user()

        async def slow_booking() -> None:
            await side.book(calendar="legacy-exchange")

        async def locked() -> None:
            assert db_path is not None
            held = threading.Event()
            lock = asyncio.create_task(
                asyncio.to_thread(_hold_lock, Path(db_path), plan.lock_seconds, held)
            )
            # Writes once the lock is held (on a loaded machine the thread may take longer
            # than any fixed pause to get it): these fail with "database is locked".
            await asyncio.to_thread(held.wait, 5.0)
            await asyncio.gather(side.book(), side.create_user(), side.lookup())
            await lock

        jobs = [_client_loop(d, deadline, plan.pause) for d in drivers[:-1]]
        jobs.append(_at(_spread(plan.slow, plan.duration, 0.15, 0.7), start, slow_booking))
        if db_path is not None:
            jobs.append(_at(_spread(plan.locks, plan.duration, 0.3, 0.8), start, locked))
        work = asyncio.gather(*jobs)
        while not work.done():
            await asyncio.wait([work], timeout=0.25)
            if on_tick is not None:
                on_tick(min(time.monotonic() - start, plan.duration), _merged(drivers))
        await work
    return _merged(drivers)


def _merged(drivers: list[_Driver]) -> Tally:
    out = Tally()
    for d in drivers:
        out.sent.update(d.tally.sent)
        out.statuses.update(d.tally.statuses)
        out.failed += d.tally.failed
        out.reasons.update(d.tally.reasons)
        out.retried += d.tally.retried
    return out
